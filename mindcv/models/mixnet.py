"""MixNet-S/M/L (Tan & Le, "MixConv: Mixed Depthwise Convolutional Kernels", BMVC 2019).

The architecture is data (``ARCH_TABLES``) turned into a network by one builder (``MixNet``).
Parameter names and shapes are MindCV's, so MindCV's published checkpoints load unchanged:
``stem_conv.{0,1}``, ``layers.{i}.convs.{j}`` (``grouped_conv[.g]``, ``mixed_depthwise_conv[.g]``,
``conv_reduce`` / ``conv_expand`` of squeeze-excite, BatchNorm ``gamma`` / ``beta`` /
``moving_mean`` / ``moving_variance``), ``head_conv.{0,1}`` and ``classifier``.

MindCV's structure (the default) differs from the paper's TF reference in details its checkpoints
depend on: ReLU inside squeeze-excite, BN momentum 0.9 / eps 1e-5, symmetric k//2 padding. The
reference details are options (``se_act``, ``padding``, ``bn_eps``, ``bn_momentum``), and
``repeat_multiplier`` scales the number of blocks per stage as timm does (MixNet-XL).

Registered variants and the weights they take:

- ``mixnet_s/m/l``: MindCV's structure, MindCV's published checkpoints.
- ``timm_mixnet_s/m/l``: swish in squeeze-excite; timm's ``mixnet_s/m/l`` weights (converted).
- ``mixnet_xl``: MixNet-M at width 1.6, repeats x1.2, swish SE; timm's ``mixnet_xl`` weights.
- ``tf_mixnet_s/m/l``: the TF reference: swish SE, TF "SAME" padding, BN eps 1e-3; timm's
  ``tf_mixnet_*`` weights (ported from the paper's TF checkpoints).

Each model carries ``variant_options`` (its structural options), which converted checkpoints record
so that loading them into a model of another structure is an error.
"""
import json
import math
from typing import List, NamedTuple, Optional, Sequence

import mindspore.common.initializer as init
from mindspore import Tensor, nn

from ._common import ClassifierNet, ResidualBlock, check_positive_int, set_param
from ._common import make_divisible as round_channels  # noqa: F401  (MixNet's name, used by convert)
from .layers.activation import create_act
from .layers.batchnorm import BatchNorm2d
from .layers.conv2d import Conv2d
from .layers.drop_path import DropPath
from .layers.mixconv import IMPLS as MIXCONV_IMPLS
from .layers.mixconv import GroupedConv2d, MixConv2d, create_conv2d_pad
from .layers.pooling import GlobalAvgPooling
from .layers.squeeze_excite import SqueezeExcite
from .pretrained import load_pretrained
from .registry import register_model

__all__ = ["MixNet", "MixNetBlock", "BlockArgs", "ARCH_TABLES", "mixnet_s", "mixnet_m", "mixnet_l", "mixnet_xl",
           "timm_mixnet_s", "timm_mixnet_m", "timm_mixnet_l", "tf_mixnet_s", "tf_mixnet_m", "tf_mixnet_l",
           "scale_repeats", "VARIANT_OPTIONS", "TIMM_VARIANTS"]

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
        "eval_interpolation": "bicubic",  # the recipes' validation settings, which the accuracy was measured with
        "eval_crop_pct": 0.875,
        **extra,
    }


default_cfgs = {
    "mixnet_s": _weights("mixnet_s-2a5ef3a3.ckpt", 75.52, 92.52, "8x Ascend 910", "configs/mixnet/mixnet_s_ascend.yaml"),
    "mixnet_m": _weights("mixnet_m-74cc4cb1.ckpt", 76.64, 93.05, "8x Ascend 910", "configs/mixnet/mixnet_m_ascend.yaml"),
    "mixnet_l": _weights("mixnet_l-978edf2b.ckpt", 78.73, 94.31, "8x Ascend 910", "configs/mixnet/mixnet_l_ascend.yaml"),
}

_TIMM_RELEASES = "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights"


def _timm_weights(name: str, timm_tag: str, file: str, top1: float, top5: Optional[float] = None) -> dict:
    """Metadata of timm weights that tools/convert_weights.py turns into a checkpoint of this variant.

    ``url`` is empty: no MindSpore checkpoint is hosted; pretrained=True says how to convert them.
    """
    return {
        "name": name,
        "url": "",
        "num_classes": 1000,
        "first_conv": "stem_conv.0",
        "classifier": "classifier",
        "top1": top1,
        "top5": top5,
        "source": "timm",
        "timm_model": timm_tag,
        "source_url": f"{_TIMM_RELEASES}/{file}",
        "hf_hub_id": f"timm/{timm_tag}",
        "eval_crop_pct": 0.875,
        "eval_interpolation": "pilcubic",  # timm's "bicubic" is PIL's (antialiased); ours of that name is OpenCV's
    }


