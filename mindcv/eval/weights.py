"""The weights to evaluate: a checkpoint file or the published weights, read, checked against the options, and
loaded strictly into the model they belong to (every parameter present, shapes equal)."""
import argparse
import os
from typing import Any, Dict, Optional

import mindspore as ms
from mindspore.nn.utils import no_init_parameters

from ..engine.context import prepare_native_operators
from ..models import create_model, get_pretrained_cfg, is_model, list_models
from ..models.convert import check_variant
from ..models.convert_imgclsmob import eval_settings_for
from ..models.inference import inference_blocker, to_inference
from ..models.weights_doc import eval_settings
from ..utils.checkpoint import has_ema, load_model_weights, read_checkpoint, select_ema
from ..utils.download import DownloadError, download_url, get_checkpoint_dir
from ..utils.logger import get_logger
from ..engine import EvalStep
from .base import EVAL_OPTIONS, EvalError, Weights, checkpoint_class_names
from .exported import ExportedEvalStep, apply_exported_settings, exported_format, open_exported, resolve_exported

logger = get_logger(__name__)

__all__ = ["EvalError", "Weights", "resolve_weights", "build_eval_model", "classifier_name", "checkpoint_class_names",
           "hint_run_config", "apply_weights_eval_settings", "EVAL_OPTIONS", "make_eval_step"]


def _pretrained_path(model: str) -> str:
    """The local file of the published weights of ``model`` (downloaded into the cache when missing)."""
    if not is_model(model):
        raise EvalError(f"unknown model {model!r} (--model); registered models: {', '.join(list_models())}")
    cfg = get_pretrained_cfg(model) or {}
    if not cfg.get("url"):
        published = ", ".join(list_models(pretrained=True)) or "none"
        raise EvalError(f"no published weights for {model} (--pretrained True); models with published weights: "
                        f"{published}. Pass --ckpt_path FILE instead")
    try:
        return download_url(cfg["url"], root=get_checkpoint_dir(), sha256=cfg.get("sha256") or None)
    except DownloadError as err:
        raise EvalError(f"cannot fetch the published weights of {model}: {err}") from err


def _checkpoint_path(path: str) -> str:
    """``--ckpt_path`` checked: an existing file (a directory or a missing path is an error naming it)."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        found = sorted(f for f in os.listdir(path) if f.endswith(".ckpt"))
        hint = f"; checkpoints there: {', '.join(found[:6])}" if found else "; it holds no .ckpt file"
        raise EvalError(f"--ckpt_path {path} is a directory, expected a .ckpt file{hint}")
    if not os.path.isfile(path):
        raise EvalError(f"checkpoint file not found: {path} (--ckpt_path); nothing is evaluated with random weights")
    return path


def classifier_name(model: str) -> str:
    """Cell name of the model's classification head (``classifier`` for MixNet)."""
    return (get_pretrained_cfg(model) or {}).get("classifier", "classifier")


def _select_ema(params: Dict[str, Any], path: str, use_ema: bool) -> Dict[str, Any]:
    """The EMA weights under the plain names when asked (error when there are none), else the raw weights."""
    if use_ema and not has_ema(params):
        raise EvalError(f"--ema True but {path} holds no EMA weights (no 'ema.*' entries: it was trained without "
                        f"--ema True or saved as weights only); run without --ema True")
    if use_ema:
        return select_ema(params, source=path)
    if has_ema(params):
        logger.info("%s also holds EMA weights; pass --ema True to evaluate those instead", path)
    return params


def resolve_weights(args) -> Weights:
    """The weights named by --ckpt_path or --pretrained, read and checked against --model and --num_classes
    (an exported .onnx / .mindir file: see ``exported.resolve_exported``)."""
    if exported_format(args.ckpt_path):
        return resolve_exported(args)
    if args.ckpt_path and args.pretrained:
        raise EvalError("give either --ckpt_path FILE or --pretrained True, not both")
    if not args.ckpt_path and not args.pretrained:
        raise EvalError(f"no weights given: pass --ckpt_path FILE (a checkpoint of train.py or "
                        f"tools/avg_checkpoints.py) or --pretrained True (the published weights of {args.model}); "
                        f"a randomly initialised model is never evaluated")
    path = _pretrained_path(args.model) if args.pretrained else _checkpoint_path(args.ckpt_path)
    raw, meta = read_checkpoint(path)
    recorded = meta.get("model_name")
    if isinstance(recorded, str) and recorded and recorded != args.model:
        raise EvalError(f"{path} holds weights of {recorded} (its model_name metadata) but --model is {args.model}: "
                        f"pass --model {recorded}")
    params = _select_ema(raw, path, bool(args.ema))
    head = f"{classifier_name(args.model)}.weight"
    if head not in params or len(params[head].shape) != 2:
        raise EvalError(f"{path} has no classifier weight '{head}': it is not a checkpoint of {args.model} "
                        f"(its first entries: {', '.join(list(params)[:4])})")
    num_classes = int(params[head].shape[0])
    if args.num_classes is not None and args.num_classes != num_classes:
        raise EvalError(f"--num_classes {args.num_classes} but the classifier of {path} has {num_classes} outputs; "
                        f"omit --num_classes (the trained head is never replaced here)")
    return Weights(path, "pretrained" if args.pretrained else "checkpoint", params, meta, num_classes,
                   bool(args.ema), has_ema(raw))


