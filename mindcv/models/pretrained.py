"""Pretrained weights: download into the cache, adapt head and stem, load and report.

A model's ``default_cfg`` describes its published weights: ``url`` (empty when none are published),
optional ``sha256``, ``num_classes`` of the published head, ``first_conv`` and ``classifier`` cell names.
"""
import json
import math
import os
from typing import Any, Callable, Dict, List, Mapping, Optional

import numpy as np

from mindspore import Parameter, Tensor, nn

from ..utils.checkpoint import CheckpointError, CheckpointNotFound, load_model_weights, load_param_dict, read_checkpoint_meta
from ..utils.cli import ConfigError
from ..utils.download import download_url, get_checkpoint_dir
from ..utils.logger import get_logger

logger = get_logger(__name__)

ParamDict = Dict[str, Parameter]
FilterFn = Callable[[ParamDict], ParamDict]
SUPPORTED_IN_CHANNELS = (1, 3)


def _cfg_name(default_cfg: Mapping[str, Any], model: nn.Cell) -> str:
    """A human name for error messages: the cfg's model name, else the model class."""
    for key in ("name", "architecture", "model"):
        if default_cfg.get(key):
            return str(default_cfg[key])
    return type(model).__name__


def drop_classifier(param_dict: ParamDict, classifier: str, reason: str) -> List[str]:
    """Remove `<classifier>.weight/.bias` from `param_dict`; returns the names removed."""
    names = [n for n in (f"{classifier}.weight", f"{classifier}.bias") if n in param_dict]
    for name in names:
        del param_dict[name]
    if names:
        logger.info("Not loading the classifier (%s): %s; a new head, N(0, %g) weights and zero bias", ", ".join(names),
                    reason, NEW_HEAD_STD)
    return names


NEW_HEAD_STD = 0.01  # a new head on pretrained features starts near uniform predictions (the fine-tuning habit)


def _small_new_head(model: nn.Cell, dropped: List[str]) -> None:
    """Give the parameters of a dropped head small values: pretrained features are large, and the model's own
    initialisation would start fine-tuning from confident random logits (a loss of 10+ instead of ln C)."""
    params = {p.name: p for p in model.get_parameters()}
    for name in dropped:
        if name in params:
            param = params[name]
            value = np.zeros(param.shape, np.float32) if name.endswith(".bias") else \
                np.random.default_rng(0).normal(0.0, NEW_HEAD_STD, param.shape).astype(np.float32)
            param.set_data(Tensor(value, param.dtype))


def adapt_stem(param_dict: ParamDict, first_conv: str, in_channels: int) -> None:
    """Make the stem conv weight fit `in_channels`: 3 unchanged, 1 sums the RGB filters (keepdims)."""
    if in_channels not in SUPPORTED_IN_CHANNELS:
        raise ConfigError(f"pretrained weights support in_channels=3 (RGB) or in_channels=1 (grey: RGB filters "
                          f"summed); got in_channels={in_channels}. Use pretrained=False for other inputs")
    if in_channels == 3:
        return
    name = f"{first_conv}.weight"
    if name not in param_dict:
        raise CheckpointError(f"cannot adapt the stem to in_channels=1: the checkpoint has no '{name}' "
                              "(check default_cfg['first_conv'])")
    weight = param_dict[name].asnumpy()
    if weight.ndim != 4 or weight.shape[1] != 3:
        raise CheckpointError(f"cannot adapt the stem to in_channels=1: '{name}' has shape {weight.shape}, "
                              "expected [out, 3, kh, kw]")
    summed = weight.sum(axis=1, keepdims=True).astype(weight.dtype)
    param_dict[name] = Parameter(Tensor(summed), name=name)
    logger.info("Converted the stem conv %s from 3 input channels to 1 (summed over RGB)", name)


def _classifier_classes(param_dict: ParamDict, classifier: str) -> Optional[int]:
    """Number of classes of the checkpoint's head (rows of <classifier>.weight), None when absent."""
    weight = param_dict.get(f"{classifier}.weight")
    return int(weight.shape[0]) if weight is not None and len(weight.shape) >= 1 else None


def _fetch_pretrained(default_cfg: Mapping[str, Any], name: str) -> str:
    """Download (or find in the cache) the checkpoint of `default_cfg`; returns its local path."""
    url = default_cfg.get("url") or ""
    if not url:
        raise ConfigError(f"no pretrained weights are published for {name}: its default_cfg has no url. "
                          "Use pretrained=False, or give checkpoint_path=/path/to/your.ckpt")
    return download_url(url, root=get_checkpoint_dir(), sha256=default_cfg.get("sha256") or None)