default_cfgs.update({
    "timm_mixnet_s": _timm_weights("timm_mixnet_s", "mixnet_s.ft_in1k", "mixnet_s-a907afbc.pth", 76.00, 92.80),
    "timm_mixnet_m": _timm_weights("timm_mixnet_m", "mixnet_m.ft_in1k", "mixnet_m-4647fc68.pth", 77.27),
    "timm_mixnet_l": _timm_weights("timm_mixnet_l", "mixnet_l.ft_in1k", "mixnet_l-5a9a2ed8.pth", 78.97),
    "mixnet_xl": _timm_weights("mixnet_xl", "mixnet_xl.ra_in1k", "mixnet_xl_ra-aac3c00c.pth", 80.49),
    "tf_mixnet_s": _timm_weights("tf_mixnet_s", "tf_mixnet_s.in1k", "tf_mixnet_s-89d3354b.pth", 75.66),
    "tf_mixnet_m": _timm_weights("tf_mixnet_m", "tf_mixnet_m.in1k", "tf_mixnet_m-0f4d8805.pth", 76.95),
    "tf_mixnet_l": _timm_weights("tf_mixnet_l", "tf_mixnet_l.in1k", "tf_mixnet_l-6c92e0c8.pth", 78.77),
})

# Weights of other libraries with timm's MixNet mathematics (swish SE of width in x ratio, symmetric padding,
# BN eps 1e-5) under imgclsmob's parameter names: PaddleClas .pdparams and pytorchcv (imgclsmob) .pth files,
# converted by tools/convert_weights.py (mindcv/models/convert_imgclsmob.py). Keyed "<model>.<source>";
# "eval" holds the settings their accuracy was measured with (mean / std on the 0-255 scale).
_IMAGENET_EVAL = {"image_resize": 224, "crop_pct": 0.875, "mean": [123.675, 116.28, 103.53],
                  "std": [58.395, 57.12, 57.375]}
_PADDLECLAS_URL = "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph"
_PADDLECLAS_PAGE = ("https://github.com/PaddlePaddle/PaddleClas/blob/release/2.6/docs/zh_CN/models/ImageNet1k/"
                    "MixNet.md")
_IMGCLSMOB_RELEASES = "https://github.com/osmr/imgclsmob/releases"


def _imported_weights(model: str, source: str, file: str, url: str, page: str, top1: float, top5: float,
                      licence: str, interpolation: str, **extra) -> dict:
    """Metadata of another library's weights that tools/convert_weights.py turns into a checkpoint of ``model``."""
    return {
        "name": model,
        "weights": f"{model}.{source.lower()}",
        "url": "",  # no MindSpore checkpoint is hosted: download ``file`` by hand and convert it
        "num_classes": 1000,
        "first_conv": "stem_conv.0",
        "classifier": "classifier",
        "top1": top1,
        "top5": top5,
        "source": source,
        "licence": licence,
        "file": file,
        "source_url": url,
        "download_page": page,
        "sha256": None,  # not published by the source
        "eval": {**_IMAGENET_EVAL, "interpolation": interpolation},
        "convert_command": f"python tools/convert_weights.py {file} --model {model}",
        **extra,
    }


def _paddleclas(model: str, arch: str, top1: float, top5: float) -> dict:
    """PaddleClas's MixNet_{S,M,L}: Apache-2.0; eval resize-short 256, crop 224, OpenCV bilinear (its cv2 default)."""
    file = f"{arch}_pretrained.pdparams"
    return _imported_weights(model, "PaddleClas", file, f"{_PADDLECLAS_URL}/{file}", _PADDLECLAS_PAGE, top1, top5,
                             "Apache-2.0", "bilinear", source_model=arch)


