"""The ``native`` MixConv for CPU: one MindSpore AOT custom operator runs every group of a MixConv
(C++ in ``csrc/mixconv_native.cc``), with backward-data and backward-weight as two more custom ops in
its bprop.

The kernel is the fused layer's (C, 1, E, E) kernel (built in the graph from the per-group parameters,
as in ``mixconv_fused``), but each channel only touches its own group's centred k x k window, so the
work is that of the split form, in one call, without slices or concats of the activations.

The library is built explicitly or on first use (``native``): constructing a layer never compiles.
"""
import functools
from typing import Sequence, Tuple

import numpy as np

from mindspore import Tensor, ops
from mindspore import dtype as mstype

from . import native
from .mixconv_fused import FusedDepthwise, fused_geometry

build_library = native.build_library  # re-exported: the native library's build (see native.py)


def native_status() -> str:
    """Build the library now (explicitly) and return '' when it is available, else why it is not."""
    try:
        native.ensure_built()
    except RuntimeError as err:
        return str(err)
    return ""


@functools.lru_cache(maxsize=None)
def native_ops(stride: int) -> Tuple[ops.Custom, ops.Custom, ops.Custom]:
    """(forward, backward-data, backward-weight) custom ops of one stride (their output shapes depend
    only on input shapes and the stride, which their exported symbol names)."""
    if stride not in (1, 2):
        raise ValueError(f"stride={stride!r}: the native MixConv supports stride 1 or 2")

    return native.strided_conv_ops("mixconv", stride, channels_from_weight=False)


def native_config(channel_groups: Sequence[int], kernels: Sequence[int], dilations: Sequence[int], stride: int,
                  padding: str) -> np.ndarray:
    """The operator's int32 config: [stride, dilation, same_padding, E, first tap of each channel's window]."""
    base, factors, size = fused_geometry(kernels, dilations)
    lows = []
    for channels, k, f in zip(channel_groups, kernels, factors):
        lows += [(size - ((k - 1) * f + 1)) // 2] * channels
    return np.array([stride, base, int(padding == "same"), size] + lows, np.int32)


class NativeDepthwise(FusedDepthwise):
    """All groups of a MixConv in one custom CPU operator (float32); no parameters of its own."""

    def __init__(self, channel_groups: Sequence[int], kernels: Sequence[int], dilations: Sequence[int],
                 stride: int, padding: str) -> None:
        super().__init__(sum(channel_groups), kernels, dilations, stride, padding)
        self.op = native_ops(stride)[0]
        self.config = Tensor(native_config(channel_groups, kernels, dilations, stride, padding), mstype.int32)

    def construct(self, x: Tensor, weights: tuple) -> Tensor:
        kernel = self.fused_weight(weights)
        if x.dtype != mstype.float32:  # the C++ kernels are float32 (e.g. under mixed precision)
            return self.op(x.astype(mstype.float32), kernel.astype(mstype.float32), self.config).astype(x.dtype)
        return self.op(x, kernel, self.config)
