"""MobileNetV1 and MobileNetV2 whose depthwise convolutions can be MixConv (the paper's drop-in claim).

MixConv's paper (Tan & Le, BMVC 2019, Section 3 and Figure 4) swaps every 3x3 depthwise convolution of
MobileNetV1 / V2 for a MixConv: ``dw_kernels=[3, 5, 7]`` (MixConv357) splits each depthwise conv's
channels into three groups with 3x3, 5x5 and 7x7 kernels, and ``dw_kernels=[9]`` is the vanilla
large-kernel baseline. ``dw_kernels=[3]`` (the default) is the plain network.

The architectures are data (``ARCHS``) turned into a network by one builder (``MobileNet``):

- V1 (Howard et al. 2017): conv3x3/2 32-BN-ReLU, 13 depthwise-separable blocks (depthwise-BN-ReLU,
  pointwise-BN-ReLU), global average pool, FC 1024 -> classes with bias: 4,231,976 parameters.
- V2 (Sandler et al. 2018): conv3x3/2 32-BN-ReLU6, 17 inverted residuals, conv1x1 1280-BN-ReLU6, pool,
  dropout 0.2, FC: 3,504,872 parameters (torchvision's count).

Cells are named as in MixNet (``stem_conv``, ``layers.{i}.convs``, ``head_conv``, ``classifier``),
each depthwise conv is a ``MixConv2d`` (``mixed_depthwise_conv[.g].weight``), and ``block_args`` /
``feature_info`` describe the blocks, so ``FeatureExtractor`` returns maps at strides 4, 8, 16, 32.
No pretrained weights are published for these models.
"""
import math
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import mindspore.common.initializer as init
from mindspore import Tensor, nn

from ..utils.cli import ConfigError
from ._common import ClassifierNet, ResidualBlock, check_positive_int, make_divisible, set_param
from .features import stage_feature_info
from .layers.batchnorm import BatchNorm2d
from .layers.conv2d import Conv2d
from .layers.drop_path import DropPath
from .layers.mixconv import IMPLS as MIXCONV_IMPLS
from .layers.mixconv import PARTITIONS, MixConv2d
from .layers.pooling import GlobalAvgPooling
from .registry import register_model

__all__ = ["MobileNet", "MobileNetArch", "MobileBlockArgs", "ARCHS", "VARIANTS", "DepthwiseSeparable",
           "InvertedResidual", "build_block_args", "make_divisible", "mobilenet_v1", "mobilenet_v2"]


class MobileNetArch(NamedTuple):
    """One MobileNet family: stem width, block kind, activation, stages (t, c, n, s), head width."""

    stem_chs: int
    block: str  # "separable" (V1) or "inverted_residual" (V2)
    act: str
    stages: Tuple[Tuple[int, int, int, int], ...]  # expansion t, out channels c, repeats n, first stride s
    head_chs: Optional[int]  # final 1x1 conv (V2), None for V1
    drop_rate: float


ARCHS = {
    "v1": MobileNetArch(32, "separable", "relu", (
        (1, 64, 1, 1),
        (1, 128, 2, 2),
        (1, 256, 2, 2),
        (1, 512, 6, 2),
        (1, 1024, 2, 2),
    ), None, 0.0),
    "v2": MobileNetArch(32, "inverted_residual", "relu6", (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ), 1280, 0.2),
}

# Registered names: name -> (arch, depthwise kernels). The paper's Figure 4 compares vanilla depthwise
# kernels 3..k with MixConv {3, 5, ..., k}; Table 3 explores partition and dilation of MixConv357/3579.
VARIANTS = {
    "mobilenet_v1": ("v1", (3,)),
    "mobilenet_v1_dw5": ("v1", (5,)),
    "mobilenet_v1_dw7": ("v1", (7,)),
    "mobilenet_v1_dw9": ("v1", (9,)),
    "mobilenet_v1_mixconv35": ("v1", (3, 5)),
    "mobilenet_v1_mixconv357": ("v1", (3, 5, 7)),
    "mobilenet_v1_mixconv3579": ("v1", (3, 5, 7, 9)),
    "mobilenet_v2": ("v2", (3,)),
    "mobilenet_v2_dw5": ("v2", (5,)),
    "mobilenet_v2_dw7": ("v2", (7,)),
    "mobilenet_v2_dw9": ("v2", (9,)),
    "mobilenet_v2_mixconv35": ("v2", (3, 5)),
    "mobilenet_v2_mixconv357": ("v2", (3, 5, 7)),
    "mobilenet_v2_mixconv3579": ("v2", (3, 5, 7, 9)),
}

