"""The command line of train.py, validate.py, infer.py and export.py: argparse over YAML recipes, with MindCV's
option names. Every script reads the same option table (so a training recipe works with all of them); a script
adds its own few options and positional arguments through a ``ToolOptions`` (see ``parse_args``).

Precedence: built-in defaults < the YAML file given with ``-c/--config`` < the command line. Every
option is checked where it enters: a YAML key that is not an option, a value of the wrong type or
out of range, or a value outside an option's allowed set is an error naming the key, the value,
what was expected, and (for typos) the closest known key. Booleans take true/false, yes/no, 1/0
(``--flag`` alone means true); list options take several values (``--scale 0.5 1.0``).

Run ``python config.py`` to print the option reference as a Markdown table.
"""
import argparse
import difflib
import math
import numbers
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import yaml

from mindcv.choices import (AMP_CAST_LIST_FORM, AMP_DTYPES, AMP_LEVELS, CKPT_SAVE_POLICIES, COLOR_JITTER_FORM,
                            DEFAULT_MAX_IMAGE_PIXELS, DEVICE_TARGETS, DP_MODES, EVAL_FORMS,
                            IMAGENET_DEFAULT_MEAN,
                            IMAGENET_DEFAULT_STD, INTERPOLATIONS, JIT_LEVELS, LOSS_SCALE_TYPES, LOSSES, MAX_CROP_PCT,
                            MIXCONV_IMPLS, OPTIMIZERS, SCHEDULERS, WEIGHT_DECAY_FILTERS, color_jitter_factors,
                            parse_amp_cast_list, parse_auto_augment)
from mindcv.utils.cli import ArgumentParser, ConfigError, OutputError
from mindcv.utils.io import atomic_write_text
from mindcv.utils.logger import get_logger

__all__ = ["ConfigError", "Option", "ToolOptions", "create_parser", "parse_args", "load_config", "save_config",
           "check_resume_options", "RESUME_MAY_CHANGE", "RUN_START_OPTIONS",
           "format_config", "options_markdown", "OPTIONS", "GROUPS"]

logger = get_logger(__name__)

TRUE_WORDS = ("true", "yes", "y", "on", "1")
FALSE_WORDS = ("false", "no", "n", "off", "0")
NULL_WORDS = ("none", "null", "~")

@dataclass(frozen=True)
class Option:
    """One option: its name (the YAML key, ``--name`` on the command line), kind, default and checks.

    kind: bool, int, float, str, float_pair (2 floats), float_list (1+ floats), int_list (0+ ints),
    erase_value (a number, 3 numbers, or "random"), color_jitter (a number, or 3 or 4 numbers), cast_list
    (mindspore.nn class names, MindCV's "[nn.Conv2d, nn.Dense]"). ``low``/``high`` bound numbers (each element of
    a list); ``interval`` says which ends are closed, e.g. "[)" for low <= x < high. ``aliases`` are
    further command-line spellings (e.g. ``format`` for ``file_format``).
    """

    name: str
    kind: str
    default: Any
    help: str
    choices: Tuple = ()
    nullable: bool = False
    low: Optional[float] = None
    high: Optional[float] = None
    interval: str = "[]"
    aliases: Tuple[str, ...] = ()


@dataclass(frozen=True)
class ToolOptions:
    """What one script adds to the shared option table: its own options and an optional positional argument.

    ``positional`` names a 1-or-more-values positional argument (e.g. ``images`` for infer.py); its values
    may come before, between or after the options.
    """

    prog: str
    description: str
    options: Tuple[Option, ...] = ()
    title: str = "Script options"
    positional: str = ""
    positional_metavar: str = ""
    positional_help: str = ""


def _o(name: str, kind: str, default: Any, help: str, **checks) -> Option:
    """Shorthand for the option table."""
    return Option(name, kind, default, help, **checks)


