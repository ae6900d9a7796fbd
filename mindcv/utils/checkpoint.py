"""Checkpoint I/O: atomic saves, readable errors, EMA selection and reported partial loads.

MindSpore checkpoints written by MindCV-style training hold more than model weights: optimizer state
(``moments.*``, ``adam_m.*``, ``accum.*``, ...), EMA copies (``ema.*``), loss-scale and schedule scalars
(``global_step``, ``learning_rate``, ``scale_sense``, ...) and metadata strings appended at save time
(``model_name``, ``variant_options``). Loading a model takes what the model has, ignores the training state
quietly, and reports anything else.
"""
import json
import os
import re
import signal
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import numpy as np

import mindspore as ms
from mindspore import Parameter, Tensor, nn

from .cli import UserError
from .io import atomic_path
from .logger import get_logger

logger = get_logger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
ParamDict = Dict[str, Parameter]

EMA_PREFIX = "ema."
# a training run's folder: epoch checkpoints <prefix>-<epoch>_<step>.ckpt and their index (epoch, step, metric)
INDEX_FILE = "checkpoints.json"
EPOCH_FILE = re.compile(r"^(?P<prefix>.+)-(?P<epoch>\d+)_(?P<step>\d+)\.ckpt$")
# the mid-epoch training state of a run (periodic, or written when the run is interrupted): one file, the newest
RECOVERY_SUFFIX = "-recovery.ckpt"
# test hook: "<n>" makes the n-th checkpoint write of this process write half of its temporary file and then
# SIGKILL the process, as a kill or power loss in the middle of a save would
FAULT_ENV = "MINDCV_FAULT_KILL_IN_CKPT_WRITE"
# Optimizer / accumulator / EMA state that training writes next to the weights (MindSpore optimizers name
# their state "<prefix>.<parameter name>").
TRAINING_STATE_PREFIXES = (
    "moments.", "ema.", "accum.", "stat.", "adam_m.", "adam_v.", "moment1.", "moment2.", "vhat.",
    "mean_grad.", "mean_square.", "linear.", "accu_grads.", "accumulated_grads.", "grad_accum.",
    "optimizer.", "sum_sq.", "exp_avg.", "exp_avg_sq.",
)
TRAINING_STATE_NAMES = frozenset({
    "global_step", "learning_rate", "momentum", "scale_sense", "updates", "epoch_num", "step_num",
    "cur_epoch_num", "cur_step_num", "current_iterator_step", "loss_scale", "beta1_power", "beta2_power",
    "weight_decay", "lr",
})
_MAX_LISTED = 8


class CheckpointError(UserError, ValueError):
    """A checkpoint file or parameter dict cannot be used for the requested load."""


class CheckpointNotFound(CheckpointError, FileNotFoundError):
    """A checkpoint file the user named does not exist."""


def is_training_state(name: str) -> bool:
    """True for optimizer / EMA / schedule entries that a model load ignores."""
    return name in TRAINING_STATE_NAMES or name.startswith(TRAINING_STATE_PREFIXES)


