"""The allowed values of the options, shared by config.py (checks, help, docs) and the factories that use them.

Kept free of MindSpore (standard library only) so that ``--help`` and option errors answer at once; the
auto_augment grammar is here for that reason (mindcv.data.auto_augment maps a parsed string onto native ops).
"""
import math
import numbers
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

# nesterov: MindCV's alias of momentum with Nesterov momentum
OPTIMIZERS: Tuple[str, ...] = ("sgd", "momentum", "nesterov", "adam", "adamw", "lion", "nadam", "adan", "rmsprop",
                               "adagrad", "lamb")
WEIGHT_DECAY_FILTERS: Tuple[str, ...] = ("disable", "auto", "norm_and_bias")
LOSSES: Tuple[str, ...] = ("CE", "BCE", "asl_single_label", "asl_multi_label", "jsd")
SCHEDULERS: Tuple[str, ...] = (
    "constant",
    "cosine_decay",
    "warmup_cosine_decay",  # MindCV's alias of cosine_decay
    "exponential_decay",
    "polynomial_decay",
    "step_decay",
    "multi_step_decay",
    "one_cycle",
    "cyclic",
)
AMP_LEVELS: Tuple[str, ...] = ("O0", "O1", "O2", "O3")
JIT_LEVELS: Tuple[str, ...] = ("O0", "O1", "O2")  # O2 (GE): Ascend only, deprecated since MindSpore 2.9
# precision of amp_level O1-O3: bfloat16 needs no loss scaling (Ascend only: no bfloat16 Conv2D on CPU)
AMP_DTYPES: Tuple[str, ...] = ("float16", "bfloat16")
# data parallelism: graph (graph-mode auto-parallel DATA_PARALLEL) or pynative (mindspore.jit + DistributedGradReducer)
DP_MODES: Tuple[str, ...] = ("graph", "pynative")
# images whose header declares more pixels are refused before decoding (10000 x 10000: ~300 MB decoded as RGB)
DEFAULT_MAX_IMAGE_PIXELS = 100_000_000
DEVICE_TARGETS: Tuple[str, ...] = ("Ascend", "GPU", "CPU")
LOSS_SCALE_TYPES: Tuple[str, ...] = ("fixed", "dynamic", "auto")
CKPT_SAVE_POLICIES: Tuple[str, ...] = ("latest_k", "top_k")
# interpolation names of the option (the transforms also accept the aliases linear and cubic)
INTERPOLATIONS: Tuple[str, ...] = ("bilinear", "bicubic", "nearest", "area", "pilcubic", "antialias")
# how the MixConv layers run: split (MindCV's graph), fused (one conv), native (CPU C++ op), auto (by device)
MIXCONV_IMPLS: Tuple[str, ...] = ("auto", "split", "fused", "native")
# how validate.py / infer.py run a checkpoint: auto (the CPU inference form where it applies), model (its own graph)
EVAL_FORMS: Tuple[str, ...] = ("auto", "model")
# dataset names read as an image-folder tree (<root>/<split>/<class>/<image>); digits is the embedded demo set
FOLDER_DATASETS: Tuple[str, ...] = ("", "imagenet", "folder")
# public datasets read from their published files (and downloadable): mindcv.data.create_index
PUBLIC_DATASETS: Tuple[str, ...] = ("mnist", "cifar10", "cifar100", "flowers102", "pets")
DATASETS: Tuple[str, ...] = FOLDER_DATASETS + ("digits",) + PUBLIC_DATASETS
# file name endings read as images (compared case-insensitively)
IMAGE_EXTENSIONS: Tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")
AUTO_AUGMENT_POLICIES: Tuple[str, ...] = ("randaug", "autoaug", "autoaugr", "trivialaugwide")