GROUPS: List[Tuple[str, List[Option]]] = [
    ("System", [
        _o("mode", "int", 0, "0: graph mode, 1: PyNative mode", choices=(0, 1)),
        _o("distribute", "bool", False, "data-parallel training over all launched processes (msrun)"),
        _o("val_while_train", "bool", False, "evaluate on the validation split during training"),
        _o("val_interval", "int", 1, "epochs between validations while training", low=1),
        _o("precise_bn", "int", None, "before each validation while training, recompute every BatchNorm layer's "
           "moving statistics as their mean over this many training batches (precise BN: the moving averages lag a "
           "fast-changing network); 0: off; None: auto, 10 batches when an epoch has at most 1000 steps, else off",
           nullable=True, low=0),
        _o("log_interval", "int", 100, "steps between training log lines", low=1),
        _o("seed", "int", 42, "seed of numpy, random and mindspore", low=0),
        _o("device_target", "str", None, "Ascend, GPU or CPU; None: the device this MindSpore build runs on",
           choices=DEVICE_TARGETS, nullable=True),
        _o("jit_level", "str", None, "graph compile level (MindSpore 2.10: O0, O1 experimental; O2 = GE backend, "
           "Ascend only, deprecated since 2.9); None: O0 on every device", choices=JIT_LEVELS, nullable=True),
        _o("dp_mode", "str", "graph", "data parallelism with distribute: graph (graph-mode auto-parallel "
           "DATA_PARALLEL) or pynative (PyNative mode, the train step compiled by mindspore.jit, gradients "
           "averaged by nn.DistributedGradReducer)", choices=DP_MODES),
    ]),
    ("Dataset", [
        _o("dataset", "str", "imagenet", "dataset name: imagenet / folder (an image folder tree "
           "<data_dir>/<split>/<class>/<image>), digits (the embedded demo set), or a public dataset in its "
           "published files: mnist, cifar10, cifar100 (binary version), flowers102, pets (Oxford-IIIT Pet)"),
        _o("data_dir", "str", "./", "dataset root directory"),
        _o("train_split", "str", "train", "sub-directory / split used for training (public datasets: train; "
           "flowers102 and pets: their published train + val lists)"),
        _o("val_split", "str", "val", "sub-directory / split used for validation (public datasets: val or test, "
           "both read the published test split)"),
        _o("dataset_download", "bool", False, "download a public dataset (mnist, cifar10, cifar100, flowers102, "
           "pets) into data_dir once: the publisher's files, checked against their published MD5, resumable, "
           "extracted in place; MINDCV_MIRROR and MINDCV_OFFLINE apply as for pretrained weights"),
        _o("num_parallel_workers", "int", 8, "data-loading worker threads", low=1),
        _o("shuffle", "bool", True, "shuffle the training set"),
        _o("num_samples", "int", None, "use only this many samples; None: all", nullable=True, low=1),
        _o("batch_size", "int", 128, "batch size per device", low=1),
        _o("drop_remainder", "bool", True, "drop the last incomplete training batch"),
        _o("max_image_pixels", "int", DEFAULT_MAX_IMAGE_PIXELS, "largest image (width x height declared in its "
           "header) read in training, validation and infer.py; a larger one is refused before decoding (a "
           "decompression bomb) and skipped or reported like a corrupt image", low=1),
        _o("aug_repeats", "int", 0, "repeated augmentation (DeiT, as MindCV): each image of an epoch is read this "
           "many times, the copies spread over the devices and augmented independently; the epoch keeps its "
           "length, so it covers 1/aug_repeats of the images (a new draw each epoch); 0 or 1: off", low=0),
    ]),
    ("Augmentation", [
        _o("image_resize", "int", 224, "training crop / evaluation image size", low=1),
        _o("scale", "float_pair", (0.08, 1.0), "RandomResizedCrop area range", low=0, high=1, interval="(]"),
        _o("ratio", "float_pair", (0.75, 1.333), "RandomResizedCrop aspect-ratio range", low=0, interval="(]"),
        _o("hflip", "float", 0.5, "horizontal flip probability", low=0, high=1),
        _o("vflip", "float", 0.0, "vertical flip probability", low=0, high=1),
        _o("color_jitter", "color_jitter", 0.4, "colour jitter (ignored when auto_augment is set): a number b "
           "(brightness, contrast and saturation factors drawn from [max(0, 1 - b), 1 + b]), or 3 or 4 numbers "
           "[brightness, contrast, saturation(, hue: shift drawn from [-hue, hue], hue <= 0.5)]; None: off",
           nullable=True),
        _o("interpolation", "str", "bilinear", "resize interpolation", choices=INTERPOLATIONS),
        _o("auto_augment", "str", None, "policy, e.g. randaug-m9-mstd0.5, randaug-m9-mstd0.5-inc1, "
           "autoaug-mstd0.5, trivialaugwide; None: off", nullable=True),
        _o("aug_splits", "int", 0, "AugMix-style splits for loss jsd: each training image gives this many views "
           "(one crop and flip): a clean one (only normalised) and aug_splits - 1 with auto_augment or "
           "color_jitter and random erasing; a step trains on batch_size x aug_splits rows (MindCV uses 3); "
           "0 or 1: off", low=0),
        _o("re_prob", "float", 0.0, "random erasing probability", low=0, high=1),
        _o("re_scale", "float_pair", (0.02, 0.33), "random erasing area range", low=0, high=1),
        _o("re_ratio", "float_pair", (0.3, 3.3), "random erasing aspect-ratio range", low=0, interval="(]"),
        _o("re_value", "erase_value", 0, "random erasing fill: a number, 3 numbers, or random"),
        _o("re_max_attempts", "int", 10, "random erasing attempts per image", low=1),
        _o("mean", "float_list", IMAGENET_DEFAULT_MEAN, "per-channel mean (0-255 scale)"),
        _o("std", "float_list", IMAGENET_DEFAULT_STD, "per-channel std (0-255 scale)", low=0, interval="(]"),
        _o("crop_pct", "float", 0.875, "evaluation centre-crop fraction: the short side is resized to image_resize / "
           "crop_pct, then the centre image_resize x image_resize is cropped; above 1 (MindCV's volo_d4 uses 1.15) "
           "the crop is larger than the resized image and padded with zeros, as in MindCV and timm; at most 2 "
           "(a larger value is more likely a percentage typed by mistake)", low=0, high=MAX_CROP_PCT, interval="(]"),
        _o("mixup", "float", 0.0, "mixup Beta(alpha, alpha); 0: off", low=0),
        _o("cutmix", "float", 0.0, "cutmix Beta(alpha, alpha); 0: off", low=0),
        _o("cutmix_prob", "float", 1.0, "probability of applying mixup/cutmix to a batch", low=0, high=1),
    ]),
    ("Model", [
        _o("model", "str", "mixnet_s", "model name (mixnet_s, mixnet_m, mixnet_l)"),
        _o("num_classes", "int", None, "number of classes; None: from the dataset", nullable=True, low=1),
        _o("in_channels", "int", 3, "input image channels", low=1),
        _o("drop_rate", "float", None, "dropout before the classifier; None: the model's default",
           nullable=True, low=0, high=1, interval="[)"),
        _o("drop_path_rate", "float", None, "stochastic depth rate; None: the model's default",
           nullable=True, low=0, high=1, interval="[)"),
        _o("mixconv_impl", "str", None, "how the MixConv layers run: split (MindCV's form), fused (one conv per "
           "MixConv, for Ascend), native (CPU: one C++ operator per MixConv), auto (native on CPU, fused on "
           "Ascend, split on GPU); None: the model's default (auto). Checkpoints are the same for all",
           choices=MIXCONV_IMPLS, nullable=True),
        _o("eval_form", "str", "auto", "how validate.py and infer.py run a checkpoint: auto (on CPU, a MixNet or "
           "MobileNet with mixconv_impl auto/native at val_amp_level O0 runs its inference form: BatchNorm folded "
           "into the convolutions, channels-last native operators, the same logits to float32 rounding, 2-4x faster), model "
           "(the model's own graph)", choices=EVAL_FORMS),
        _o("pretrained", "bool", False, "start from the published ImageNet weights"),
        _o("ckpt_path", "str", "", "initial weights from this checkpoint file"),
        _o("resume", "str", "", "resume training: a checkpoint path, or auto for the latest in ckpt_save_dir"),
        _o("force_resume", "bool", False, "resume even when options that the saved state depends on (model, data, "
           "batch size, devices, schedule, optimizer, ...) differ from the run's config.yaml; the differences are "
           "logged as warnings"),
        _o("resume_opt", "bool", False, "with ckpt_path (MindCV's way to continue a run): also restore the optimizer "
           "state (moments, global step; loss scale and EMA when present) from that checkpoint, or else from "
           "MindCV's optim_<model>.ckpt in ckpt_save_dir, and continue where its global step stands on this run's "
           "schedule, up to epoch_size epochs in all (MindCV trains epoch_size more)"),
        _o("keep_checkpoint_max", "int", 10, "checkpoints kept", low=1),
        _o("ckpt_save_dir", "str", "./ckpt", "output directory (checkpoints, logs, effective config)"),
        _o("ckpt_save_interval", "int", 1, "epochs between checkpoints", low=1),
        _o("ckpt_save_steps", "int", 0, "batches between recovery checkpoints (<model>-recovery.ckpt, only the "
           "newest kept; --resume auto continues from it at the exact next batch); 0: off", low=0),
        _o("ckpt_save_policy", "str", "latest_k", "which checkpoints to keep: latest_k, or top_k "
           "(by validation accuracy; needs val_while_train)", choices=CKPT_SAVE_POLICIES),
        _o("epoch_size", "int", 90, "training epochs", low=1),
        _o("dataset_sink_mode", "bool", True, "feed data through the device queue"),
        _o("ema", "bool", False, "train: keep an exponential moving average of the weights; validate/infer/export: "
           "use the checkpoint's EMA weights (ema.*)"),
        _o("ema_decay", "float", 0.9999, "EMA decay", low=0, high=1),
        _o("clip_grad", "bool", False, "clip gradients by global norm"),
        _o("clip_value", "float", 15.0, "global-norm clipping threshold", low=0, interval="(]"),
        _o("gradient_accumulation_steps", "int", 1, "batches accumulated per update", low=1),
    ]),
    ("Optimizer", [
        _o("opt", "str", "adam", "optimizer; nesterov is momentum with Nesterov momentum; lion (Chen et al. 2023), "
           "nadam (Dozat 2016) and adan (Xie et al. 2022) keep their papers' betas", choices=OPTIMIZERS),
        _o("momentum", "float", 0.9, "momentum (sgd, momentum, nesterov, rmsprop)", low=0),
        _o("weight_decay", "float", 1e-6, "weight decay: L2 (added to the gradient) for sgd, momentum, nesterov, "
           "adam, nadam, rmsprop, adagrad; decoupled for adamw, lion, lamb; proximal for adan", low=0),
        _o("use_nesterov", "bool", False, "Nesterov momentum (sgd, momentum, adam)"),
        _o("weight_decay_filter", "str", "disable", "disable: decay every parameter; auto: MindSpore's filter "
           "(not names containing beta/gamma); norm_and_bias: not norm layers or biases",
           choices=WEIGHT_DECAY_FILTERS),
        _o("filter_bias_and_bn", "bool", None, "deprecated MindCV key: true means weight_decay_filter "
           "norm_and_bias, false means disable", nullable=True),
        _o("eps", "float", 1e-10, "rmsprop epsilon", low=0, interval="(]"),
    ]),
    ("Scheduler", [
        _o("scheduler", "str", "cosine_decay", "learning-rate schedule after warm-up", choices=SCHEDULERS),
        _o("lr", "float", 0.001, "peak learning rate", low=0),
        _o("lr_base_batch", "int", None, "global batch that lr is meant for: lr is scaled linearly to the run's "
           "global batch (batch_size x devices x gradient_accumulation_steps) and logged; None: lr as given "
           "(MindCV's semantics)", nullable=True, low=1),
        _o("min_lr", "float", 1e-6, "final learning rate of cosine_decay (floor of one_cycle, cyclic)", low=0),
        _o("warmup_epochs", "int", 3, "linear warm-up epochs", low=0),
        _o("warmup_factor", "float", 0.0, "warm-up starts at lr * warmup_factor", low=0),
        _o("decay_epochs", "int", 100, "cosine_decay: epochs from lr to min_lr; step_decay: epochs per step",
           low=0),
        _o("decay_rate", "float", 0.9, "factor of step/multi_step/exponential decay (power of polynomial)", low=0),
        _o("multi_step_decay_milestones", "int_list", [30, 60, 90], "multi_step_decay epochs (counted after "
           "warm-up) at which lr is multiplied by decay_rate", low=0),
        _o("lr_epoch_stair", "bool", False, "change the learning rate once per epoch instead of every step"),
        _o("num_cycles", "int", 1, "cosine_decay / cyclic cycles", low=1),
        _o("cycle_decay", "float", 1.0, "each cosine cycle's peak is this times the previous one", low=0),
    ]),
    ("Loss", [
        _o("loss", "str", "CE", "CE (softmax cross entropy), BCE (sigmoid binary cross entropy), asl_single_label / "
           "asl_multi_label (asymmetric loss, Ridnik et al. 2021: softmax / per-class sigmoid, the latter summed), "
           "jsd (cross entropy on the clean view + 12 x the Jensen-Shannon divergence among the aug_splits views, "
           "AugMix; needs aug_splits >= 2)", choices=LOSSES),
        _o("label_smoothing", "float", 0.0, "label smoothing (also applied to mixup/cutmix targets; not used by "
           "asl_multi_label, as in MindCV)", low=0, high=1, interval="[)"),
        _o("aux_factor", "float", 0.0, "weight of auxiliary-logit losses", low=0),
        _o("reduction", "str", "mean", "loss reduction over the batch (asl_multi_label always sums; jsd reduces its "
           "cross entropy so)", choices=("mean", "sum")),
    ]),
    ("Mixed precision", [
        _o("amp_level", "str", "O0", "training precision: O0 fp32, O1 white-list fp16, O2 all but black-list "
           "fp16, O3 all fp16", choices=AMP_LEVELS),
        _o("amp_dtype", "str", "float16", "low precision of amp_level O1-O3: float16, or bfloat16 (no loss "
           "scaling; Ascend only)", choices=AMP_DTYPES),
        _o("val_amp_level", "str", "O0", "precision used for validation", choices=AMP_LEVELS),
        _o("amp_cast_list", "cast_list", None, "cell classes of mindspore.nn cast to amp_dtype by amp_level O1 (its "
           "white list) or kept in float32 by O2 (its black list), e.g. \"[nn.Conv2d, nn.Dense]\" (subclasses "
           "count); None: MindSpore's lists; O0 and O3 use none", nullable=True),
        _o("loss_scale_type", "str", "fixed", "fixed, dynamic (drops overflowing steps), or auto",
           choices=LOSS_SCALE_TYPES),
        _o("loss_scale", "float", 1.0, "loss scale (the initial one when dynamic)", low=1),
        _o("drop_overflow_update", "bool", False, "skip the update of a step whose gradients overflow"),
        _o("eval_shuffle", "bool", False, "read the evaluation images (validate.py, val_while_train) in a random "
           "order drawn from seed; every count, every image's prediction and the accuracies are the same either "
           "way (the mean loss to float rounding)"),
    ]),
]

