"""Squeeze-and-excitation with MindCV's parameter names (``conv_reduce``, ``conv_expand``)."""
import functools

from mindspore import Tensor, nn, ops
from mindspore import dtype as mstype

from . import native
from .activation import create_act
from .pooling import GlobalAvgPooling


@functools.lru_cache(maxsize=None)
def gate_ops() -> tuple:
    """(forward, backward-gate) native operators of ``x * g``, g of shape (N, C, 1, 1): ``channel_scale``
    (also the backward to x: dy * g) and ``channel_dot`` (the gate's gradient, sum over H, W of x * dy)."""
    scale_grad = native.op("channel_scale", lambda x, g: tuple(x))
    dot = native.op("channel_dot", lambda x, dy: (x[0], x[1]) + (1,) * (len(x) - 2))

    def bprop(x, g, out, dout):
        return scale_grad(dout, g), dot(x, dout)

    return native.op("channel_scale", lambda x, g: tuple(x), bprop), dot


class SqueezeExcite(nn.Cell):
    """x * sigmoid(expand(act(reduce(mean(x))))), the reduce/expand being 1x1 convs with bias.

    ``act`` is ReLU in MindCV's MixNet and the block's activation (swish) in TF's and timm's;
    ``pool_impl`` is the ``GlobalAvgPooling`` form (``auto``: the fastest for the device).

    On CPU (float32, ``fast``) the gate multiplies x through a native operator (``csrc/elementwise_native.cc``,
    ``self.native`` says whether): MindSpore 2.10's CPU Mul, broadcasting the (N, C, 1, 1) gate over H x W,
    keeps two size_t indices per element of x for the whole run, 4x the activation itself, forward and
    backward. ``fast=False`` keeps MindSpore's Mul (MindCV's exact graph).
    """

    def __init__(self, in_channels: int, rd_channels: int, act: str = "relu", pool_impl: str = "auto",
                 fast: bool = True) -> None:
        super().__init__()
        if rd_channels < 1:
            raise ValueError(f"squeeze-excite needs rd_channels >= 1, got {rd_channels} for {in_channels} channels")
        self.pool = GlobalAvgPooling(keep_dims=True, impl=pool_impl)
        self.conv_reduce = nn.Conv2d(in_channels, rd_channels, 1, has_bias=True)
        self.act = create_act(act)
        self.conv_expand = nn.Conv2d(rd_channels, in_channels, 1, has_bias=True)
        self.native = fast and native.use_native()
        self.gate_op = gate_ops()[0] if self.native else None

    def construct(self, x: Tensor) -> Tensor:
        gate = ops.sigmoid(self.conv_expand(self.act(self.conv_reduce(self.pool(x)))))
        if self.native and x.dtype == mstype.float32 and gate.dtype == mstype.float32:
            return self.gate_op(x, gate)
        return x * gate