def _imgclsmob(model: str, arch: str, top1_err: float, top5_err: float, sha1: str, tag: str) -> dict:
    """pytorchcv's (imgclsmob's) mixnet_{s,m,l}: MIT; files named {model}-{top-5 error}-{sha1[:8]}.pth, shipped as
    .pth.zip; eval resize 256 (224 / 0.875), crop 224, torchvision's (PIL) bilinear."""
    file = f"{arch}-{round(top5_err * 100):04d}-{sha1[:8]}.pth"
    extra = {"sha1": sha1, "source_model": arch, "archive": f"{file}.zip",
             "eval_note": "published accuracy measured with torchvision's PIL bilinear resize (antialiased); "
                          "'bilinear' here is OpenCV's"}
    return _imported_weights(model, "imgclsmob", file, f"{_IMGCLSMOB_RELEASES}/download/{tag}/{file}.zip",
                             f"{_IMGCLSMOB_RELEASES}/tag/{tag}", round(100 - top1_err, 2),
                             round(100 - top5_err, 2), "MIT", "bilinear", **extra)


default_cfgs.update({
    # PaddleClas docs/zh_CN/models/ImageNet1k/MixNet.md (top-1 / top-5)
    "timm_mixnet_s.paddleclas": _paddleclas("timm_mixnet_s", "MixNet_S", 76.28, 92.99),
    "timm_mixnet_m.paddleclas": _paddleclas("timm_mixnet_m", "MixNet_M", 77.67, 93.64),
    "timm_mixnet_l.paddleclas": _paddleclas("timm_mixnet_l", "MixNet_L", 78.60, 94.37),
    # pytorchcv 0.0.74 README (top-1 / top-5 error of the .pth files; imgclsmob trained them in Gluon, whose own
    # figures are 23.83 / 7.03, 22.37 / 6.31 for S / M; its Chainer ports list 7.05 / 6.34 top-5 error) and
    # pytorchcv/models/common/model_metainfos.csv (full sha1, release tag)
    "timm_mixnet_s.imgclsmob": _imgclsmob("timm_mixnet_s", "mixnet_s", 23.92, 7.17,
                                          "ab2c4e37062e7ea34a2cdd112f9354d4e67a0fef", "v0.0.493"),
    "timm_mixnet_m.imgclsmob": _imgclsmob("timm_mixnet_m", "mixnet_m", 22.45, 6.47,
                                          "4d90d345a38ba5041ac5cae2921e07d1eca083b2", "v0.0.493"),
    "timm_mixnet_l.imgclsmob": _imgclsmob("timm_mixnet_l", "mixnet_l", 21.54, 5.71,
                                          "c686ba17fc6bca5f30ac596b37a7f95f2d4b6f30", "v0.0.500"),
})

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


def _stages(table: Sequence[BlockArgs]) -> List[List[List[BlockArgs]]]:
    """Blocks grouped into stages (a stage starts where the output channels change) and, inside a
    stage, into runs of identical blocks (the repeats of one block definition)."""
    stages: List[List[List[BlockArgs]]] = []
    for i, block in enumerate(table):
        if i == 0 or block.out_chs != table[i - 1].out_chs:
            stages.append([[block]])
        elif block == table[i - 1]:
            stages[-1][-1].append(block)
        else:
            stages[-1].append([block])
    return stages


def _scaled_run_lengths(lengths: List[int], multiplier: float) -> List[int]:
    """timm's depth scaling of one stage: round the stage total, then share it over the runs from the
    last run backwards (Python's round, half to even, as timm)."""
    remaining, remaining_scaled = sum(lengths), max(1, round(sum(lengths) * multiplier))
    scaled = []
    for length in reversed(lengths):
        count = max(1, round(length / remaining * remaining_scaled))
        scaled.append(count)
        remaining -= length
        remaining_scaled -= count
    return scaled[::-1]


def scale_repeats(table: Sequence[BlockArgs], multiplier: float) -> List[BlockArgs]:
    """The block table with each stage's repeats scaled by ``multiplier`` (timm's 'round' rule, as
    its MixNet-XL: 1.2 turns MixNet-M's 19 blocks into 23). Added blocks repeat their run's block
    with stride 1 and input channels = output channels."""
    if not isinstance(multiplier, (int, float)) or isinstance(multiplier, bool) or multiplier <= 0:
        raise ValueError(f"repeat_multiplier must be a number > 0, got {multiplier!r}")
    if multiplier == 1.0:
        return list(table)
    scaled: List[BlockArgs] = []
    for stage in _stages(table):
        for run, count in zip(stage, _scaled_run_lengths([len(r) for r in stage], multiplier)):
            repeat = run[0]._replace(in_chs=run[0].out_chs, stride=1)
            scaled.extend(run[:count] + [repeat] * max(0, count - len(run)))
    return scaled