def _listing(names: Iterable[str], limit: int = _MAX_LISTED) -> str:
    """'a, b, c (+N more)' for error messages and logs."""
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def _as_parameter(name: str, value: Any) -> Parameter:
    """Wrap a Tensor / ndarray / Parameter as a Parameter called `name`."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value, name=name, requires_grad=False)
    if isinstance(value, np.ndarray):
        return Parameter(Tensor(value), name=name, requires_grad=False)
    raise TypeError(f"checkpoint entry '{name}' must be a Parameter, Tensor or numpy array, "
                    f"got {type(value).__name__}")


def _save_object(params_or_cell: Any) -> Any:
    """What ms.save_checkpoint accepts: a Cell, or a list of {'name', 'data'} with Parameter data."""
    if isinstance(params_or_cell, nn.Cell):
        return params_or_cell
    if isinstance(params_or_cell, Mapping):
        return [{"name": k, "data": _as_parameter(k, v)} for k, v in params_or_cell.items()]
    if isinstance(params_or_cell, (list, tuple)):
        items = []
        for item in params_or_cell:
            if isinstance(item, Parameter):
                items.append({"name": item.name, "data": item})
            elif isinstance(item, Mapping) and "name" in item and "data" in item:
                items.append({"name": item["name"], "data": _as_parameter(item["name"], item["data"])})
            else:
                raise TypeError("params_or_cell list items must be Parameters or {'name': str, 'data': tensor} "
                                f"dicts, got {type(item).__name__}")
        return items
    raise TypeError("params_or_cell must be an nn.Cell, a dict name->Parameter/Tensor, or a list of "
                    f"{{'name', 'data'}} dicts; got {type(params_or_cell).__name__}")


def _check_append_dict(append_dict: Optional[Mapping[str, Any]]) -> Optional[dict]:
    """Validate metadata values (str, int, float, bool, Tensor, Parameter) with a clear error."""
    if append_dict is None:
        return None
    checked = {}
    for key, value in append_dict.items():
        if not isinstance(key, str):
            raise TypeError(f"append_dict keys must be str, got {key!r}")
        if not isinstance(value, (str, bool, int, float, Tensor, Parameter)):
            raise TypeError(f"append_dict['{key}'] must be str, int, float, bool or a Tensor, got "
                            f"{type(value).__name__} (encode structured values with json.dumps first)")
        checked[key] = value
    return checked


_writes = 0


def _fault_injection(tmp: str) -> None:
    """Test hook (see FAULT_ENV): leave a half-written temporary file and die at once."""
    global _writes
    _writes += 1
    target = os.environ.get(FAULT_ENV, "").strip()
    if target.isdigit() and _writes == int(target):
        size = os.path.getsize(tmp)
        with open(tmp, "r+b") as f:
            f.truncate(size // 2)
        logger.error("fault injection (%s=%s): killed while writing %s", FAULT_ENV, target, tmp)
        os.kill(os.getpid(), signal.SIGKILL)


def _mindspore_temp_name(path: str) -> str:
    """The file ``ms.save_checkpoint(obj, path)`` writes first (``.ckpt`` replaced by ``.tmp``) and renames to
    ``path`` (then read-only to its owner; ``atomic_path`` gives it the umask's mode)."""
    stem, ext = os.path.splitext(path)
    return stem + ext.replace(".ckpt", ".tmp")


def _remove_quietly(path: str) -> None:
    """Remove ``path`` if it exists (read-only files too)."""
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        logger.warning("could not remove the temporary file %s: %s", path, err.strerror or err)


def save_checkpoint_atomic(params_or_cell: Any, path: PathLike,
                           append_dict: Optional[Mapping[str, Any]] = None, crc_check: bool = False) -> str:
    """Save a checkpoint so that `path` holds either the previous file or the complete new one, never a part.

    `params_or_cell` is an nn.Cell, a dict name->Parameter/Tensor, or a list of {'name', 'data'} dicts;
    `append_dict` adds metadata (str, int, float, bool); `crc_check` stores MindSpore's CRC of the content,
    checked by every load here (training checkpoints use it). Returns the path written.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint path {path} is a directory; give a file name such as model.ckpt")
    save_obj = _save_object(params_or_cell)
    extra = _check_append_dict(append_dict)
    try:
        with atomic_path(path, suffix=".tmp.ckpt") as tmp:
            try:
                ms.save_checkpoint(save_obj, tmp, append_dict=extra, crc_check=crc_check)
            except BaseException:
                _remove_quietly(_mindspore_temp_name(tmp))  # its own temporary file, left on a failed write
                raise
            _fault_injection(tmp)
    except OSError as err:
        raise CheckpointError(f"cannot write the checkpoint {path}: {err.strerror or err}; choose a writable "
                              f"folder") from err
    return path


def _read_raw(path: PathLike) -> Dict[str, Any]:
    """ms.load_checkpoint with errors that name the file and say what is wrong."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointNotFound(f"checkpoint file not found: {path}")
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint path {path} is a directory, expected a .ckpt file")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"checkpoint file {path} is empty (0 bytes): the download or save was probably "
                              "interrupted; delete it and fetch or save it again")
    try:
        raw = ms.load_checkpoint(path, crc_check=True)  # verifies files saved with a CRC, reads the others
    except Exception as exc:  # MindSpore raises ValueError/RuntimeError with varying texts
        raise CheckpointError(f"{path} is not a readable MindSpore checkpoint (truncated, corrupted or another "
                              f"format): {exc}") from exc
    if not raw:
        raise CheckpointError(f"checkpoint file {path} holds no entries")
    return raw