OPTIONS: Dict[str, Option] = {opt.name: opt for _, group in GROUPS for opt in group}


# ----------------------------------------------------------------------------------------------
# value conversion: one set of rules for YAML values and command-line strings
# ----------------------------------------------------------------------------------------------

def _is_null(value: Any) -> bool:
    """None, or a string meaning it (none/null/~, any case)."""
    return value is None or (isinstance(value, str) and value.strip().lower() in NULL_WORDS)


def _to_bool(value: Any) -> bool:
    """A boolean from a bool, 0/1, or a word such as true/false, yes/no, on/off."""
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise ConfigError("a boolean (true/false, yes/no, 1/0)")


def _to_float(value: Any) -> float:
    """A finite float from a number or a numeric string (PyYAML reads 1e-5 as a string)."""
    if isinstance(value, bool):
        raise ConfigError("a number")
    if isinstance(value, numbers.Real):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise ConfigError("a number") from None
    else:
        raise ConfigError("a number")
    if not math.isfinite(result):
        raise ConfigError("a finite number")
    return result


def _to_int(value: Any) -> int:
    """An int from an integer, an integral float, or such a string ("600", "1e3")."""
    if isinstance(value, bool):
        raise ConfigError("an integer")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    try:
        number = _to_float(value)
    except ConfigError:
        raise ConfigError("an integer") from None
    if not number.is_integer():
        raise ConfigError("an integer")
    return int(number)