def _bn(channels: int, eps: float, momentum: float, fast: bool = True) -> nn.BatchNorm2d:
    return BatchNorm2d(channels, eps=eps, momentum=momentum, fast=fast)


class MixNetBlock(ResidualBlock):
    """Inverted residual with MixConv: [expand 1x1, BN, act] -> MixConv, BN, act -> [SE] -> project 1x1, BN."""

    def __init__(
        self,
        args: BlockArgs,
        se_act: str = "relu",
        padding: str = "symmetric",
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.9,
        drop_path: float = 0.0,
        mixconv_impl: str = "auto",
    ) -> None:
        super().__init__()
        if mixconv_impl not in MIXCONV_IMPLS:
            raise ValueError(f"mixconv_impl={mixconv_impl!r} is not known; use one of {MIXCONV_IMPLS}")
        mid = args.in_chs * args.expand_ratio
        self.residual = args.stride == 1 and args.in_chs == args.out_chs
        cells = []
        # split is MindCV's graph throughout; otherwise one group=g 1x1 conv and the device's fastest pooling
        grouped = "split" if mixconv_impl == "split" else "grouped"
        fast = mixconv_impl != "split"  # CPU-fast BN / activation forms (see layers.batchnorm, layers.activation)
        pool = "mean" if mixconv_impl == "split" else "auto"
        if args.expand_ratio != 1:
            cells += [GroupedConv2d(args.in_chs, mid, [1] * args.expand_groups, padding=padding, impl=grouped),
                      _bn(mid, bn_eps, bn_momentum, fast), create_act(args.act, fast)]
        cells += [MixConv2d(mid, list(args.dw_kernels), stride=args.stride, padding=padding, impl=mixconv_impl),
                  _bn(mid, bn_eps, bn_momentum, fast), create_act(args.act, fast)]
        if args.se_ratio > 0:
            cells.append(SqueezeExcite(mid, int(args.in_chs * args.se_ratio), act=se_act, pool_impl=pool,
                                       fast=fast))
        cells += [GroupedConv2d(mid, args.out_chs, [1] * args.project_groups, padding=padding, impl=grouped),
                  _bn(args.out_chs, bn_eps, bn_momentum, fast)]
        self.convs = nn.SequentialCell(cells)
        self.drop_path = DropPath(drop_path) if (self.residual and drop_path > 0) else None


class MixNet(ClassifierNet):
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
        mixconv_impl: how the MixConv layers run: ``auto`` (default: the fastest correct one for the
            device, ``resolve_impl``), ``split``, ``fused`` or ``native`` (see ``MixConv2d``); the
            parameters and their names are the same for all.
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
        mixconv_impl: str = "auto",
        repeat_multiplier: float = 1.0,
    ) -> None:
        super().__init__()
        if arch not in ARCH_TABLES:
            raise ValueError(f"arch={arch!r} is not known; use one of {sorted(ARCH_TABLES)}")
        check_positive_int("num_classes", num_classes)
        check_positive_int("in_channels", in_channels)
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate}")
        if width_multiplier <= 0:
            raise ValueError(f"width_multiplier must be > 0, got {width_multiplier}")
        _check_bn(bn_eps, bn_momentum)
        stem_chs, table = ARCH_TABLES[arch]
        table = scale_repeats(table, repeat_multiplier)
        self.stage_depths = [sum(len(run) for run in stage) for stage in _stages(table)]
        if width_multiplier != 1.0:
            stem_chs = round_channels(stem_chs * width_multiplier)
            table = [b._replace(in_chs=round_channels(b.in_chs * width_multiplier),
                                out_chs=round_channels(b.out_chs * width_multiplier)) for b in table]
        self.block_args = table
        self.num_features = feature_size
        self.variant_options = variant_options(arch, width_multiplier, repeat_multiplier, se_act, padding,
                                               bn_eps, bn_momentum, feature_size)

        self.stem_conv = nn.SequentialCell([
            Conv2d(in_channels, stem_chs, 3, stride=2, has_bias=False, fast=mixconv_impl != "split",
                   **create_conv2d_pad(3, padding)),
            _bn(stem_chs, bn_eps, bn_momentum, mixconv_impl != "split"),
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
            _bn(feature_size, bn_eps, bn_momentum, mixconv_impl != "split"),
            nn.ReLU(),
        ])
        self.pool = GlobalAvgPooling(impl="mean" if mixconv_impl == "split" else "auto")
        self.dropout = nn.Dropout(p=drop_rate) if drop_rate > 0 else nn.Identity()
        self.classifier = nn.Dense(feature_size, num_classes)
        self._initialize_weights()

    def _initialize_weights(self) -> None:
        """He-normal convs over fan-out, BN to identity, uniform(1/sqrt(out)) classifier (as MindCV)."""
        for _, cell in self.cells_and_names():
            if isinstance(cell, nn.Conv2d):
                fan_out = cell.kernel_size[0] * cell.kernel_size[1] * cell.out_channels
                set_param(cell.weight, init.Normal(math.sqrt(2.0 / fan_out)))
                if cell.bias is not None:
                    set_param(cell.bias, "zeros")
            elif isinstance(cell, nn.BatchNorm2d):
                set_param(cell.gamma, "ones")
                set_param(cell.beta, "zeros")
            elif isinstance(cell, nn.Dense):
                set_param(cell.weight, init.Uniform(1.0 / math.sqrt(cell.weight.shape[0])))
                if cell.bias is not None:
                    set_param(cell.bias, "zeros")


