"""MixNet-S/M/L (Tan & Le, "MixConv: Mixed Depthwise Convolutional Kernels", BMVC 2019).

The architecture is data (``ARCH_TABLES``) turned into a network by one builder (``MixNet``).
Parameter names and shapes are MindCV's, so MindCV's published checkpoints load unchanged:
``stem_conv.{0,1}``, ``layers.{i}.convs.{j}`` (``grouped_conv[.g]``, ``mixed_depthwise_conv[.g]``,
``conv_reduce`` / ``conv_expand`` of squeeze-excite, BatchNorm ``gamma`` / ``beta`` /
``moving_mean`` / ``moving_variance``), ``head_conv.{0,1}`` and ``classifier``.

MindCV's structure (the default) differs from the paper's TF reference in details its checkpoints
depend on: ReLU inside squeeze-excite, BN momentum 0.9 / eps 1e-5, symmetric k//2 padding. The
reference details are options (``se_act``, ``padding``, ``bn_eps``, ``bn_momentum``).
"""
import math
from typing import List, NamedTuple, Optional, Sequence

import mindspore.common.initializer as init
from mindspore import Tensor, nn

from .layers.activation import create_act
from .layers.drop_path import DropPath
from .layers.mixconv import GroupedConv2d, MixConv2d, create_conv2d_pad
from .layers.pooling import GlobalAvgPooling
from .layers.squeeze_excite import SqueezeExcite
from .registry import register_model

__all__ = ["MixNet", "MixNetBlock", "BlockArgs", "ARCH_TABLES", "mixnet_s", "mixnet_m", "mixnet_l"]

_MINDCV_HOST = "https://download.mindspore.cn/toolkits/mindcv/mixnet"


def _weights(file: str, top1: float, top5: float, hardware: str, recipe: str, **extra) -> dict:
    """Metadata of one published checkpoint (read by create_model(pretrained=True) and the README)."""
    return {
        "name": file.split("-")[0],
        "url": f"{_MINDCV_HOST}/{file}",
        "num_classes": 1000,
        "first_conv": "stem_conv.0",
        "classifier": "classifier",
        "top1": top1,
        "top5": top5,
        "hardware": hardware,
        "recipe": recipe,
        "source": "MindCV",
        **extra,
    }


default_cfgs = {
    "mixnet_s": _weights("mixnet_s-2a5ef3a3.ckpt", 75.52, 92.52, "8x Ascend 910", "configs/mixnet/mixnet_s_ascend.yaml"),
    "mixnet_m": _weights("mixnet_m-74cc4cb1.ckpt", 76.64, 93.05, "8x Ascend 910", "configs/mixnet/mixnet_m_ascend.yaml"),
    "mixnet_l": _weights("mixnet_l-978edf2b.ckpt", 78.73, 94.31, "8x Ascend 910", "configs/mixnet/mixnet_l_ascend.yaml"),
}

# Other published weights of the same architectures: load_pretrained(model, extra_weights[key]).
extra_weights = {
    "mixnet_s-910v2": _weights("mixnet_s-fe4fcc63-910v2.ckpt", 75.58, 95.54, "8x Ascend 910*",
                               "configs/mixnet/mixnet_s_ascend.yaml"),
}


class BlockArgs(NamedTuple):
    """One MixNet block: channels, depthwise kernels (one per group), 1x1 groups, stride, expansion,
    activation and squeeze-excite ratio (of the block's input channels)."""

    in_chs: int
    out_chs: int
    dw_kernels: Sequence[int]
    expand_groups: int
    project_groups: int
    stride: int
    expand_ratio: int
    act: str
    se_ratio: float


def _table(rows: List[tuple]) -> List[BlockArgs]:
    return [BlockArgs(*row) for row in rows]