def _published_settings(args, weights: Weights) -> Dict[str, Any]:
    """The eval settings the weights' accuracy was published with: for --pretrained and for converted weights
    (their metadata names the entry); {} for checkpoints of one's own training (their config.yaml holds them)."""
    if weights.origin == "pretrained":
        return {**eval_settings(get_pretrained_cfg(args.model) or {}), "weights": args.model}
    if "weights" in weights.meta or "converted_from" in weights.meta:
        return eval_settings_for(weights.meta)
    return {}


def apply_weights_eval_settings(args: argparse.Namespace, weights: Weights) -> argparse.Namespace:
    """A copy of ``args`` whose eval transforms are the weights' published ones, except for the options the user
    set (on the command line or in the -c file); logged once. An exported file brings the preprocessing it was
    exported with, and an option set to another value is an error."""
    if weights.exported:
        return apply_exported_settings(args, weights)
    published = _published_settings(args, weights)
    explicit = set(getattr(args, "explicit_options", ()))
    changed = {k: published[k] for k in EVAL_OPTIONS if k in published and k not in explicit
               and published[k] != getattr(args, k)}
    if not changed:
        return args
    logger.info("eval settings of the %s weights: %s (set an option to override it)", published.get("weights"),
                ", ".join(f"{k} {v if k not in ('mean', 'std') else [round(x, 3) for x in v]}"
                          for k, v in changed.items()))
    return argparse.Namespace(**{**vars(args), **changed})


def hint_run_config(args, weights: Weights) -> None:
    """Point at the training run's config.yaml when the checkpoint has one and no -c was given."""
    run_config = os.path.join(os.path.dirname(weights.path), "config.yaml")
    if not getattr(args, "config", "") and os.path.isfile(run_config):
        logger.warning("no -c given: the run's configuration %s holds the eval settings the model was trained for "
                       "(image_resize, crop_pct, interpolation, mean, std); pass -c %s to use them",
                       run_config, run_config)


def build_eval_model(args, weights: Weights, mixconv_impl: Optional[str] = None, form: str = "model"):
    """The model of --model with exactly the checkpoint's weights, in inference mode (for an exported file: the
    file, run by onnxruntime or nn.GraphCell, mapping an image array to the logits).

    ``mixconv_impl`` (default: --mixconv_impl) chooses how the MixConv layers run; the weights are the same.
    ``form`` ``auto`` returns the model's CPU inference form (``models.inference``) where it applies: a MixNet or
    MobileNet on CPU, MixConv ``auto``/``native`` and --val_amp_level O0; ``model`` always the model itself
    (export.py).
    """
    if weights.exported:
        return open_exported(weights)
    impl = mixconv_impl or getattr(args, "mixconv_impl", None)
    prepare_native_operators(impl)
    try:
        # no random initialisation: the strict load below sets every parameter (or fails)
        with no_init_parameters():
            model = create_model(args.model, num_classes=weights.num_classes, in_channels=args.in_channels,
                                 drop_rate=args.drop_rate, drop_path_rate=args.drop_path_rate,
                                 mixconv_impl=impl)
    except (ValueError, TypeError) as err:
        raise EvalError(f"cannot build --model {args.model}: {err}") from err
    check_variant(model, weights.meta, weights.path)
    load_model_weights(model, weights.params, strict=True, source=weights.path)
    model.set_train(False)
    amp_level = getattr(args, "val_amp_level", "O0")
    if amp_level != "O0":
        ms.amp.auto_mixed_precision(model, amp_level)
        return model
    if form == "auto" and (impl or "auto") in ("auto", "native"):
        reason = inference_blocker(model)
        if reason is None:
            logger.info("running the CPU inference form of %s (BatchNorm folded, channels-last native operators; "
                        "--eval_form model runs the model's own graph)", args.model)
            return to_inference(model)
        logger.debug("%s runs its own graph: %s", args.model, reason)
    return model


def make_eval_step(model, weights: Weights):
    """The per-batch metrics step of validate.py: a compiled ``EvalStep`` around a network, or its host-side
    equivalent around an exported file."""
    if weights.exported:
        return ExportedEvalStep(model, weights.num_classes)
    return EvalStep(model, weights.num_classes)