# The options that define a MixNet's structure (recorded in converted checkpoints).
VARIANT_OPTIONS = ("arch", "width_multiplier", "repeat_multiplier", "se_act", "padding", "bn_eps", "bn_momentum",
                   "feature_size")
_ACT_ALIASES = {"silu": "swish"}


def variant_options(arch: str, width_multiplier: float, repeat_multiplier: float, se_act: str, padding: str,
                    bn_eps: float, bn_momentum: float, feature_size: int) -> dict:
    """The structural options of a MixNet as a JSON-able dict with canonical values (``silu`` -> ``swish``)."""
    act = str(se_act).lower()
    return {
        "arch": arch,
        "width_multiplier": float(width_multiplier),
        "repeat_multiplier": float(repeat_multiplier),
        "se_act": _ACT_ALIASES.get(act, act),
        "padding": padding or "symmetric",
        "bn_eps": float(bn_eps),
        "bn_momentum": float(bn_momentum),
        "feature_size": int(feature_size),
    }


def variant_options_json(model: nn.Cell) -> str:
    """``model.variant_options`` as the JSON string a checkpoint stores."""
    options = getattr(model, "variant_options", None)
    if not isinstance(options, dict):
        raise TypeError(f"{type(model).__name__} has no variant_options dict (only MixNet models record them)")
    return json.dumps(options, sort_keys=True)


def _check_bn(bn_eps: float, bn_momentum: float) -> None:
    """BatchNorm eps > 0 and momentum in [0, 1] (MindSpore convention), with the value in the error."""
    if not isinstance(bn_eps, (int, float)) or isinstance(bn_eps, bool) or bn_eps <= 0:
        raise ValueError(f"bn_eps must be a number > 0, got {bn_eps!r}")
    if not isinstance(bn_momentum, (int, float)) or isinstance(bn_momentum, bool) or not 0 <= bn_momentum <= 1:
        raise ValueError(f"bn_momentum must be in [0, 1] (MindSpore convention: weight of the running value; "
                         f"PyTorch's 0.1 is 0.9 here), got {bn_momentum!r}")


def _build(name: str, arch: str, pretrained: bool, num_classes: int, in_channels: int,
           width: float = 1.0, **kwargs) -> MixNet:
    """Construct a registered variant and load its published weights when asked."""
    if "depth_multiplier" in kwargs:  # MindCV's name for the channel (width) multiplier
        kwargs["width_multiplier"] = kwargs.pop("depth_multiplier")
    kwargs["width_multiplier"] = kwargs.get("width_multiplier", 1.0) * width
    model = MixNet(arch=arch, num_classes=num_classes, in_channels=in_channels, **kwargs)
    if pretrained:
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


# Structures of timm's and TF's weights (see tools/convert_weights.py): swish inside squeeze-excite;
# the tf_ variants add TF "SAME" padding and BN eps 1e-3.
_TIMM_OPTIONS = {"se_act": "swish"}
_TF_OPTIONS = {"se_act": "swish", "padding": "same", "bn_eps": 1e-3}