def epoch_file_name(prefix: str, epoch: int, step: int) -> str:
    """The file name of an epoch checkpoint of a run."""
    return f"{prefix}-{int(epoch)}_{int(step)}.ckpt"


def recovery_file_name(prefix: str) -> str:
    """The file name of a run's mid-epoch (recovery) checkpoint."""
    return f"{prefix}{RECOVERY_SUFFIX}"


def epoch_files(directory: str, prefix: Optional[str] = None) -> List[Tuple[int, int, str]]:
    """(epoch, step, file name) of the epoch checkpoints in a run folder (of ``prefix`` only when given)."""
    found = []
    for name in os.listdir(directory) if os.path.isdir(directory) else []:
        match = EPOCH_FILE.match(name)
        if match and (prefix is None or match.group("prefix") == prefix):
            found.append((int(match.group("epoch")), int(match.group("step")), name))
    return sorted(found)


def read_run_index(directory: str) -> Optional[List[Dict[str, Any]]]:
    """The records of a run's checkpoint index whose files still exist; None without a readable index."""
    path = os.path.join(directory, INDEX_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            records = json.load(f)
        for record in records:
            record["file"], record["epoch"] = str(record["file"]), int(record["epoch"])
            record["metric"] = None if record.get("metric") is None else float(record["metric"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        logger.warning("ignoring the unreadable checkpoint index %s (%s)", path, err)
        return None
    return [r for r in records if os.path.isfile(os.path.join(directory, r["file"]))]


def has_ema(param_dict: Mapping[str, Any]) -> bool:
    """True when a checkpoint holds EMA copies of the weights (``ema.*`` entries)."""
    return any(name.startswith(EMA_PREFIX) for name in param_dict)


def select_ema(param_dict: Mapping[str, Any], source: str = "checkpoint") -> ParamDict:
    """Replace each `<name>` by `ema.<name>` where an EMA copy exists; error when there is none."""
    ema = {k[len(EMA_PREFIX):]: v for k, v in param_dict.items() if k.startswith(EMA_PREFIX)}
    if not ema:
        raise CheckpointError(f"use_ema=True but {source} holds no EMA weights (no 'ema.*' entries); "
                              "load it with use_ema=False")
    selected = {k: v for k, v in param_dict.items() if not k.startswith(EMA_PREFIX)}
    for name, value in ema.items():
        data = value.value() if isinstance(value, Parameter) else value
        selected[name] = Parameter(data, name=name, requires_grad=False)
    logger.info("Using EMA weights for %d parameters of %s", len(ema), source)
    return selected


def load_param_dict(path: PathLike, use_ema: bool = False) -> ParamDict:
    """Read the tensors of a checkpoint as name -> Parameter (metadata strings left out).

    With use_ema=True, `ema.<name>` entries are returned under `<name>`.
    """
    params = _params_of(_read_raw(path))
    if use_ema:
        params = select_ema(params, source=os.fspath(path))
    return params


def read_checkpoint(path: PathLike) -> Tuple[ParamDict, Dict[str, Any]]:
    """(``load_param_dict(path)``, ``read_checkpoint_meta(path)``) from one read of the file."""
    raw = _read_raw(path)
    return _params_of(raw), _meta_of(raw)


def _params_of(raw: Dict[str, Any]) -> ParamDict:
    return {k: _as_parameter(k, v) for k, v in raw.items() if isinstance(v, (Parameter, Tensor))}


def _scalar(value: Any) -> Any:
    """Python value of a 0-d Parameter/Tensor, or the value itself."""
    if isinstance(value, (Parameter, Tensor)) and value.ndim == 0:
        return value.asnumpy().item()
    return value


def read_checkpoint_meta(path: PathLike) -> Dict[str, Any]:
    """Metadata of a checkpoint: strings and scalar (0-d) entries as Python values (e.g. model_name, epoch_num)."""
    return _meta_of(_read_raw(path))


def _meta_of(raw: Dict[str, Any]) -> Dict[str, Any]:
    meta = {}
    for key, value in raw.items():
        if isinstance(value, str):
            meta[key] = value
        elif isinstance(value, (Parameter, Tensor)) and value.ndim == 0:
            meta[key] = _scalar(value)
    return meta


def _model_params(model: nn.Cell) -> Dict[str, Parameter]:
    """All parameters of `model` (trainable and BN statistics) by their MindSpore names."""
    return {p.name: p for p in model.get_parameters()}


def _shape_mismatches(model_params: Mapping[str, Parameter], param_dict: Mapping[str, Any],
                      names: Iterable[str]) -> List[str]:
    """'name: checkpoint (a, b) vs model (c, d)' for each name whose shapes differ."""
    problems = []
    for name in names:
        ckpt_shape = tuple(param_dict[name].shape)
        model_shape = tuple(model_params[name].shape)
        if ckpt_shape != model_shape:
            problems.append(f"{name}: checkpoint {ckpt_shape} vs model {model_shape}")
    return problems


def _split_names(model_params: Mapping[str, Parameter], param_dict: Mapping[str, Any]
                 ) -> Tuple[List[str], List[str], List[str], List[str]]:
    """(matched, missing, unexpected, ignored-training-state) parameter names."""
    matched = [n for n in model_params if n in param_dict]
    missing = [n for n in model_params if n not in param_dict]
    extra = [n for n in param_dict if n not in model_params]
    ignored = [n for n in extra if is_training_state(n) or tuple(getattr(param_dict[n], "shape", ())) == ()]
    ignored_set = set(ignored)
    unexpected = [n for n in extra if n not in ignored_set]
    return matched, missing, unexpected, ignored


def load_model_weights(model: nn.Cell, path_or_param_dict: Union[PathLike, Mapping[str, Any]],
                       strict: bool = True, use_ema: bool = False, allow_missing: Iterable[str] = (),
                       source: Optional[str] = None) -> Tuple[List[str], List[str]]:
    """Load a checkpoint file or parameter dict into `model`; returns (missing, unexpected) names.

    Training state (optimizer, EMA, schedule scalars) is ignored. Errors: no parameter of the model in the
    source, any shape mismatch, and with strict=True any missing parameter not listed in `allow_missing`.
    `source` names a dict's origin (e.g. its file) in messages.
    """
    if isinstance(path_or_param_dict, Mapping):
        source = source or "the given parameter dict"
        param_dict = dict(path_or_param_dict)
        if use_ema:
            param_dict = select_ema(param_dict, source=source)
    else:
        source = os.fspath(path_or_param_dict)
        param_dict = load_param_dict(source, use_ema=use_ema)
    model_params = _model_params(model)
    model_name = type(model).__name__
    matched, missing, unexpected, ignored = _split_names(model_params, param_dict)
    if not matched:
        raise CheckpointError(
            f"{source} holds no parameter of this model ({model_name}): the model expects names like "
            f"{_listing(list(model_params), 4)}; the checkpoint has {_listing(list(param_dict), 4) or 'nothing'}")
    mismatches = _shape_mismatches(model_params, param_dict, matched)
    if mismatches:
        raise CheckpointError(f"{len(mismatches)} parameter shape(s) of {source} do not fit {model_name}: "
                              + "; ".join(mismatches))
    allowed = set(allow_missing)
    not_allowed = [n for n in missing if n not in allowed]
    if strict and not_allowed:
        raise CheckpointError(f"{source} lacks {len(not_allowed)} of the {len(model_params)} parameters of "
                              f"{model_name}: {_listing(not_allowed)} (pass strict=False to load it partially)")
    ms.load_param_into_net(model, {n: _as_parameter(n, param_dict[n]) for n in matched}, strict_load=False)
    _log_load(source, model_name, len(matched), len(model_params), not_allowed, unexpected, ignored)
    return missing, unexpected


def _log_load(source: str, model_name: str, n_loaded: int, n_total: int, missing: List[str],
              unexpected: List[str], ignored: List[str]) -> None:
    """One info line for the load plus warnings for what did not fit."""
    logger.info("Loaded %d/%d parameters of %s from %s%s", n_loaded, n_total, model_name, source,
                f" (ignored {len(ignored)} training-state entries)" if ignored else "")
    if missing:
        logger.warning("%d parameters of %s were not in %s and keep their initial values: %s",
                       len(missing), model_name, source, _listing(missing))
    if unexpected:
        logger.warning("%d entries of %s are not parameters of %s and were not loaded: %s",
                       len(unexpected), source, model_name, _listing(unexpected))
