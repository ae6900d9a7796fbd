"""create_optimizer: a MindSpore optimizer by MindCV's name, with MindCV's weight-decay filters.

``weight_decay_filter`` (MindCV's rule, default "disable"):

- ``disable``: every trainable parameter is decayed, BatchNorm's gamma/beta and biases included.
- ``auto``: the parameters go to MindSpore ungrouped, and MindSpore's built-in filter decays every
  parameter whose name contains neither "beta" nor "gamma" (so norm layers are spared, biases are not).
- ``norm_and_bias``: no decay on parameters whose name contains "beta", "gamma" or "bias", nor on
  those the model lists in ``model.no_weight_decay()``.

``loss_scale`` is the factor the gradients arrive multiplied by; the optimizer divides it out (and
scales its coupled weight decay to match). Pass the fixed loss scale here only when nothing else
unscales the gradients: see :func:`optimizer_loss_scale`.
"""
import contextlib
import logging
import os
from typing import Any, Dict, List, Sequence, Union

import numpy as np

import mindspore as ms
from mindspore import Parameter, Tensor, nn

from ..choices import OPTIMIZERS, WEIGHT_DECAY_FILTERS
from ..utils.cli import ConfigError, InputFileNotFound
from ..utils.logger import get_logger

from .adamw import AdamW
from .adan import Adan
from .lion import Lion
from .nadam import NAdam

__all__ = ["create_optimizer", "optimizer_loss_scale", "init_group_params", "OPTIMIZERS", "WEIGHT_DECAY_FILTERS"]

_logger = get_logger(__name__)

NO_DECAY_NAME_PARTS = ("beta", "gamma", "bias")

LearningRate = Union[float, int, Sequence[float], np.ndarray, Tensor]


def optimizer_loss_scale(loss_scale_type: str, loss_scale: float, drop_overflow_update: bool,
                         custom_train_step: bool = False) -> float:
    """The ``loss_scale`` to give the optimizer, by MindCV's rule.

    Only a fixed loss scale that never skips updates, trained through MindSpore's ``Model`` (whose
    ``TrainOneStepCell`` multiplies the gradients by the scale and leaves them so), needs the
    optimizer to divide it out. A dynamic or overflow-dropping scale, or a custom train step that
    unscales the gradients itself, needs 1.0 here.
    """
    if loss_scale_type == "fixed" and not drop_overflow_update and not custom_train_step:
        return float(loss_scale)
    return 1.0


def _is_no_decay(param: Parameter, extra_names: set) -> bool:
    """MindCV's ``norm_and_bias`` rule for one parameter."""
    return any(part in param.name for part in NO_DECAY_NAME_PARTS) or param.name in extra_names


def init_group_params(params: List[Parameter], weight_decay: float, weight_decay_filter: str,
                      no_weight_decay: Sequence[str] = ()) -> List[Dict[str, Any]]:
    """Parameter groups for ``disable`` or ``norm_and_bias`` (the decayed group first, then the rest)."""
    if weight_decay_filter == "disable":
        return [{"params": list(params), "weight_decay": weight_decay}, {"order_params": list(params)}]
    extra = set(no_weight_decay)
    decay = [p for p in params if not _is_no_decay(p, extra)]
    no_decay = [p for p in params if _is_no_decay(p, extra)]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]] + [{"order_params": list(params)}]  # MindSpore rejects empty groups


def _split_model_or_params(model_or_params) -> tuple:
    """(trainable params or param-group dicts, names the model asks not to decay)."""
    no_decay: Sequence[str] = ()
    if isinstance(model_or_params, nn.Cell):
        if hasattr(model_or_params, "no_weight_decay"):
            no_decay = tuple(model_or_params.no_weight_decay())
        params = model_or_params.trainable_params()
    else:
        params = list(model_or_params)
    if not params:
        raise ValueError("create_optimizer: got no parameters to optimise (an empty list, or a model "
                         "whose parameters are all frozen)")
    if not (all(isinstance(p, Parameter) for p in params) or all(isinstance(p, dict) for p in params)):
        raise TypeError("create_optimizer: model_or_params must be an nn.Cell, a list of Parameters or a list "
                        f"of parameter-group dicts; got elements of types {sorted({type(p).__name__ for p in params})}")
    return params, no_decay


