"""Convolutions that never reach oneDNN's scalar reference kernel on CPU.

MindSpore 2.10 hands its bundled oneDNN plain NCHW tensors. On CPUs with AVX-512, oneDNN then runs every
convolution except the dense 1 x 1 ones (which become a GEMM) through ``jit_uni_ncsp:conv+ref:any``, a
scalar reference kernel: the 3 x 3 stem and the two-group 1 x 1 convolutions of MixNet took 27 of 28 s of
oneDNN time. On AVX2-only CPUs the same convolutions use JIT kernels, so the cliff shows only in timings on
some machines; ``conv_kind`` tells which form a layer runs, for tests that assert the structure.

``ConvKernel(x, weight)`` is a stateless convolution that picks, once at construction, on CPU:

- ``matmul``: a 1 x 1 stride-1 convolution with ``group > 1`` as one batched matrix product, the weight
  (g, C_out / g, C_in / g) against the input viewed as (N, g, C_in / g, H x W), no copies of the
  activations; on small maps, where broadcasting the weight over the batch costs more than moving the
  activations, x transposed to (g, N x H x W, C_in / g) against the transposed weight instead;
- ``native``: a k x k (k > 1) dense or grouped convolution as the native CPU operator
  (``csrc/conv_native.cc``: forward, backward-data and backward-weight), for odd square kernels,
  stride 1 or 2 and k // 2 or SAME padding;
- ``conv2d``: MindSpore's Conv2D otherwise (a dense 1 x 1 convolution, another device, or a geometry
  the native operator does not take).

``Conv2d`` is ``nn.Conv2d`` (same arguments, parameters and initialisation, so checkpoints and weight
initialisers are unchanged) running its convolution through ``ConvKernel``.
"""
import functools
from typing import Optional, Tuple

import numpy as np

import mindspore as ms
from mindspore import Tensor, nn, ops
from mindspore import dtype as mstype

from . import native

CONV_KINDS = ("conv2d", "matmul", "native")


@functools.lru_cache(maxsize=None)
def native_conv_ops(stride: int) -> Tuple[ops.Custom, ops.Custom, ops.Custom]:
    """(forward, backward-data, backward-weight) custom ops of the native k x k convolution of one stride."""
    return native.strided_conv_ops("conv", stride, channels_from_weight=True)


def _on_cpu() -> bool:
    return str(ms.get_context("device_target")).upper() == "CPU"


def native_blocker(kernel: int, stride: int, dilation: int, pad_mode: str, padding: int) -> Optional[str]:
    """Why the native operator cannot run this k x k convolution, or None when it can."""
    if kernel % 2 == 0:
        return f"kernel {kernel} is even"
    if stride not in (1, 2):
        return f"stride {stride}"
    if pad_mode == "pad" and padding != dilation * (kernel - 1) // 2:
        return f"padding {padding} is not {dilation * (kernel - 1) // 2} (k // 2 x dilation)"
    if pad_mode not in ("pad", "same"):
        return f"pad_mode {pad_mode!r}"
    return native.unavailable_reason() or None


def conv_kind(kernel: int, stride: int, dilation: int, pad_mode: str, padding: int, group: int,
              device_cpu: Optional[bool] = None) -> str:
    """The form (``CONV_KINDS``) a convolution of this geometry runs on this device."""
    if not (_on_cpu() if device_cpu is None else device_cpu):
        return "conv2d"
    if kernel == 1:  # strided: MindSpore 2.10's StridedSliceGrad fails on small maps, and no model needs it
        return "matmul" if group > 1 and stride == 1 and padding == 0 else "conv2d"
    return "native" if native_blocker(kernel, stride, dilation, pad_mode, padding) is None else "conv2d"


