"""BatchNorm2d whose inference mode is one native pass on CPU.

In MindSpore 2.10 on CPU, inference BatchNorm runs oneDNN's plain-layout ``ncsp_bnorm`` kernel, which
took a quarter of MixNet-S's inference time at 224 x 224 on an AVX-512 machine. Inference BatchNorm is a
per-channel affine map, ``x * scale + shift`` with ``scale = gamma / sqrt(moving_variance + eps)`` and
``shift = beta - moving_mean * scale``: the two vectors are computed in the graph from the parameters (C
values), and the map runs as the native ``channel_affine`` operator (one read and one write of x).
Training mode (batch statistics, moving averages) is MindSpore's own BatchNorm, unchanged.
"""
import functools

from mindspore import Tensor, nn, ops
from mindspore import dtype as mstype

from . import native


@functools.lru_cache(maxsize=None)
def channel_affine_op() -> ops.Custom:
    """x * scale[c] + shift[c] over NCHW float32 (backward: MindSpore ops, rarely needed in inference)."""

    def bprop(x, scale, shift, out, dout):
        channels = (1, -1, 1, 1)
        return (dout * scale.reshape(channels), (dout * x).sum(axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3)))

    return native.op("channel_affine", lambda x, scale, shift: tuple(x), bprop)


class BatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` (same arguments, parameters and training behaviour) with a native inference
    mode on CPU for float32 NCHW input; ``self.native`` says whether it is used."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.native = native.use_native() and self.use_batch_statistics is None and self.format == "NCHW"
        self.affine = channel_affine_op() if self.native else None

    def construct(self, x: Tensor) -> Tensor:
        if self.training or not self.native or x.dtype != mstype.float32 or x.ndim != 4:
            return super().construct(x)
        scale = self.gamma * ops.rsqrt(self.moving_variance + self.eps)
        shift = self.beta - self.moving_mean * scale
        return self.affine(x, scale, shift)