# No published weights: the entries describe the heads for the pretrained machinery (empty url).
default_cfgs = {
    name: {"name": name, "url": "", "num_classes": 1000, "first_conv": "stem_conv.0", "classifier": "classifier",
           "dw_kernels": list(kernels)}
    for name, (_, kernels) in VARIANTS.items()
}

_ACTS = {"relu": nn.ReLU, "relu6": nn.ReLU6}


class MobileBlockArgs(NamedTuple):
    """One block: input / output channels, stride of its depthwise conv, expansion ratio."""

    in_chs: int
    out_chs: int
    stride: int
    expand_ratio: int


def build_block_args(arch: MobileNetArch, width_multiplier: float = 1.0) -> Tuple[int, List[MobileBlockArgs]]:
    """Stem channels and the per-block table of ``arch`` at ``width_multiplier``."""
    in_chs = make_divisible(arch.stem_chs * width_multiplier)
    stem_chs, blocks = in_chs, []
    for expand, chs, repeats, stride in arch.stages:
        out_chs = make_divisible(chs * width_multiplier)
        for i in range(repeats):
            blocks.append(MobileBlockArgs(in_chs, out_chs, stride if i == 0 else 1, expand))
            in_chs = out_chs
    return stem_chs, blocks


def _conv_bn(in_chs: int, out_chs: int, kernel: int, stride: int, act: Optional[str]) -> List[nn.Cell]:
    """A bias-free conv with k//2 padding, BatchNorm and an optional activation."""
    cells = [Conv2d(in_chs, out_chs, kernel, stride=stride, pad_mode="pad", padding=kernel // 2, has_bias=False),
             BatchNorm2d(out_chs)]
    return cells + [_ACTS[act]()] if act else cells


class DepthwiseOptions(NamedTuple):
    """How every depthwise conv is built: MixConv kernels, channel partition, dilation."""

    kernels: Tuple[int, ...] = (3,)
    partition: str = "equal"
    dilation: Union[int, Tuple[int, ...]] = 1
    dilated: bool = False
    impl: str = "auto"

    def conv(self, channels: int, stride: int) -> MixConv2d:
        """A (mixed) depthwise conv over ``channels``."""
        return MixConv2d(channels, list(self.kernels), stride=stride, dilation=self.dilation, dilated=self.dilated,
                         partition=self.partition, impl=self.impl)


class DepthwiseSeparable(nn.Cell):
    """MobileNetV1 block: depthwise (MixConv), BN, act -> pointwise 1x1, BN, act."""

    def __init__(self, args: MobileBlockArgs, dw: DepthwiseOptions, act: str = "relu") -> None:
        super().__init__()
        self.convs = nn.SequentialCell(
            [dw.conv(args.in_chs, args.stride), BatchNorm2d(args.in_chs), _ACTS[act]()]
            + _conv_bn(args.in_chs, args.out_chs, 1, 1, act))

    def construct(self, x: Tensor) -> Tensor:
        return self.convs(x)


class InvertedResidual(ResidualBlock):
    """MobileNetV2 block: [expand 1x1, BN, act] -> depthwise (MixConv), BN, act -> project 1x1, BN (+ input)."""

    def __init__(self, args: MobileBlockArgs, dw: DepthwiseOptions, act: str = "relu6",
                 drop_path: float = 0.0) -> None:
        super().__init__()
        mid = args.in_chs * args.expand_ratio
        self.residual = args.stride == 1 and args.in_chs == args.out_chs
        cells = _conv_bn(args.in_chs, mid, 1, 1, act) if args.expand_ratio != 1 else []
        cells += [dw.conv(mid, args.stride), BatchNorm2d(mid), _ACTS[act]()]
        cells += _conv_bn(mid, args.out_chs, 1, 1, None)
        self.convs = nn.SequentialCell(cells)
        self.drop_path = DropPath(drop_path) if (self.residual and drop_path > 0) else None


def _check_number(name: str, value: Any, low: float, high: float, high_open: bool = True) -> None:
    """``value`` is a real number in [low, high) (or [low, high]); else a ValueError naming it."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and low <= value and (value < high if high_open else value <= high)
    if not ok:
        raise ValueError(f"{name} must be a number in [{low}, {high}{')' if high_open else ']'}, got {value!r}")


def _check_kernels(dw_kernels: Union[int, Sequence[int]]) -> Tuple[int, ...]:
    """Depthwise kernels as a non-empty tuple of odd ints >= 3 (an int means one group)."""
    kernels: Tuple = ()
    if isinstance(dw_kernels, int):
        kernels = (dw_kernels,)
    elif isinstance(dw_kernels, (list, tuple)):
        kernels = tuple(dw_kernels)
    if not kernels or any(not isinstance(k, int) or isinstance(k, bool) or k < 3 or k % 2 == 0 for k in kernels):
        raise ValueError(f"dw_kernels must be an odd kernel size >= 3 or a non-empty list of them "
                         f"(e.g. [3], [3, 5, 7], [9]), got {dw_kernels!r}")
    return kernels


def _depthwise_options(dw_kernels: Union[int, Sequence[int]], partition: str, dilation: Union[int, Sequence[int]],
                       dilated: bool, impl: str = "auto") -> DepthwiseOptions:
    """Checked depthwise options (kernels, partition, dilation) with the argument names in the errors."""
    kernels = _check_kernels(dw_kernels)
    if partition not in PARTITIONS:
        raise ValueError(f"partition={partition!r} is not known; use one of {PARTITIONS}")
    dilations: Tuple = ()
    if isinstance(dilation, int) and not isinstance(dilation, bool):
        dilations = (dilation,) * len(kernels)
    elif isinstance(dilation, (list, tuple)):
        dilations = tuple(dilation)
    if len(dilations) != len(kernels) or any(not isinstance(d, int) or isinstance(d, bool) or d < 1
                                              for d in dilations):
        raise ValueError(f"dilation must be an int >= 1 or one int >= 1 per kernel of dw_kernels={list(kernels)}, "
                         f"got {dilation!r}")
    if not isinstance(dilated, bool):
        raise ValueError(f"dilated must be True or False, got {dilated!r}")
    if impl not in MIXCONV_IMPLS:
        raise ValueError(f"mixconv_impl={impl!r} is not known; use one of {MIXCONV_IMPLS}")
    return DepthwiseOptions(kernels, partition, dilations, dilated, impl)


class MobileNet(ClassifierNet):
    """MobileNetV1 / V2 from ``ARCHS``, every depthwise conv a MixConv.

    Args:
        arch: ``v1`` or ``v2``.
        num_classes: classifier outputs. in_channels: input image channels.
        width_multiplier: scales every channel count (multiples of 8); V2 keeps its 1280-channel head
            for multipliers below 1 and scales it above.
        dw_kernels: kernels of every depthwise conv: [3] vanilla, [k] vanilla k x k, [3, 5, 7] MixConv357.
        partition: MixConv channel partition, ``equal`` (remainder to the first group) or ``exponential``.
        dilation: dilation of every depthwise conv (an int, or one per kernel).
        dilated: the paper's dilated MixConv: a k x k group becomes 3x3 with dilation (k - 1) / 2.
        drop_rate: dropout before the classifier (default: 0.0 for V1, 0.2 for V2).
        drop_path_rate: stochastic depth of the last residual block (V2 only; linear from 0 over the blocks).
        mixconv_impl: how the depthwise (MixConv) layers run: ``auto`` (the fastest correct one for the
            device), ``split``, ``fused`` or ``native`` (see ``MixConv2d``); parameters are the same.
    """

    def __init__(
        self,
        arch: str = "v2",
        num_classes: int = 1000,
        in_channels: int = 3,
        width_multiplier: float = 1.0,
        dw_kernels: Union[int, Sequence[int]] = (3,),
        partition: str = "equal",
        dilation: Union[int, Sequence[int]] = 1,
        dilated: bool = False,
        drop_rate: Optional[float] = None,
        drop_path_rate: float = 0.0,
        mixconv_impl: str = "auto",
    ) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"arch={arch!r} is not known; use one of {sorted(ARCHS)}")
        spec = ARCHS[arch]
        check_positive_int("num_classes", num_classes)
        check_positive_int("in_channels", in_channels)
        if not isinstance(width_multiplier, (int, float)) or isinstance(width_multiplier, bool) or \
                width_multiplier <= 0:
            raise ValueError(f"width_multiplier must be a number > 0, got {width_multiplier!r}")
        drop_rate = spec.drop_rate if drop_rate is None else drop_rate
        _check_number("drop_rate", drop_rate, 0.0, 1.0)
        _check_number("drop_path_rate", drop_path_rate, 0.0, 1.0)
        if drop_path_rate > 0 and spec.block != "inverted_residual":
            raise ValueError(f"drop_path_rate={drop_path_rate}: MobileNet{arch.upper()} has no residual "
                             "connections to drop; use 0.0")
        dw = _depthwise_options(dw_kernels, partition, dilation, dilated, mixconv_impl)
        stem_chs, self.block_args = build_block_args(spec, width_multiplier)
        self.arch = arch
        self.dw_options = dw
        self.stem_conv = nn.SequentialCell(_conv_bn(in_channels, stem_chs, 3, 2, spec.act))
        self.layers = nn.SequentialCell([
            self._block(spec, args, dw, drop_path_rate * i / max(len(self.block_args) - 1, 1))
            for i, args in enumerate(self.block_args)])
        last_chs = self.block_args[-1].out_chs
        if spec.head_chs:
            self.num_features = make_divisible(spec.head_chs * max(1.0, width_multiplier))
            self.head_conv = nn.SequentialCell(_conv_bn(last_chs, self.num_features, 1, 1, spec.act))
        else:
            self.num_features = last_chs
            self.head_conv = nn.Identity()
        self.pool = GlobalAvgPooling()
        self.dropout = nn.Dropout(p=drop_rate) if drop_rate > 0 else nn.Identity()
        self.classifier = nn.Dense(self.num_features, num_classes)
        self._initialize_weights()

    @staticmethod
    def _block(spec: MobileNetArch, args: MobileBlockArgs, dw: DepthwiseOptions, drop_path: float) -> nn.Cell:
        """The block of the family for one row of the table."""
        if spec.block == "separable":
            return DepthwiseSeparable(args, dw, spec.act)
        return InvertedResidual(args, dw, spec.act, drop_path)

    @property
    def feature_info(self) -> List[Dict[str, Any]]:
        """The last block at strides 4, 8, 16, 32: ``index`` in ``layers``, ``reduction``, ``num_chs``, ``name``."""
        return stage_feature_info([b.stride for b in self.block_args], [b.out_chs for b in self.block_args])

    def _initialize_weights(self) -> None:
        """He-normal convs over fan-out, BN to identity, N(0, 0.01) classifier with zero bias (torchvision)."""
        for _, cell in self.cells_and_names():
            if isinstance(cell, nn.Conv2d):
                fan_out = cell.kernel_size[0] * cell.kernel_size[1] * cell.out_channels
                set_param(cell.weight, init.Normal(math.sqrt(2.0 / fan_out)))
            elif isinstance(cell, nn.BatchNorm2d):
                set_param(cell.gamma, "ones")
                set_param(cell.beta, "zeros")
            elif isinstance(cell, nn.Dense):
                set_param(cell.weight, init.Normal(0.01))
                set_param(cell.bias, "zeros")




def _build(name: str, pretrained: bool, num_classes: int, in_channels: int, **kwargs: Any) -> MobileNet:
    """A registered variant; the caller's keyword arguments override its kernels."""
    if pretrained:
        raise ConfigError(f"pretrained=True: no weights are published for {name}. Train it (e.g. "
                          f"configs/mobilenet/mobilenet_v2_mixconv357_demo.yaml) or pass checkpoint_path")
    arch, kernels = VARIANTS[name]
    kwargs.setdefault("dw_kernels", kernels)
    return MobileNet(arch=arch, num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model
def mobilenet_v1(pretrained: bool = False, num_classes: int = 1000, in_channels: int = 3, **kwargs) -> MobileNet:
    """MobileNetV1 (4.23M parameters); ``dw_kernels=[3, 5, 7]`` etc. makes its depthwise convs MixConv."""
    return _build("mobilenet_v1", pretrained, num_classes, in_channels, **kwargs)


@register_model
def mobilenet_v2(pretrained: bool = False, num_classes: int = 1000, in_channels: int = 3, **kwargs) -> MobileNet:
    """MobileNetV2 (3.50M parameters); ``dw_kernels=[3, 5, 7]`` etc. makes its depthwise convs MixConv."""
    return _build("mobilenet_v2", pretrained, num_classes, in_channels, **kwargs)


def _register_variant(name: str) -> None:
    """Register the named variant ``name`` of ``VARIANTS`` as a module-level constructor."""
    arch, kernels = VARIANTS[name]
    kind = "vanilla {0}x{0} depthwise".format(kernels[0]) if len(kernels) == 1 else \
        "MixConv" + "".join(map(str, kernels))
    doc = f"MobileNet{arch.upper()} with {kind} convolutions in place of the 3x3 depthwise ones."

    def constructor(pretrained: bool = False, num_classes: int = 1000, in_channels: int = 3, **kwargs) -> MobileNet:
        return _build(name, pretrained, num_classes, in_channels, **kwargs)

    constructor.__name__ = constructor.__qualname__ = name
    constructor.__doc__ = doc
    globals()[name] = register_model(constructor)
    __all__.append(name)


for _name in VARIANTS:
    if _name not in ("mobilenet_v1", "mobilenet_v2"):
        _register_variant(_name)