# Registered variants for timm's / TF's weights: name -> (arch, width, structural defaults, timm's model name).
TIMM_VARIANTS = {
    "timm_mixnet_s": ("small", 1.0, _TIMM_OPTIONS, "mixnet_s"),
    "timm_mixnet_m": ("medium", 1.0, _TIMM_OPTIONS, "mixnet_m"),
    "timm_mixnet_l": ("medium", 1.3, _TIMM_OPTIONS, "mixnet_l"),
    "mixnet_xl": ("medium", 1.6, {**_TIMM_OPTIONS, "repeat_multiplier": 1.2}, "mixnet_xl"),
    "tf_mixnet_s": ("small", 1.0, _TF_OPTIONS, "tf_mixnet_s"),
    "tf_mixnet_m": ("medium", 1.0, _TF_OPTIONS, "tf_mixnet_m"),
    "tf_mixnet_l": ("medium", 1.3, _TF_OPTIONS, "tf_mixnet_l"),
}


def _build_variant(name: str, pretrained: bool, num_classes: int, in_channels: int, **kwargs) -> MixNet:
    """A variant of ``TIMM_VARIANTS`` (the caller may still override its structural defaults)."""
    arch, width, defaults, timm_name = TIMM_VARIANTS[name]
    if pretrained:
        cfg = default_cfgs[name]
        raise ValueError(
            f"{name} has no hosted MindSpore weights: its weights are timm's {timm_name} "
            f"({cfg['source_url']} or the hub's {cfg['hf_hub_id']} model.safetensors). Convert them with "
            f"`python tools/convert_weights.py FILE --model {name} --output {name}.ckpt`, then use "
            f"create_model('{name}', checkpoint_path='{name}.ckpt')")
    return _build(name, arch, pretrained, num_classes, in_channels, width=width, **{**defaults, **kwargs})


@register_model
def timm_mixnet_s(pretrained: bool = False, num_classes: int = 1000, in_channels: int = 3, **kwargs) -> MixNet:
    """MixNet-S with swish in squeeze-excite, for timm's mixnet_s weights (76.00 % top-1 in timm)."""
    return _build_variant("timm_mixnet_s", pretrained, num_classes, in_channels, **kwargs)


@register_model
def timm_mixnet_m(pretrained: bool = False, num_classes: int = 1000, in_channels: int = 3, **kwargs) -> MixNet:
    """MixNet-M with swish in squeeze-excite, for timm's mixnet_m weights (77.27 % top-1 in timm)."""
    return _build_variant("timm_mixnet_m", pretrained, num_classes, in_channels, **kwargs)


@register_model
def timm_mixnet_l(pretrained: bool = False, num_classes: int = 1000, in_channels: int = 3, **kwargs) -> MixNet:
    """MixNet-L with swish in squeeze-excite, for timm's mixnet_l weights (78.97 % top-1 in timm)."""
    return _build_variant("timm_mixnet_l", pretrained, num_classes, in_channels, **kwargs)


@register_model
def mixnet_xl(pretrained: bool = False, num_classes: int = 1000, in_channels: int = 3, **kwargs) -> MixNet:
    """MixNet-XL (timm): MixNet-M at width 1.6 with repeats x1.2 (23 blocks), swish SE; 11.9M parameters,
    904M multiply-adds, 80.49 % top-1 in timm."""
    return _build_variant("mixnet_xl", pretrained, num_classes, in_channels, **kwargs)


@register_model
def tf_mixnet_s(pretrained: bool = False, num_classes: int = 1000, in_channels: int = 3, **kwargs) -> MixNet:
    """MixNet-S as the TF reference (swish SE, SAME padding, BN eps 1e-3): timm's tf_mixnet_s (75.66 %)."""
    return _build_variant("tf_mixnet_s", pretrained, num_classes, in_channels, **kwargs)


@register_model
def tf_mixnet_m(pretrained: bool = False, num_classes: int = 1000, in_channels: int = 3, **kwargs) -> MixNet:
    """MixNet-M as the TF reference (swish SE, SAME padding, BN eps 1e-3): timm's tf_mixnet_m (76.95 %)."""
    return _build_variant("tf_mixnet_m", pretrained, num_classes, in_channels, **kwargs)


@register_model
def tf_mixnet_l(pretrained: bool = False, num_classes: int = 1000, in_channels: int = 3, **kwargs) -> MixNet:
    """MixNet-L as the TF reference (swish SE, SAME padding, BN eps 1e-3): timm's tf_mixnet_l (78.77 %)."""
    return _build_variant("tf_mixnet_l", pretrained, num_classes, in_channels, **kwargs)
