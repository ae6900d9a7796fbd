"""create_transforms: MindCV's ImageNet train and eval pipelines as lists of MindSpore vision ops.

Train: RandomCropDecodeResize(image_resize, scale, ratio, interpolation) (decode + random resized
crop in one native op), RandomHorizontalFlip(hflip), RandomVerticalFlip(vflip), then auto_augment
(see ``auto_augment``) or, without it, RandomColorAdjust(color_jitter: a number b for brightness = contrast =
saturation = b, or [brightness, contrast, saturation(, hue)], as MindCV), then Normalize(mean, std),
HWC2CHW and RandomErasing(re_prob, re_scale, re_ratio, re_value) on the CHW float image.
Eval: Decode, Resize(short side to floor(image_resize / crop_pct), interpolation),
CenterCrop(image_resize), Normalize, HWC2CHW. mean / std are in 0-255 pixel units (MindCV's).
Every op is MindSpore's native C++ op except RandomErasing, which MindSpore implements in Python.
Datasets read as decoded arrays (mnist, cifar10, cifar100) get the same pipelines without decoding:
RandomResizedCrop in place of RandomCropDecodeResize, no Decode before the eval Resize.
"""
import difflib
import math
from numbers import Real
from typing import List, Sequence, Tuple, Union

from mindspore.dataset import vision
from mindspore.dataset.vision import Inter

from ..choices import (DATASETS, DEFAULT_CROP_PCT, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, MAX_CROP_PCT,
                       color_jitter_factors)
from .auto_augment import create_auto_augment
from .constants import ARRAY_DATASETS

__all__ = ["create_transforms", "transforms_imagenet_train", "transforms_imagenet_eval", "interpolation_mode",
           "eval_resize_size", "TRANSFORM_DATASET_NAMES"]

TRANSFORM_DATASET_NAMES = DATASETS
_INTERPOLATIONS = {
    "nearest": Inter.NEAREST,
    "bilinear": Inter.BILINEAR,
    "linear": Inter.BILINEAR,
    "bicubic": Inter.BICUBIC,
    "cubic": Inter.BICUBIC,
    "area": Inter.AREA,
    "pilcubic": Inter.PILCUBIC,
    "antialias": Inter.ANTIALIAS,
}
_TRAIN_OPTIONS = ("scale", "ratio", "hflip", "vflip", "color_jitter", "interpolation", "mean", "std", "re_prob",
                  "re_scale", "re_ratio", "re_value", "re_max_attempts")
_EVAL_OPTIONS = ("crop_pct", "interpolation", "mean", "std")

ImageSize = Union[int, Tuple[int, int]]


def interpolation_mode(name: Union[str, Inter]) -> Inter:
    """The mindspore Inter mode for a MindCV interpolation name such as 'bilinear' or 'bicubic'."""
    if isinstance(name, Inter):
        return name
    key = str(name).lower()
    if key not in _INTERPOLATIONS:
        raise ValueError(f"interpolation={name!r} is not supported; use one of {sorted(_INTERPOLATIONS)}")
    return _INTERPOLATIONS[key]


def _check_size(image_resize) -> ImageSize:
    """image_resize as a positive int or an (h, w) pair of positive ints."""
    if isinstance(image_resize, (list, tuple)):
        if len(image_resize) != 2 or not all(isinstance(v, int) and v > 0 for v in image_resize):
            raise ValueError(f"image_resize must be a positive int or [height, width], got {image_resize!r}")
        return tuple(image_resize)
    if isinstance(image_resize, bool) or not isinstance(image_resize, int) or image_resize <= 0:
        raise ValueError(f"image_resize must be a positive int or [height, width], got {image_resize!r}")
    return image_resize


def _check_prob(name: str, value) -> float:
    """value as a float in [0, 1]."""
    if not isinstance(value, Real) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def _check_range(name: str, value) -> Tuple[float, float]:
    """value as a (low, high) pair with 0 < low <= high."""
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, Real) for v in value) or not 0 < value[0] <= value[1]):
        raise ValueError(f"{name} must be [low, high] with 0 < low <= high, got {value!r}")
    return float(value[0]), float(value[1])


def _check_mean_std(mean, std) -> Tuple[List[float], List[float]]:
    """Three channel means and three positive stds (0-255 units)."""
    for name, value in (("mean", mean), ("std", std)):
        if not isinstance(value, (list, tuple)) or len(value) != 3 or not all(isinstance(v, Real) for v in value):
            raise ValueError(f"{name} must be three numbers in 0-255 pixel units, got {value!r}")
    if not all(v > 0 for v in std):
        raise ValueError(f"std must be positive, got {std!r}")
    return [float(v) for v in mean], [float(v) for v in std]


def _color_jitter_op(color_jitter):
    """RandomColorAdjust from a number b (brightness = contrast = saturation = b) or 3/4 numbers (+ hue), as MindCV."""
    return vision.RandomColorAdjust(*color_jitter_factors(color_jitter))