def _to_str(value: Any) -> str:
    """A string (numbers are not silently turned into names)."""
    if not isinstance(value, str):
        raise ConfigError("a string")
    return value


SCALAR_CONVERTERS: Dict[str, Callable[[Any], Any]] = {
    "bool": _to_bool, "int": _to_int, "float": _to_float, "str": _to_str}
LIST_KINDS = {"float_pair": ("float", 2), "float_list": ("float", "+"), "int_list": ("int", "*")}


def _interval_text(opt: Option) -> str:
    """The allowed range of a numeric option, e.g. "in [0, 1)" or ">= 1"."""
    if opt.low is not None and opt.high is not None:
        return f"in {opt.interval[0]}{opt.low:g}, {opt.high:g}{opt.interval[1]}"
    if opt.low is not None:
        return (">= " if opt.interval[0] == "[" else "> ") + f"{opt.low:g}"
    return ("<= " if opt.interval[1] == "]" else "< ") + f"{opt.high:g}"


def _check_range(opt: Option, number: float) -> None:
    """Raise ConfigError when ``number`` is outside the option's bounds."""
    too_low = opt.low is not None and (number < opt.low or (opt.interval[0] == "(" and number == opt.low))
    too_high = opt.high is not None and (number > opt.high or (opt.interval[1] == ")" and number == opt.high))
    if too_low or too_high:
        raise ConfigError(f"a number {_interval_text(opt)}")