def _check_lr(lr: LearningRate) -> Union[float, Tensor]:
    """A float, or a 1-D float32 Tensor of per-step rates; every rate >= 0."""
    if isinstance(lr, bool):
        raise TypeError(f"create_optimizer: lr must be a number or a per-step list, got {lr!r}")
    if isinstance(lr, (int, float, np.floating, np.integer)):
        if lr < 0:
            raise ValueError(f"create_optimizer: lr must be >= 0, got {lr!r}")
        return float(lr)
    values = lr.asnumpy() if isinstance(lr, Tensor) else np.asarray(lr, dtype=np.float64)
    if values.ndim == 0:
        return _check_lr(float(values))
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"create_optimizer: a per-step lr must be a non-empty 1-D list, got shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("create_optimizer: every per-step lr must be finite and >= 0")
    return Tensor(values.astype(np.float32))


def _check_args(opt: str, weight_decay: float, momentum: float, weight_decay_filter: str,
                loss_scale: float, nesterov: bool) -> None:
    """Raise a ConfigError (a ValueError) naming the first bad argument and the fix."""
    if opt not in OPTIMIZERS:
        raise ConfigError(f"create_optimizer: unknown opt {opt!r}; allowed: {', '.join(OPTIMIZERS)}")
    if weight_decay_filter not in WEIGHT_DECAY_FILTERS:
        raise ConfigError(f"create_optimizer: unknown weight_decay_filter {weight_decay_filter!r}; "
                         f"allowed: {', '.join(WEIGHT_DECAY_FILTERS)}")
    if opt == "nesterov" and momentum <= 0:
        raise ConfigError(f"create_optimizer: opt 'nesterov' needs momentum > 0, got momentum={momentum!r}")
    if weight_decay < 0 or momentum < 0:
        raise ConfigError(f"create_optimizer: weight_decay and momentum must be >= 0, got "
                         f"weight_decay={weight_decay!r}, momentum={momentum!r}")
    if loss_scale <= 0:
        raise ConfigError(f"create_optimizer: loss_scale must be > 0, got {loss_scale!r}")
    if opt == "lamb" and loss_scale != 1.0:
        raise ConfigError("create_optimizer: lamb cannot unscale gradients: use loss_scale=1.0 (a dynamic loss "
                         "scale or drop_overflow_update=True)")
    on_cpu = ms.get_context("device_target") == "CPU"
    if opt == "lamb" and on_cpu:
        raise ConfigError("create_optimizer: MindSpore has no CPU kernel for lamb; use adamw on CPU")
    if opt == "momentum" and nesterov and on_cpu:
        raise ConfigError("create_optimizer: MindSpore's CPU Momentum kernel ignores use_nesterov (it would run "
                         "plain momentum); on CPU use opt 'sgd' with use_nesterov, the same update rule")


@contextlib.contextmanager
def _mindspore_warnings_off():
    """MindSpore's Python logger at ERROR for the block: for noise of MindSpore's own that a user cannot act on."""
    try:
        ms_logger = ms.log._get_logger()  # private, but the only handle on the logger MindSpore writes through
    except Exception:  # another MindSpore version: its noise stays
        yield
        return
    level = ms_logger.level
    ms_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        ms_logger.setLevel(level)