# The paper's Figure 5/6 architectures (identical in the TF reference, timm and MindCV).
#        in   out  dw kernels        exp proj s  e  act      se
ARCH_TABLES = {
    "small": (16, _table([
        (16, 16, (3,), 1, 1, 1, 1, "relu", 0.0),
        (16, 24, (3,), 2, 2, 2, 6, "relu", 0.0),
        (24, 24, (3,), 2, 2, 1, 3, "relu", 0.0),
        (24, 40, (3, 5, 7), 1, 1, 2, 6, "swish", 0.5),
        (40, 40, (3, 5), 2, 2, 1, 6, "swish", 0.5),
        (40, 40, (3, 5), 2, 2, 1, 6, "swish", 0.5),
        (40, 40, (3, 5), 2, 2, 1, 6, "swish", 0.5),
        (40, 80, (3, 5, 7), 1, 2, 2, 6, "swish", 0.25),
        (80, 80, (3, 5), 1, 2, 1, 6, "swish", 0.25),
        (80, 80, (3, 5), 1, 2, 1, 6, "swish", 0.25),
        (80, 120, (3, 5, 7), 2, 2, 1, 6, "swish", 0.5),
        (120, 120, (3, 5, 7, 9), 2, 2, 1, 3, "swish", 0.5),
        (120, 120, (3, 5, 7, 9), 2, 2, 1, 3, "swish", 0.5),
        (120, 200, (3, 5, 7, 9, 11), 1, 1, 2, 6, "swish", 0.5),
        (200, 200, (3, 5, 7, 9), 1, 2, 1, 6, "swish", 0.5),
        (200, 200, (3, 5, 7, 9), 1, 2, 1, 6, "swish", 0.5),
    ])),
    "medium": (24, _table([
        (24, 24, (3,), 1, 1, 1, 1, "relu", 0.0),
        (24, 32, (3, 5, 7), 2, 2, 2, 6, "relu", 0.0),
        (32, 32, (3,), 2, 2, 1, 3, "relu", 0.0),
        (32, 40, (3, 5, 7, 9), 1, 1, 2, 6, "swish", 0.5),
        (40, 40, (3, 5), 2, 2, 1, 6, "swish", 0.5),
        (40, 40, (3, 5), 2, 2, 1, 6, "swish", 0.5),
        (40, 40, (3, 5), 2, 2, 1, 6, "swish", 0.5),
        (40, 80, (3, 5, 7), 1, 1, 2, 6, "swish", 0.25),
        (80, 80, (3, 5, 7, 9), 2, 2, 1, 6, "swish", 0.25),
        (80, 80, (3, 5, 7, 9), 2, 2, 1, 6, "swish", 0.25),
        (80, 80, (3, 5, 7, 9), 2, 2, 1, 6, "swish", 0.25),
        (80, 120, (3,), 1, 1, 1, 6, "swish", 0.5),
        (120, 120, (3, 5, 7, 9), 2, 2, 1, 3, "swish", 0.5),
        (120, 120, (3, 5, 7, 9), 2, 2, 1, 3, "swish", 0.5),
        (120, 120, (3, 5, 7, 9), 2, 2, 1, 3, "swish", 0.5),
        (120, 200, (3, 5, 7, 9), 1, 1, 2, 6, "swish", 0.5),
        (200, 200, (3, 5, 7, 9), 1, 2, 1, 6, "swish", 0.5),
        (200, 200, (3, 5, 7, 9), 1, 2, 1, 6, "swish", 0.5),
        (200, 200, (3, 5, 7, 9), 1, 2, 1, 6, "swish", 0.5),
    ])),
}