class ConvKernel(nn.Cell):
    """A convolution without parameters: ``construct(x, weight)``, weight (C_out, C_in / group, k, k).

    Args: output channels, square kernel size, stride, dilation, ``pad_mode`` (``pad``, ``same``,
    ``valid``) with ``padding`` (an int, for ``pad``), and the number of groups. ``self.kind`` is the
    form it runs (see the module's docstring).
    """

    def __init__(self, out_channels: int, kernel: int, stride: int = 1, dilation: int = 1, pad_mode: str = "pad",
                 padding: int = 0, group: int = 1) -> None:
        super().__init__()
        self.kind = conv_kind(kernel, stride, dilation, pad_mode, padding, group)
        self.group = group
        self.kernel_size = kernel
        self.stride = stride
        self.out_channels = out_channels
        if self.kind == "native":
            self.op = native_conv_ops(stride)[0]
            config = [stride, dilation, int(pad_mode == "same"), group]
            self.config = Tensor(np.array(config, np.int32), mstype.int32)
        elif self.kind == "conv2d":
            pad = {"pad_mode": pad_mode, "pad": padding} if pad_mode == "pad" else {"pad_mode": pad_mode}
            self.op = ops.Conv2D(out_channel=out_channels, kernel_size=kernel, stride=stride, dilation=dilation,
                                 group=group, **pad)

    def construct(self, x: Tensor, weight: Tensor) -> Tensor:
        if self.kind == "matmul":
            n, c, h, w = x.shape
            g = self.group
            cin, cout = c // g, self.out_channels // g
            if h * w * (cin + cout) < cin * cout:
                # small maps (late stages): the weight broadcast over the batch would cost more than
                # transposing x and the output, so multiply (g, N*H*W, C_in/g) by (g, C_in/g, C_out/g)
                rows = x.reshape(n, g, cin, h * w).transpose(1, 0, 3, 2).reshape(g, n * h * w, cin)
                out = ops.bmm(rows, weight.reshape(g, cout, cin).transpose(0, 2, 1))
                return out.reshape(g, n, h * w, cout).transpose(1, 0, 3, 2).reshape(n, g * cout, h, w)
            # the weight broadcast explicitly (BatchMatMul; its gradient is reduced over the batch): the implicitly
            # broadcasting ops.matmul (MatMulExt) transposes the activations in its backward, and MindSpore 2.10's
            # CPU Transpose keeps a size_t index per element (8 bytes per 4-byte float) for the whole run
            kernel = ops.broadcast_to(weight.reshape(1, g, cout, cin), (n, g, cout, cin))
            out = ops.bmm(kernel, x.reshape(n, g, cin, h * w))
            return out.reshape(n, self.out_channels, h, w)
        if self.kind == "native":
            if x.dtype != mstype.float32:  # the C++ kernels are float32 (e.g. under mixed precision)
                out = self.op(x.astype(mstype.float32), weight.astype(mstype.float32), self.config)
                return out.astype(x.dtype)
            return self.op(x, weight, self.config)
        return self.op(x, weight)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` whose convolution runs through ``ConvKernel`` (a fast form on CPU); NCHW only.

    Same arguments, parameter names (``weight``, ``bias``) and initialisation as ``nn.Conv2d``;
    ``fast=False`` keeps nn.Conv2d's own path (e.g. for MindCV's exact graph).
    """

    def __init__(self, *args, fast: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not fast or self.data_format != "NCHW" or self.kernel_size[0] != self.kernel_size[1] \
                or len(set(self.stride)) != 1 or len(set(self.dilation)) != 1 or not isinstance(self.padding, int):
            self.kernel = None
            return
        self.kernel = ConvKernel(self.out_channels, self.kernel_size[0], self.stride[0], self.dilation[0],
                                 self.pad_mode, self.padding, self.group)
        if self.kernel.kind == "conv2d":
            self.kernel = None  # nn.Conv2d's own path

    @property
    def kind(self) -> str:
        """The form this convolution runs (``CONV_KINDS``)."""
        return "conv2d" if self.kernel is None else self.kernel.kind

    def construct(self, x: Tensor) -> Tensor:
        if self.kernel is None:
            return super().construct(x)
        out = self.kernel(x, self.weight)
        if self.has_bias:
            out = ops.bias_add(out, self.bias)
        return out