# ImageNet mean and std in 0-255 pixel units, as MindCV passes them to vision.Normalize
IMAGENET_DEFAULT_MEAN: List[float] = [0.485 * 255, 0.456 * 255, 0.406 * 255]
IMAGENET_DEFAULT_STD: List[float] = [0.229 * 255, 0.224 * 255, 0.225 * 255]
DEFAULT_CROP_PCT: float = 0.875
# crop_pct above 1 pads the centre crop with zeros (MindCV, timm; MindCV's volo_d4 recipe uses 1.15); larger than 2
# is taken for a percentage typed by mistake (87.5 would resize a 224 crop's image to 2 pixels)
MAX_CROP_PCT: float = 2.0

# ---- color_jitter (MindCV: a number, or [brightness, contrast, saturation(, hue)]) ----
COLOR_JITTER_FORM = "a number >= 0, or a list of 3 or 4 numbers >= 0 [brightness, contrast, saturation(, hue <= 0.5)]"
MAX_HUE = 0.5  # RandomColorAdjust draws the hue shift from [-hue, hue], hue in [0, 0.5]


def color_jitter_factors(value) -> Tuple[float, ...]:
    """The (brightness, contrast, saturation[, hue]) factors of a color_jitter value, as MindCV reads it: a number b
    means (b, b, b) and no hue change; 3 or 4 numbers are taken as they are (ValueError naming the form otherwise)."""
    def number(item) -> bool:
        return isinstance(item, numbers.Real) and not isinstance(item, bool) and math.isfinite(item)

    if number(value):
        factors = (float(value),) * 3
    elif isinstance(value, (list, tuple)) and len(value) in (3, 4) and all(number(v) for v in value):
        factors = tuple(float(v) for v in value)
    else:
        raise ValueError(f"color_jitter must be {COLOR_JITTER_FORM}, got {value!r}")
    if min(factors) < 0 or (len(factors) == 4 and factors[3] > MAX_HUE):
        raise ValueError(f"color_jitter must be {COLOR_JITTER_FORM}, got {value!r}")
    return factors


# ---- amp_cast_list (MindCV: a Python list of mindspore.nn cell classes, as a string) ----
AMP_CAST_LIST_FORM = 'a list of mindspore.nn cell classes, e.g. "[nn.Conv2d, nn.Dense]"'
_CELL_NAME = re.compile(r"^(?:mindspore\.)?nn\.([A-Za-z_][A-Za-z0-9_]*)$")