def round_channels(channels: float, divisor: int = 8, min_value: Optional[int] = None) -> int:
    """Channels scaled by a width multiplier, rounded to a multiple of ``divisor`` (never below 90 %)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(channels + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * channels:
        rounded += divisor
    return rounded


def _bn(channels: int, eps: float, momentum: float) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=eps, momentum=momentum)


class MixNetBlock(nn.Cell):
    """Inverted residual with MixConv: [expand 1x1, BN, act] -> MixConv, BN, act -> [SE] -> project 1x1, BN."""

    def __init__(
        self,
        args: BlockArgs,
        se_act: str = "relu",
        padding: str = "symmetric",
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.9,
        drop_path: float = 0.0,
        mixconv_impl: str = "split",
    ) -> None:
        super().__init__()
        if mixconv_impl != "split":
            raise ValueError(f"mixconv_impl={mixconv_impl!r} is not available; use 'split'")
        mid = args.in_chs * args.expand_ratio
        self.residual = args.stride == 1 and args.in_chs == args.out_chs
        cells = []
        if args.expand_ratio != 1:
            cells += [GroupedConv2d(args.in_chs, mid, [1] * args.expand_groups, padding=padding),
                      _bn(mid, bn_eps, bn_momentum), create_act(args.act)]
        cells += [MixConv2d(mid, list(args.dw_kernels), stride=args.stride, padding=padding),
                  _bn(mid, bn_eps, bn_momentum), create_act(args.act)]
        if args.se_ratio > 0:
            cells.append(SqueezeExcite(mid, int(args.in_chs * args.se_ratio), act=se_act))
        cells += [GroupedConv2d(mid, args.out_chs, [1] * args.project_groups, padding=padding),
                  _bn(args.out_chs, bn_eps, bn_momentum)]
        self.convs = nn.SequentialCell(cells)
        self.drop_path = DropPath(drop_path) if (self.residual and drop_path > 0) else None

    def construct(self, x: Tensor) -> Tensor:
        out = self.convs(x)
        if self.residual:
            if self.drop_path is not None:
                out = self.drop_path(out)
            out = x + out
        return out


class MixNet(nn.Cell):
    """MixNet built from an architecture table.

    Args:
        arch: ``small`` (MixNet-S) or ``medium`` (MixNet-M; MixNet-L is medium at width 1.3).
        num_classes: classifier outputs. in_channels: input image channels.
        feature_size: channels of the final 1x1 conv (1536).
        drop_rate: dropout before the classifier. drop_path_rate: stochastic depth of the last block
            (linearly increasing from 0 over the blocks).
        width_multiplier: scales every channel count (rounded to multiples of 8).
        se_act: activation inside squeeze-excite, ``relu`` (MindCV) or ``swish`` (TF, timm).
        padding: ``symmetric`` (MindCV) or ``same`` (TF's SAME padding).
        bn_eps, bn_momentum: BatchNorm settings (MindSpore momentum convention: weight of the old value).
    """

    def __init__(
        self,
        arch: str = "small",
        num_classes: int = 1000,
        in_channels: int = 3,
        feature_size: int = 1536,
        drop_rate: float = 0.2,
        drop_path_rate: float = 0.0,
        width_multiplier: float = 1.0,
        se_act: str = "relu",
        padding: str = "symmetric",
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.9,
        mixconv_impl: str = "split",
    ) -> None:
        super().__init__()
        if arch not in ARCH_TABLES:
            raise ValueError(f"arch={arch!r} is not known; use one of {sorted(ARCH_TABLES)}")
        _check_positive_int("num_classes", num_classes)
        _check_positive_int("in_channels", in_channels)
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate}")
        if width_multiplier <= 0:
            raise ValueError(f"width_multiplier must be > 0, got {width_multiplier}")
        stem_chs, table = ARCH_TABLES[arch]
        if width_multiplier != 1.0:
            stem_chs = round_channels(stem_chs * width_multiplier)
            table = [b._replace(in_chs=round_channels(b.in_chs * width_multiplier),
                                out_chs=round_channels(b.out_chs * width_multiplier)) for b in table]
        self.block_args = table
        self.num_features = feature_size

        self.stem_conv = nn.SequentialCell([
            nn.Conv2d(in_channels, stem_chs, 3, stride=2, has_bias=False, **create_conv2d_pad(3, padding)),
            _bn(stem_chs, bn_eps, bn_momentum),
            nn.ReLU(),
        ])
        num_blocks = len(table)
        self.layers = nn.SequentialCell([
            MixNetBlock(b, se_act=se_act, padding=padding, bn_eps=bn_eps, bn_momentum=bn_momentum,
                        drop_path=drop_path_rate * i / max(num_blocks - 1, 1), mixconv_impl=mixconv_impl)
            for i, b in enumerate(table)
        ])
        self.head_conv = nn.SequentialCell([
            nn.Conv2d(table[-1].out_chs, feature_size, 1, has_bias=False, **create_conv2d_pad(1, padding)),
            _bn(feature_size, bn_eps, bn_momentum),
            nn.ReLU(),
        ])
        self.pool = GlobalAvgPooling()
        self.dropout = nn.Dropout(p=drop_rate) if drop_rate > 0 else nn.Identity()
        self.classifier = nn.Dense(feature_size, num_classes)
        self._initialize_weights()

    def _initialize_weights(self) -> None:
        """He-normal convs over fan-out, BN to identity, uniform(1/sqrt(out)) classifier (as MindCV)."""
        for _, cell in self.cells_and_names():
            if isinstance(cell, nn.Conv2d):
                fan_out = cell.kernel_size[0] * cell.kernel_size[1] * cell.out_channels
                _set(cell.weight, init.Normal(math.sqrt(2.0 / fan_out)))
                if cell.bias is not None:
                    _set(cell.bias, "zeros")
            elif isinstance(cell, nn.BatchNorm2d):
                _set(cell.gamma, "ones")
                _set(cell.beta, "zeros")
            elif isinstance(cell, nn.Dense):
                _set(cell.weight, init.Uniform(1.0 / math.sqrt(cell.weight.shape[0])))
                if cell.bias is not None:
                    _set(cell.bias, "zeros")

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.stem_conv(x)
        x = self.layers(x)
        return self.head_conv(x)

    def forward_head(self, x: Tensor) -> Tensor:
        x = self.pool(x)
        x = self.dropout(x)
        return self.classifier(x)

    def construct(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def _set(param, initializer) -> None:
    param.set_data(init.initializer(initializer, param.shape, param.dtype))


def _check_positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _build(name: str, arch: str, pretrained: bool, num_classes: int, in_channels: int,
           width: float = 1.0, **kwargs) -> MixNet:
    """Construct a registered variant and load its published weights when asked."""
    if "depth_multiplier" in kwargs:  # MindCV's name for the channel (width) multiplier
        kwargs["width_multiplier"] = kwargs.pop("depth_multiplier")
    kwargs["width_multiplier"] = kwargs.get("width_multiplier", 1.0) * width
    model = MixNet(arch=arch, num_classes=num_classes, in_channels=in_channels, **kwargs)
    if pretrained:
        from .pretrained import load_pretrained

        load_pretrained(model, default_cfgs[name], num_classes=num_classes, in_channels=in_channels)
    return model


@register_model
def mixnet_s(pretrained: bool = False, num_classes: int = 1000, in_channels: int = 3, **kwargs) -> MixNet:
    """MixNet-S: 4.1M parameters, 256M multiply-adds (paper), 75.8 % ImageNet top-1 (paper)."""
    return _build("mixnet_s", "small", pretrained, num_classes, in_channels, **kwargs)


@register_model
def mixnet_m(pretrained: bool = False, num_classes: int = 1000, in_channels: int = 3, **kwargs) -> MixNet:
    """MixNet-M: 5.0M parameters, 360M multiply-adds (paper), 77.0 % ImageNet top-1 (paper)."""
    return _build("mixnet_m", "medium", pretrained, num_classes, in_channels, **kwargs)


@register_model
def mixnet_l(pretrained: bool = False, num_classes: int = 1000, in_channels: int = 3, **kwargs) -> MixNet:
    """MixNet-L = MixNet-M at width 1.3: 7.3M parameters, 565M multiply-adds, 78.9 % top-1 (paper)."""
    return _build("mixnet_l", "medium", pretrained, num_classes, in_channels, width=1.3, **kwargs)