def _match_choice(opt: Option, value: Any) -> Any:
    """The canonical spelling of an allowed value (case-insensitive for names), or ConfigError."""
    for choice in opt.choices:
        if value == choice or (isinstance(value, str) and isinstance(choice, str) and value.lower() == choice.lower()):
            return choice
    listed = ", ".join(str(c) for c in opt.choices)
    close = difflib.get_close_matches(str(value), [str(c) for c in opt.choices], n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise ConfigError(f"one of: {listed}{hint}")


def _convert_scalar(opt: Option, kind: str, value: Any) -> Any:
    """Convert one scalar of ``kind`` and apply the option's range and allowed values."""
    result = SCALAR_CONVERTERS[kind](value)
    if kind in ("int", "float") and (opt.low is not None or opt.high is not None):
        _check_range(opt, result)
    if opt.choices:
        result = _match_choice(opt, result)
    return result


def _convert_erase_value(value: Any) -> Any:
    """random erasing fill: "random", a number, or 3 numbers (a 1-element list means a number)."""
    if isinstance(value, str) and value.strip().lower() == "random":
        return "random"
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            return _convert_erase_value(value[0])
        if len(value) == 3:
            return [_to_float(v) for v in value]
        raise ConfigError("a number, 3 numbers, or random")
    try:
        number = _to_float(value)
    except ConfigError:
        raise ConfigError("a number, 3 numbers, or random") from None
    return int(number) if number.is_integer() else number


def _convert_color_jitter(value: Any) -> Any:
    """color_jitter: a number, or 3 or 4 numbers (a 1-element list, as ``--color_jitter 0.4`` gives, is a number)."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return None if _is_null(value[0]) else _convert_color_jitter(value[0])
    try:
        converted = [_to_float(v) for v in value] if isinstance(value, (list, tuple)) else _to_float(value)
        color_jitter_factors(converted)
    except (ConfigError, ValueError):
        raise ConfigError(COLOR_JITTER_FORM) from None
    return converted


def _convert_cast_list(value: Any) -> str:
    """amp_cast_list: MindCV's string "[nn.Conv2d, nn.Dense]" (or a YAML list of the names), kept in that form."""
    try:
        names = parse_amp_cast_list(value)
    except ValueError:
        raise ConfigError(AMP_CAST_LIST_FORM) from None
    return "[" + ", ".join(f"nn.{name}" for name in names) + "]"


def _convert_list(opt: Option, value: Any) -> Any:
    """A list option: a YAML list / tuple of the element kind with the required length."""
    element, length = LIST_KINDS[opt.kind]
    what = {2: "a list of 2", "+": "a list of 1 or more", "*": "a list of"}[length] + f" {element}s"
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ConfigError(f"{what}, e.g. [{', '.join(str(v) for v in _as_list(opt.default))}]")
    if (length == 2 and len(value) != 2) or (length == "+" and not value):
        raise ConfigError(what)
    try:
        items = [_convert_scalar(opt, element, v) for v in value]
    except ConfigError as err:
        raise ConfigError(f"{what}, each {err}") from None
    return tuple(items) if opt.kind == "float_pair" else items


def _as_list(value: Any) -> list:
    """A list from a list/tuple value."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def convert_value(opt: Option, value: Any) -> Any:
    """The checked, normalised value of ``opt`` (raises ConfigError describing what was expected)."""
    if _is_null(value) and (opt.nullable or value is None):
        if opt.nullable:
            return None
        raise ConfigError(f"a {opt.kind} value, not null")
    if opt.kind == "erase_value":
        return _convert_erase_value(value)
    if opt.kind == "color_jitter":
        return _convert_color_jitter(value)
    if opt.kind == "cast_list":
        return _convert_cast_list(value)
    if opt.kind in LIST_KINDS:
        return _convert_list(opt, value)
    return _convert_scalar(opt, opt.kind, value)


def _describe_error(where: str, name: str, value: Any, err: ConfigError) -> str:
    """A one-line message naming the place, the key, the value and what was expected."""
    return f"{where}: option '{name}' expects {err}, got {value!r}"


# ----------------------------------------------------------------------------------------------
# YAML files
# ----------------------------------------------------------------------------------------------

# names other projects (timm, PyTorch recipes) use for our options: suggested before spelling matches
SYNONYMS = {
    "learning_rate": "lr", "base_lr": "lr", "epochs": "epoch_size", "num_epochs": "epoch_size",
    "optimizer": "opt", "lr_scheduler": "scheduler", "sched": "scheduler", "data_path": "data_dir",
    "data_root": "data_dir", "output_dir": "ckpt_save_dir", "output": "ckpt_save_dir",
    "img_size": "image_resize", "image_size": "image_resize", "input_size": "image_resize",
    "smoothing": "label_smoothing", "nesterov": "use_nesterov", "workers": "num_parallel_workers",
    "model_name": "model", "arch": "model", "drop": "drop_rate", "drop_path": "drop_path_rate",
    "warmup_lr": "warmup_factor", "model_ema": "ema", "model_ema_decay": "ema_decay", "aa": "auto_augment",
    "reprob": "re_prob", "mixup_alpha": "mixup", "cutmix_alpha": "cutmix", "mixup_prob": "cutmix_prob",
    "clip_grad_norm": "clip_value", "amp": "amp_level", "resume_from": "resume", "checkpoint": "ckpt_path",
}


def _closest_key(key: str) -> str:
    """' (did you mean X?)' for a known synonym or the nearest known option name, or ''."""
    name = str(key).lstrip("-")
    if name in SYNONYMS:
        return f" (did you mean '{SYNONYMS[name]}'?)"
    close = difflib.get_close_matches(name, list(OPTIONS), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _read_yaml(path: str) -> dict:
    """The mapping in a YAML file (an empty file is an empty mapping)."""
    if os.path.isdir(path):
        raise ConfigError(f"config file {path} is a directory: pass a YAML recipe such as "
                          f"configs/mixnet/mixnet_s_demo.yaml to -c")
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text (saved in another encoding?): save it as UTF-8") from None
    except OSError as err:
        raise ConfigError(f"cannot read the config file {path}: {err.strerror or err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of option: value at the top level, "
                          f"got a {type(data).__name__}")
    return data


def _all_options(extra: Sequence[Option] = ()) -> Dict[str, Option]:
    """The shared option table plus a script's own options, by name."""
    return {**OPTIONS, **{opt.name: opt for opt in extra}}


def load_config(path: str, extra_options: Sequence[Option] = ()) -> Dict[str, Any]:
    """The options a YAML recipe sets, checked and normalised (raises ConfigError naming key and file).

    ``extra_options``: a script's own options, accepted as keys too.
    """
    known = _all_options(extra_options)
    values = {}
    for key, value in _read_yaml(path).items():
        if key not in known:
            raise ConfigError(f"{path}: unknown key '{key}'{_closest_key(key)}; run with --help for the options")
        try:
            values[key] = convert_value(known[key], value)
        except ConfigError as err:
            raise ConfigError(_describe_error(path, key, value, err)) from None
    return values


# ----------------------------------------------------------------------------------------------
# argparse
# ----------------------------------------------------------------------------------------------

def _cli_type(opt: Option) -> Callable[[str], Any]:
    """argparse ``type=`` for one command-line token of ``opt``."""
    def convert(text: str) -> Any:
        try:
            if opt.kind in LIST_KINDS:
                return _convert_scalar(opt, LIST_KINDS[opt.kind][0], text)
            if opt.kind == "erase_value":
                return text if text.strip().lower() == "random" else _to_float(text)
            if opt.kind == "color_jitter":
                return None if _is_null(text) else _to_float(text)
            if opt.kind == "cast_list":
                return text
            return convert_value(opt, text)
        except ConfigError as err:
            raise argparse.ArgumentTypeError(f"expects {err}, got {text!r}") from None
    convert.__name__ = opt.kind
    return convert


def _add_option(group: argparse._ArgumentGroup, opt: Option) -> None:
    """Register ``--name`` for one option."""
    kwargs: Dict[str, Any] = dict(type=_cli_type(opt), default=opt.default, help=opt.help)
    if opt.kind == "bool":
        kwargs.update(nargs="?", const=True, metavar="BOOL")
    elif opt.kind in LIST_KINDS:
        kwargs.update(nargs=LIST_KINDS[opt.kind][1], metavar=LIST_KINDS[opt.kind][0].upper())
    elif opt.kind == "erase_value":
        kwargs.update(nargs="+", metavar="VALUE")
    elif opt.kind == "color_jitter":
        kwargs.update(nargs="+", metavar="FACTOR")
    if opt.choices:
        kwargs["metavar"] = "{" + ",".join(str(c) for c in opt.choices) + "}"
    group.add_argument(f"--{opt.name}", *[f"--{alias}" for alias in opt.aliases], dest=opt.name, **kwargs)


def _config_parser() -> argparse.ArgumentParser:
    """The first-pass parser that only knows -c/--config."""
    parser = ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("-c", "--config", type=str, default="",
                        help="YAML recipe whose keys override the defaults (the command line overrides it)")
    return parser


def create_parser(tool: Optional[ToolOptions] = None) -> argparse.ArgumentParser:
    """The full parser: -c/--config plus one --option per entry of the option table, in groups.

    ``tool``: a script's own options (listed first, in their own group) and positional argument.
    """
    positional = f" {tool.positional_metavar or tool.positional.upper()} [...]" if tool and tool.positional else ""
    parser = ArgumentParser(
        prog=tool.prog if tool else None,
        description=tool.description if tool else "MixNet training and evaluation (MindCV's options; a YAML "
                                                   "recipe via -c)",
        usage="%(prog)s [-h] [-c CONFIG] [--option VALUE ...]" + positional,
        parents=[_config_parser()], allow_abbrev=False,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    if tool is not None:
        group = parser.add_argument_group(tool.title)
        if tool.positional:
            group.add_argument(tool.positional, nargs="+", metavar=tool.positional_metavar or None,
                               help=tool.positional_help)
        for opt in tool.options:
            _add_option(group, opt)
    for title, options in GROUPS:
        group = parser.add_argument_group(title)
        for opt in options:
            _add_option(group, opt)
    return parser


def _unknown_args_message(extras: Sequence[str]) -> str:
    """'unrecognized arguments' with the closest known option for each unknown --flag."""
    flags = [token for token in extras if token.startswith("-")]
    if not flags:
        return "unexpected values (no option takes them): " + " ".join(extras)
    parts = []
    for token in flags:
        name = token.lstrip("-").split("=", 1)[0]
        close = difflib.get_close_matches(name, list(OPTIONS), n=1, cutoff=0.6)
        parts.append(token + (f" (did you mean --{close[0]}?)" if close else ""))
    return "unrecognized options: " + ", ".join(parts)


def _check_combinations(args: argparse.Namespace) -> None:
    """Cross-option rules (MindCV raises these only once training has started)."""
    if args.loss_scale_type == "dynamic" and not args.drop_overflow_update:
        raise ConfigError("loss_scale_type 'dynamic' always drops overflowing steps: set drop_overflow_update "
                          "true (or use loss_scale_type 'fixed')")
    if args.ckpt_save_policy == "top_k" and not args.val_while_train:
        raise ConfigError("ckpt_save_policy 'top_k' ranks checkpoints by validation accuracy: set "
                          "val_while_train true (or use ckpt_save_policy 'latest_k')")
    if len(args.mean) != len(args.std):
        raise ConfigError(f"mean and std need one value per channel each, got {len(args.mean)} and {len(args.std)}")
    if args.auto_augment is not None:
        try:
            parse_auto_augment(args.auto_augment)
        except ValueError as err:
            raise ConfigError(f"option 'auto_augment': {err}") from None
    _check_aug_splits(args)
    if args.resume_opt and not args.ckpt_path and not args.resume:
        raise ConfigError("resume_opt restores the optimizer state that goes with ckpt_path's weights: set ckpt_path "
                          "to a training checkpoint (or use --resume auto / --resume FILE)")
    if args.amp_cast_list is not None and args.amp_level in ("O0", "O3"):
        logger.warning("amp_cast_list %s has no effect with amp_level %s (as in MindCV): it lists the cells O1 casts "
                       "or O2 keeps in float32", args.amp_cast_list, args.amp_level)


def _check_aug_splits(args: argparse.Namespace) -> None:
    """aug_splits >= 2 and loss jsd go together, and the extra views need an augmentation to differ."""
    splits = args.aug_splits >= 2
    if splits and args.loss != "jsd":
        raise ConfigError(f"aug_splits {args.aug_splits} makes {args.aug_splits} views of each image for the loss "
                          f"jsd, not {args.loss}: set loss jsd (or aug_splits 0)")
    if args.loss == "jsd" and not splits:
        raise ConfigError(f"loss jsd compares several views of each image: set aug_splits 2 or more (MindCV: 3), "
                          f"not {args.aug_splits}, or use loss CE")
    if splits and not args.auto_augment and args.color_jitter is None:
        raise ConfigError("aug_splits needs an augmentation that makes its views differ: set auto_augment (e.g. "
                          "randaug-m9-mstd0.5, as MindCV requires) or color_jitter")


def _apply_deprecated(args: argparse.Namespace) -> None:
    """Map MindCV's old ``filter_bias_and_bn`` onto ``weight_decay_filter``."""
    if args.filter_bias_and_bn is None:
        return
    mapped = "norm_and_bias" if args.filter_bias_and_bn else "disable"
    if args.weight_decay_filter not in ("disable", mapped):
        raise ConfigError(f"filter_bias_and_bn {args.filter_bias_and_bn} contradicts weight_decay_filter "
                          f"'{args.weight_decay_filter}': keep only weight_decay_filter")
    if args.weight_decay_filter != mapped:
        logger.warning("filter_bias_and_bn is deprecated: using weight_decay_filter '%s' for it", mapped)
    args.weight_decay_filter = mapped


def validate_args(args: argparse.Namespace, extra_options: Sequence[Option] = ()) -> argparse.Namespace:
    """Normalise every option of a parsed Namespace and check cross-option rules (raises ConfigError)."""
    for name, opt in _all_options(extra_options).items():
        value = getattr(args, name)
        try:
            setattr(args, name, convert_value(opt, value))
        except ConfigError as err:
            raise ConfigError(_describe_error("config", name, value, err)) from None
    _apply_deprecated(args)
    _check_combinations(args)
    return args


def parse_args(argv: Optional[Sequence[str]] = None, tool: Optional[ToolOptions] = None) -> argparse.Namespace:
    """Options from the defaults, then the YAML file of -c/--config, then the command line.

    ``tool``: a script's own options and positional argument (validate.py, infer.py, export.py).
    Errors (unknown keys or flags, bad values) raise ConfigError with a one-line message; ``--help`` exits.
    """
    parser = create_parser(tool)
    extra = tuple(tool.options) if tool else ()
    argv = list(sys.argv[1:] if argv is None else argv)
    first, remaining = _config_parser().parse_known_args(argv)
    from_file = load_config(first.config, extra) if first.config else {}
    parser.set_defaults(**from_file)
    if tool is not None and tool.positional:  # values of the positional may sit between options
        args, extras = parser.parse_known_intermixed_args(remaining)
    else:
        args, extras = parser.parse_known_args(remaining)
    if extras:
        raise ConfigError(_unknown_args_message(extras))
    args.config = first.config
    args.explicit_options = sorted(set(from_file) | _flags_given(remaining, extra))
    return validate_args(args, extra)


def _flags_given(tokens: Sequence[str], extra: Sequence[Option]) -> set:
    """Names of the options whose --flag (or an alias) appears among the command-line tokens."""
    spellings = {}
    for opt in _all_options(extra).values():
        for name in (opt.name,) + tuple(opt.aliases):
            spellings[name] = opt.name
    given = set()
    for token in tokens:
        if token.startswith("--"):
            name = token[2:].split("=", 1)[0]
            if name in spellings:
                given.add(spellings[name])
    return given


# ----------------------------------------------------------------------------------------------
# saving and showing
# ----------------------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """A YAML-friendly copy (tuples become lists)."""
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def _yaml_inline(value: Any) -> str:
    """One value in YAML's inline form (lists as [a, b]), quoted where YAML would misread it."""
    text = yaml.safe_dump(_plain(value), default_flow_style=True, width=1 << 20)
    if text.endswith("\n...\n"):  # the end-of-document marker PyYAML adds after a bare scalar
        text = text[: -len("\n...\n")]
    return text.strip()


def config_to_yaml(args: argparse.Namespace) -> str:
    """Every option of ``args`` as a commented YAML recipe, in the option table's order."""
    lines = ["# Effective configuration, written by config.py. Reproduce with: python train.py -c <this file>"]
    for title, options in GROUPS:
        lines += ["", f"# {title}"] + [f"{opt.name}: {_yaml_inline(getattr(args, opt.name))}" for opt in options]
    return "\n".join(lines) + "\n"


# options that say how a run was started, not what it is: a saved config.yaml holds their defaults, so that
# `train.py -c config.yaml` reproduces the run from its beginning
RUN_START_OPTIONS = ("resume", "force_resume")
# options a resumed run may change (each change logged): how long it runs, how it is watched, saved, fed and
# compiled, where the data lies. Every other option defines what the saved state means (model and its variant,
# data and augmentation, image size, batch size, schedule, optimizer, loss, precision, seed, ...).
RESUME_MAY_CHANGE = frozenset({
    "epoch_size", "log_interval", "val_while_train", "val_interval", "val_split", "val_amp_level", "eval_shuffle",
    "ckpt_save_dir", "ckpt_save_interval", "ckpt_save_steps", "keep_checkpoint_max", "ckpt_save_policy",
    "num_parallel_workers", "dataset_sink_mode", "mode", "jit_level", "device_target", "dp_mode", "distribute",
    "data_dir", "max_image_pixels", "precise_bn", "eval_form",
} | set(RUN_START_OPTIONS))


def save_config(args: argparse.Namespace, path: str) -> str:
    """Write the effective configuration as YAML, atomically; loading it with -c gives ``args`` back (but for
    RUN_START_OPTIONS, saved with their defaults: the file describes the run, not this start of it)."""
    args = argparse.Namespace(**{**vars(args), **{name: OPTIONS[name].default for name in RUN_START_OPTIONS}})
    try:
        return atomic_write_text(path, config_to_yaml(args))
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}; choose another ckpt_save_dir") from err


def _saved_options(path: str) -> Dict[str, Any]:
    """Every option's value in a run's saved config.yaml (the default where a key is missing; keys of other
    versions ignored); an unreadable file is a ConfigError naming it."""
    try:
        data = _read_yaml(path)
    except ConfigError as err:
        raise ConfigError(f"cannot compare this run's options with the run's: {err}; restore {path}, or pass "
                          f"--force_resume True to resume without comparing") from None
    saved = {}
    for name, opt in OPTIONS.items():
        try:
            saved[name] = convert_value(opt, data[name]) if name in data else opt.default
        except ConfigError:
            saved[name] = data[name]
    return saved


def check_resume_options(args: argparse.Namespace, saved_path: str,
                         facts: Sequence[Tuple[str, Any, Any]] = ()) -> None:
    """Compare a resumed run's options with the run's saved config.yaml: changes of RESUME_MAY_CHANGE options
    are logged; any other change, or a differing fact (name, the run's value, this run's value; e.g. the device
    count), is a ConfigError listing them all, unless ``args.force_resume`` (then a warning)."""
    force = getattr(args, "force_resume", False)
    try:
        saved = _saved_options(saved_path)
    except ConfigError as err:
        if not force:
            raise
        logger.warning("force_resume: options not compared: %s", err)
        return
    refused = [(name, value, now) for name, value, now in facts if value != now]
    for name in OPTIONS:
        old, new = _plain(saved[name]), _plain(getattr(args, name))
        if name in RUN_START_OPTIONS or old == new:
            continue
        if name in RESUME_MAY_CHANGE:
            logger.info("resume: %s %s -> %s (may change when resuming)", name, _yaml_inline(old), _yaml_inline(new))
        else:
            refused.append((name, old, new))
    if not refused:
        return
    listing = "; ".join(f"{name} {_yaml_inline(old)} in the run, {_yaml_inline(new)} now" for name, old, new in refused)
    if force:
        logger.warning("force_resume: resuming the run of %s although the saved state depends on what changed: %s",
                       saved_path, listing)
        return
    raise ConfigError(f"resume: this command changes what the run's saved state depends on ({listing}; the run's "
                      f"options are in {saved_path}): resume with the run's options, start a new run in another "
                      f"--ckpt_save_dir, or pass --force_resume True if you mean it")


def format_config(args: argparse.Namespace) -> str:
    """The configuration as aligned ``key: value`` lines by group, '*' marking values changed from the default."""
    width = max(len(name) for name in OPTIONS)
    lines = [f"config file: {getattr(args, 'config', '') or '(none)'}   (* = changed from the default)"]
    for title, options in GROUPS:
        lines.append(f"[{title}]")
        for opt in options:
            value = getattr(args, opt.name)
            mark = "*" if _plain(value) != _plain(opt.default) else " "
            lines.append(f" {mark} {opt.name.ljust(width)} : {_plain(value)}")
    return "\n".join(lines)


def _markdown_default(opt: Option) -> str:
    """An option's default as shown in the reference table."""
    value = _plain(opt.default)
    if value is None:
        return "None"
    if isinstance(value, list):
        return " ".join(str(round(v, 6)) if isinstance(v, float) else str(v) for v in value)
    if value == "":
        return '""'
    return str(value)


def options_markdown() -> str:
    """The option reference as a Markdown table (option, default, meaning), grouped."""
    rows = ["| option | default | meaning |", "| --- | --- | --- |"]
    for title, options in GROUPS:
        rows.append(f"| **{title}** | | |")
        for opt in options:
            meaning = opt.help + (f" (one of: {', '.join(map(str, opt.choices))})" if opt.choices else "")
            rows.append(f"| `--{opt.name}` | `{_markdown_default(opt)}` | {meaning.replace('|', '/')} |")
    return "\n".join(rows)


OPTIONS_DOC_HEADER = """# Options

`python train.py -c RECIPE.yaml [--option VALUE ...]` (and `validate.py`, `infer.py`, `export.py`): built-in
defaults < YAML recipe < command line. Booleans take `true/false`, `yes/no`, `1/0` (`--flag` alone means true;
unlike MindCV, `--flag False` means False); list options take several values (`--scale 0.5 1.0`); `None`/`null`
clears nullable options. An unknown key or flag and a value of the wrong type or range are errors that name the
key, the value and the closest known key (`learning_rate` -> `lr`). The effective configuration is logged and
saved as `config.yaml` beside the checkpoints. Every option of MindCV 0.3.0's `config.py` is here and does what
it does in MindCV, except `layer_decay` (layer-wise learning-rate decay, for fine-tuning ViTs), an unknown key here.

This file is generated: `python config.py > docs/options.md` (a test keeps it equal to the option table).
"""


def options_document() -> str:
    """docs/options.md: the header and the option table."""
    return OPTIONS_DOC_HEADER + "\n" + options_markdown() + "\n"


if __name__ == "__main__":
    print(options_document(), end="")