def _build(opt: str, params: list, lr, weight_decay: float, momentum: float, nesterov: bool,
           loss_scale: float, eps: float, kwargs: Dict[str, Any]) -> nn.Optimizer:
    """Instantiate the optimizer class for ``opt`` (arguments already checked)."""
    common = dict(params=params, learning_rate=lr, weight_decay=weight_decay)
    if opt == "sgd":
        return nn.SGD(momentum=momentum, nesterov=nesterov, loss_scale=loss_scale, **common, **kwargs)
    if opt == "nesterov":
        if ms.get_context("device_target") == "CPU":  # MindSpore's CPU Momentum kernel ignores use_nesterov
            return nn.SGD(momentum=momentum, nesterov=True, loss_scale=loss_scale, **common, **kwargs)
        return nn.Momentum(momentum=momentum, use_nesterov=True, loss_scale=loss_scale, **common, **kwargs)
    if opt == "momentum":
        return nn.Momentum(momentum=momentum, use_nesterov=nesterov, loss_scale=loss_scale, **common, **kwargs)
    if opt == "adam":
        with _mindspore_warnings_off():  # nn.Adam builds the deprecated FusedSparseAdam (and says so) every time
            return nn.Adam(use_nesterov=nesterov, loss_scale=loss_scale, **common, **kwargs)
    if opt == "adamw":
        return AdamW(loss_scale=loss_scale, **common, **kwargs)
    if opt == "lion":
        return Lion(loss_scale=loss_scale, **common, **kwargs)
    if opt == "nadam":
        return NAdam(loss_scale=loss_scale, **common, **kwargs)
    if opt == "adan":
        return Adan(loss_scale=loss_scale, **common, **kwargs)
    if opt == "rmsprop":
        return nn.RMSProp(momentum=momentum, epsilon=eps, loss_scale=loss_scale, **common, **kwargs)
    if opt == "adagrad":
        return nn.Adagrad(loss_scale=loss_scale, **common, **kwargs)
    return nn.Lamb(**common, **kwargs)


def create_optimizer(
    model_or_params,
    opt: str = "adam",
    lr: LearningRate = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay_filter: str = "disable",
    loss_scale: float = 1.0,
    checkpoint_path: str = "",
    eps: float = 1e-10,
    **kwargs,
) -> nn.Optimizer:
    """An optimizer for ``model_or_params`` (a Cell, its parameters, or parameter-group dicts).

    ``opt``: sgd, momentum, nesterov, adam, adamw, lion, nadam, adan, rmsprop, adagrad or lamb (any
    case). ``nesterov`` is momentum with Nesterov momentum whatever ``nesterov`` says (MindSpore's
    Momentum, or on CPU, whose Momentum kernel ignores Nesterov, MindSpore's SGD: the same update).
    ``lr`` is a float or a per-step list/array/Tensor such as :func:`mindcv.scheduler.create_scheduler`
    returns. ``nesterov`` applies to sgd, momentum and adam; ``eps`` to rmsprop only (as in MindCV;
    adam, adamw, nadam and adan keep their 1e-8). ``kwargs`` go to the optimizer class (e.g. ``beta1``,
    ``beta2``; adan also ``beta3``, nadam ``schedule_decay``).
    ``checkpoint_path``, if given, restores optimizer state (moments, global step) from that file.
    Group dicts passed in are used as they are; ``weight_decay`` is then their default.
    """
    opt = opt.lower() if isinstance(opt, str) else opt
    weight_decay, momentum, loss_scale = float(weight_decay), float(momentum), float(loss_scale)
    _check_args(opt, weight_decay, momentum, weight_decay_filter, loss_scale, bool(nesterov))
    params, no_weight_decay = _split_model_or_params(model_or_params)
    lr = _check_lr(lr)
    if isinstance(params[0], dict):
        groups = params
    elif weight_decay_filter == "auto":
        groups = params  # MindSpore's built-in filter spares names containing "beta" or "gamma"
    else:
        groups = init_group_params(params, weight_decay, weight_decay_filter, no_weight_decay)
        weight_decay = 0.0  # now carried by the groups
    try:
        optimizer = _build(opt, groups, lr, weight_decay, momentum, bool(nesterov), loss_scale, eps, kwargs)
    except TypeError as err:
        raise TypeError(f"create_optimizer: bad extra argument for opt {opt!r} ({sorted(kwargs)}): {err}") from err
    if checkpoint_path:
        _load_optimizer_state(optimizer, checkpoint_path)
    return optimizer


def _load_optimizer_state(optimizer: nn.Optimizer, path: str) -> None:
    """Restore an optimizer's state from a checkpoint file, or raise naming the missing file."""
    if not os.path.isfile(path):
        raise InputFileNotFound(f"create_optimizer: optimizer checkpoint not found: {path}")
    not_loaded, _ = ms.load_param_into_net(optimizer, ms.load_checkpoint(path))
    if not_loaded:
        _logger.warning("optimizer state: %d entries not in %s (e.g. %s)", len(not_loaded), path, not_loaded[:3])