def load_pretrained(model: nn.Cell, default_cfg: Mapping[str, Any], num_classes: int = 1000, in_channels: int = 3,
                    filter_fn: Optional[FilterFn] = None) -> nn.Cell:
    """Load the published weights described by `default_cfg` into `model` (head and stem adapted)."""
    name = _cfg_name(default_cfg, model)
    if in_channels not in SUPPORTED_IN_CHANNELS:  # fail before any download
        adapt_stem({}, default_cfg.get("first_conv", "stem_conv.0"), in_channels)
    path = _fetch_pretrained(default_cfg, name)
    param_dict = load_param_dict(path)
    adapt_stem(param_dict, default_cfg.get("first_conv", "stem_conv.0"), in_channels)
    classifier = default_cfg.get("classifier", "classifier")
    cfg_classes = int(default_cfg.get("num_classes", 1000))
    dropped: List[str] = []
    if num_classes != cfg_classes:
        dropped = drop_classifier(param_dict, classifier,
                                  f"the weights have {cfg_classes} classes, the model {num_classes}")
    if filter_fn is not None:
        param_dict = filter_fn(param_dict)
    load_model_weights(model, param_dict, strict=True, allow_missing=dropped, source=path)
    _small_new_head(model, dropped)
    logger.info("Loaded pretrained weights of %s from %s", name, path)
    return model


def load_checkpoint_path(model: nn.Cell, checkpoint_path: str, num_classes: Optional[int] = None,
                         in_channels: Optional[int] = None, use_ema: bool = False, classifier: str = "classifier",
                         first_conv: str = "stem_conv.0", strict: bool = True) -> nn.Cell:
    """Load a user's checkpoint file (create_model(checkpoint_path=...)).

    When `num_classes` is given and the checkpoint's head has another number of classes, the head is
    dropped (fine-tuning) and logged; with in_channels=1 a 3-channel stem is summed over RGB; every other
    difference is an error.
    """
    path = os.path.expanduser(os.fspath(checkpoint_path))
    if not os.path.exists(path):
        raise CheckpointNotFound(f"checkpoint_path not found: {path}")
    check_variant(model, read_checkpoint_meta(path), path)  # converted weights need their variant's structure
    param_dict = load_param_dict(path, use_ema=use_ema)
    stem = param_dict.get(f"{first_conv}.weight")
    if in_channels == 1 and stem is not None and len(stem.shape) == 4 and stem.shape[1] == 3:
        adapt_stem(param_dict, first_conv, 1)
    dropped: List[str] = []
    ckpt_classes = _classifier_classes(param_dict, classifier)
    if num_classes is not None and ckpt_classes is not None and ckpt_classes != num_classes:
        dropped = drop_classifier(param_dict, classifier,
                                  f"{path} has {ckpt_classes} classes, the model {num_classes}")
    load_model_weights(model, param_dict, strict=strict, allow_missing=dropped, source=path)
    _small_new_head(model, dropped)
    return model


# The structural options a converted checkpoint must share with the model it is loaded into.
CHECKED_OPTIONS = ("arch", "width_multiplier", "repeat_multiplier", "se_act", "padding", "bn_eps", "feature_size")


def _same_value(a: Any, b: Any) -> bool:
    """Equality with a relative tolerance for floats (1e-3 == 0.001)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-6)
    return a == b


def check_variant(model: nn.Cell, meta: Mapping[str, Any], path: str) -> None:
    """Raise CheckpointError when the checkpoint at ``path`` (metadata ``meta``) records structural options
    that ``model`` does not have. Checkpoints without ``variant_options`` and models without them pass."""
    recorded = meta.get("variant_options")
    options = getattr(model, "variant_options", None)
    if recorded is None or not isinstance(options, dict):
        return
    try:
        recorded = json.loads(recorded) if isinstance(recorded, str) else dict(recorded)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: its variant_options metadata is not valid JSON ({exc}): {recorded!r}") from exc
    diffs = [(k, recorded[k], options[k]) for k in CHECKED_OPTIONS
             if k in recorded and k in options and not _same_value(recorded[k], options[k])]
    if not diffs:
        return
    needed = meta.get("model_name") or "the variant it was converted for"
    listing = ", ".join(f"{k}={want!r} (this model: {have!r})" for k, want, have in diffs)
    raise CheckpointError(
        f"{path} holds weights of {needed}, whose structure differs from this model's: {listing}. "
        f"Load it with create_model('{needed}', checkpoint_path=...) (or --model {needed})")