def parse_amp_cast_list(value) -> Tuple[str, ...]:
    """The class names (``Conv2d``, ...) of an amp_cast_list: MindCV's string "[nn.Conv2d, nn.Dense]" (or one name,
    or a list of names); ValueError naming the expected form otherwise. Names are read, never evaluated."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) >= 2 and (text[0], text[-1]) in (("[", "]"), ("(", ")")):
            text = text[1:-1]
        items = [item.strip() for item in text.split(",")]
        if items and not items[-1] and len(items) > 1:  # "(nn.Dense,)"
            items = items[:-1]
    elif isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        items = [item.strip() for item in value]
    else:
        items = []
    matches = [_CELL_NAME.match(item) for item in items]
    if not items or not all(matches):
        raise ValueError(f"amp_cast_list must be {AMP_CAST_LIST_FORM}, got {value!r}")
    return tuple(dict.fromkeys(match.group(1) for match in matches))


# ---- auto_augment strings (timm / MindCV grammar) ----
AUGMENT_LEVEL_MAX = 10  # timm's _LEVEL_DENOM: magnitude 10 is each op's maximum
TRIVIALAUG_BINS = 31
_SECTION = re.compile(r"^([a-z]+)(\d+(?:\.\d+)?)$")
_ALLOWED_KEYS = {
    "randaug": ("m", "n", "mstd", "mmax", "inc", "w"),
    "autoaug": ("mstd",),
    "autoaugr": ("mstd",),
    "trivialaugwide": ("m",),
}


@dataclass(frozen=True)
class AutoAugmentSpec:
    """A parsed auto_augment string (timm's defaults for the sections not given)."""

    policy: str
    magnitude: float = float(AUGMENT_LEVEL_MAX)
    num_layers: int = 2
    magnitude_std: float = 0.5
    magnitude_max: float = float(AUGMENT_LEVEL_MAX)
    increasing: bool = False
    weight_idx: Optional[int] = None


def _bad(config: str, why: str) -> ValueError:
    """A ValueError naming the auto_augment string and what is wrong with it."""
    return ValueError(f"cannot parse auto_augment={config!r}: {why}. Grammar: <policy>[-<key><value>]..., "
                      f"policy one of {list(AUTO_AUGMENT_POLICIES)}, e.g. 'randaug-m9-mstd0.5', "
                      f"'randaug-m9-mstd0.5-inc1', 'randaug-m9-n2-w0', 'autoaug', 'trivialaugwide'")


def _parse_sections(config: str, policy: str, sections: Sequence[str]) -> dict:
    """{key: float value} of the '-' separated sections, rejecting unknown or repeated keys."""
    values = {}
    for section in sections:
        match = _SECTION.match(section)
        if match is None:
            raise _bad(config, f"section {section!r} is not <letters><number>")
        key, value = match.group(1), float(match.group(2))
        if key not in _ALLOWED_KEYS[policy]:
            allowed = list(_ALLOWED_KEYS[policy])
            raise _bad(config, f"unknown section {key!r} for policy {policy!r} (allowed: {allowed})")
        if key in values:
            raise _bad(config, f"section {key!r} given twice")
        values[key] = value
    return values


def _whole(config: str, key: str, value: float) -> int:
    """value as an int, rejecting fractions for count-like sections."""
    if value != int(value):
        raise _bad(config, f"section {key!r} needs a whole number, got {value}")
    return int(value)


def parse_auto_augment(config: str) -> AutoAugmentSpec:
    """Parse a timm/MindCV auto_augment string into an AutoAugmentSpec (ValueError if unparsable)."""
    if not isinstance(config, str) or not config.strip():
        raise _bad(str(config), "expected a non-empty string")
    parts = config.strip().lower().split("-")
    policy = parts[0]
    if policy not in AUTO_AUGMENT_POLICIES:
        raise _bad(config, f"unknown or unsupported policy {policy!r} (augmix and 3a have no native MindSpore op)")
    values = _parse_sections(config, policy, parts[1:])
    if policy == "trivialaugwide":
        if values.get("m", TRIVIALAUG_BINS) != TRIVIALAUG_BINS:
            raise _bad(config, f"trivialaugwide magnitude other than m{TRIVIALAUG_BINS} has no native equivalent")
        return AutoAugmentSpec(policy=policy, magnitude=float(TRIVIALAUG_BINS), num_layers=1, magnitude_std=math.inf)
    mstd = values.get("mstd", 0.5)
    spec = AutoAugmentSpec(
        policy=policy,
        magnitude=values.get("m", float(AUGMENT_LEVEL_MAX)),
        num_layers=_whole(config, "n", values.get("n", 2)),
        magnitude_std=math.inf if mstd > 100 else mstd,
        magnitude_max=values.get("mmax", float(AUGMENT_LEVEL_MAX)),
        increasing=bool(_whole(config, "inc", values.get("inc", 0))),
        weight_idx=_whole(config, "w", values["w"]) if "w" in values else None,
    )
    if spec.magnitude_max > AUGMENT_LEVEL_MAX:
        raise _bad(config, f"mmax above {AUGMENT_LEVEL_MAX} has no native equivalent (native ops top out at level 10)")
    if spec.weight_idx not in (None, 0):
        raise _bad(config, f"only weight set w0 exists, got w{spec.weight_idx}")
    if not 0 <= spec.num_layers <= 8:
        raise _bad(config, f"n must be in [0, 8], got {spec.num_layers}")
    return spec