def transforms_imagenet_train(
    image_resize: ImageSize = 224,
    scale: Sequence[float] = (0.08, 1.0),
    ratio: Sequence[float] = (0.75, 1.333),
    hflip: float = 0.5,
    vflip: float = 0.0,
    color_jitter=None,
    auto_augment=None,
    interpolation: str = "bilinear",
    mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
    std: Sequence[float] = IMAGENET_DEFAULT_STD,
    re_prob: float = 0.0,
    re_scale: Sequence[float] = (0.02, 0.33),
    re_ratio: Sequence[float] = (0.3, 3.3),
    re_value=0,
    re_max_attempts: int = 10,
    separate: bool = False,
    decode: bool = True,
):
    """Train ops (decode included unless the images arrive decoded); a (primary, secondary, final) tuple of lists
    when separate."""
    image_resize = _check_size(image_resize)
    inter = interpolation_mode(interpolation)
    mean, std = _check_mean_std(mean, std)
    hflip, vflip, re_prob = _check_prob("hflip", hflip), _check_prob("vflip", vflip), _check_prob("re_prob", re_prob)
    crop = vision.RandomCropDecodeResize if decode else vision.RandomResizedCrop
    primary = [crop(image_resize, scale=_check_range("scale", scale), ratio=_check_range("ratio", ratio),
                    interpolation=inter)]
    if hflip > 0:
        primary.append(vision.RandomHorizontalFlip(prob=hflip))
    if vflip > 0:
        primary.append(vision.RandomVerticalFlip(prob=vflip))
    secondary = []
    if auto_augment:
        secondary.append(create_auto_augment(auto_augment, inter, tuple(min(255, round(m)) for m in mean)))
    elif color_jitter is not None:
        secondary.append(_color_jitter_op(color_jitter))
    final = [vision.Normalize(mean=mean, std=std), vision.HWC2CHW()]
    if re_prob > 0:
        final.append(vision.RandomErasing(prob=re_prob, scale=_check_range("re_scale", re_scale),
                                          ratio=_check_range("re_ratio", re_ratio), value=re_value,
                                          max_attempts=re_max_attempts))
    if separate:
        return primary, secondary, final
    return primary + secondary + final


def eval_resize_size(image_resize: ImageSize, crop_pct: float) -> ImageSize:
    """Size of the eval resize before the centre crop: floor(image_resize / crop_pct), as MindCV."""
    if isinstance(image_resize, tuple) and image_resize[0] != image_resize[1]:
        return tuple(int(x / crop_pct) for x in image_resize)
    side = image_resize[0] if isinstance(image_resize, tuple) else image_resize
    return int(math.floor(side / crop_pct))


def transforms_imagenet_eval(
    image_resize: ImageSize = 224,
    crop_pct: float = DEFAULT_CROP_PCT,
    mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
    std: Sequence[float] = IMAGENET_DEFAULT_STD,
    interpolation: str = "bilinear",
    decode: bool = True,
) -> list:
    """Eval ops: decode (unless decoded already), resize the short side to image_resize / crop_pct, centre crop,
    normalise, CHW."""
    image_resize = _check_size(image_resize)
    if not isinstance(crop_pct, Real) or not 0 < crop_pct <= MAX_CROP_PCT:
        raise ValueError(f"crop_pct must be in (0, {MAX_CROP_PCT:g}], got {crop_pct!r}")
    mean, std = _check_mean_std(mean, std)
    return ([vision.Decode()] if decode else []) + [
        vision.Resize(eval_resize_size(image_resize, crop_pct), interpolation=interpolation_mode(interpolation)),
        vision.CenterCrop(image_resize),
        vision.Normalize(mean=mean, std=std),
        vision.HWC2CHW(),
    ]


def _reject_unknown(options: dict) -> None:
    """Raise for option names neither pipeline knows, suggesting the closest known one."""
    known = sorted(set(_TRAIN_OPTIONS) | set(_EVAL_OPTIONS))
    for key in options:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known options: {known}"
            raise ValueError(f"create_transforms got an unknown option {key!r}{hint}")


def create_transforms(
    dataset_name: str = "",
    image_resize: ImageSize = 224,
    is_training: bool = False,
    auto_augment=None,
    separate: bool = False,
    **kwargs,
):
    """MindCV's ImageNet transform list for any dataset name (decoding only what arrives encoded).

    kwargs: scale, ratio, hflip, vflip, color_jitter, interpolation, mean, std, re_prob, re_scale,
    re_ratio, re_value, re_max_attempts (train) and crop_pct, interpolation, mean, std (eval);
    options of the other mode are accepted and ignored, so one set of recipe options serves both.
    """
    name = str(dataset_name).lower()
    if name not in TRANSFORM_DATASET_NAMES:
        raise ValueError(f"create_transforms: unknown dataset_name {dataset_name!r}; supported: "
                         f"{list(TRANSFORM_DATASET_NAMES)} (all use the ImageNet pipelines)")
    decode = name not in ARRAY_DATASETS
    _reject_unknown(kwargs)
    if is_training:
        options = {k: v for k, v in kwargs.items() if k in _TRAIN_OPTIONS}
        return transforms_imagenet_train(image_resize, auto_augment=auto_augment, separate=separate, decode=decode,
                                         **options)
    options = {k: v for k, v in kwargs.items() if k in _EVAL_OPTIONS}
    return transforms_imagenet_eval(image_resize, decode=decode, **options)
