"""Squeeze-and-excitation with MindCV's parameter names (``conv_reduce``, ``conv_expand``)."""
from mindspore import Tensor, nn, ops

from .activation import create_act
from .pooling import GlobalAvgPooling


class SqueezeExcite(nn.Cell):
    """x * sigmoid(expand(act(reduce(mean(x))))), the reduce/expand being 1x1 convs with bias.

    ``act`` is ReLU in MindCV's MixNet and the block's activation (swish) in TF's and timm's;
    ``pool_impl`` is the ``GlobalAvgPooling`` form (``auto``: the fastest for the device).
    """

    def __init__(self, in_channels: int, rd_channels: int, act: str = "relu", pool_impl: str = "auto") -> None:
        super().__init__()
        if rd_channels < 1:
            raise ValueError(f"squeeze-excite needs rd_channels >= 1, got {rd_channels} for {in_channels} channels")
        self.pool = GlobalAvgPooling(keep_dims=True, impl=pool_impl)
        self.conv_reduce = nn.Conv2d(in_channels, rd_channels, 1, has_bias=True)
        self.act = create_act(act)
        self.conv_expand = nn.Conv2d(rd_channels, in_channels, 1, has_bias=True)

    def construct(self, x: Tensor) -> Tensor:
        x_se = self.conv_expand(self.act(self.conv_reduce(self.pool(x))))
        return x * ops.sigmoid(x_se)
