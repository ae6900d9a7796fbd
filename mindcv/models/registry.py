"""Model registry: ``@register_model`` entry points, looked up by name, with their weight metadata."""
import difflib
import fnmatch
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from ..utils.cli import UserError

_entrypoints: Dict[str, Callable] = {}
_pretrained_cfgs: Dict[str, dict] = {}


class UnknownModelError(UserError, ValueError):
    """A model name that is not registered; the message suggests the closest names."""


def register_model(fn: Callable) -> Callable:
    """Register a model constructor under its function name; reads ``default_cfgs`` of its module."""
    name = fn.__name__
    if name in _entrypoints and _entrypoints[name] is not fn:
        raise ValueError(f"model name {name!r} is registered twice ({fn.__module__} and "
                         f"{_entrypoints[name].__module__})")
    _entrypoints[name] = fn
    module = sys.modules.get(fn.__module__)
    cfgs = getattr(module, "default_cfgs", {}) or {}
    if name in cfgs:
        _pretrained_cfgs[name] = cfgs[name]
    return fn


def _as_list(patterns: Union[str, Sequence[str], None]) -> List[str]:
    if not patterns:
        return []
    return [patterns] if isinstance(patterns, str) else list(patterns)


def _module_of(model_name: str) -> str:
    """The last part of the module that registered a model (``mixnet`` for mindcv.models.mixnet), as MindCV."""
    return _entrypoints[model_name].__module__.rsplit(".", 1)[-1]


def list_models(filter: Union[str, Sequence[str]] = "", module: str = "",  # noqa: A002 (MindCV's name)
                pretrained: bool = False, exclude_filters: Union[str, Sequence[str]] = "") -> List[str]:
    """Sorted registered names (of ``module``'s models when given, e.g. "mixnet") matching any of the fnmatch
    patterns in ``filter`` and none in ``exclude_filters``; with ``pretrained`` only those with published weights.
    MindCV's signature and argument order."""
    names = {n for n in _entrypoints if not module or _module_of(n) == module}
    includes = _as_list(filter)
    if includes:
        names = {n for n in names if any(fnmatch.fnmatch(n, p) for p in includes)}
    for pattern in _as_list(exclude_filters):
        names = {n for n in names if not fnmatch.fnmatch(n, pattern)}
    if pretrained:
        names = {n for n in names if is_model_pretrained(n)}
    return sorted(names)


def list_modules() -> List[str]:
    """Sorted names of the modules that register models (MindCV's ``list_modules``)."""
    return sorted({_module_of(n) for n in _entrypoints})


def is_model_in_modules(model_name: str, module_names: Sequence[str]) -> bool:
    """True when ``model_name`` is registered by one of ``module_names``."""
    if isinstance(module_names, str) or not isinstance(module_names, (tuple, list, set, frozenset)):
        raise TypeError(f"module_names must be a tuple, list or set of module names, got {module_names!r}")
    return model_name in _entrypoints and _module_of(model_name) in module_names


def is_model(model_name: str) -> bool:
    """True when ``model_name`` is registered."""
    return model_name in _entrypoints


def is_model_pretrained(model_name: str) -> bool:
    """True when the model has a published checkpoint URL."""
    return bool(_pretrained_cfgs.get(model_name, {}).get("url"))


def get_pretrained_cfg(model_name: str) -> Optional[dict]:
    """The weight metadata (url, hash, accuracy, recipe, ...) of a registered model, or None."""
    return _pretrained_cfgs.get(model_name)


def get_pretrained_cfg_value(model_name: str, cfg_key: str) -> Any:
    """One entry of a model's weight metadata, or None."""
    return (_pretrained_cfgs.get(model_name) or {}).get(cfg_key)


def has_pretrained_cfg_key(model_name: str, cfg_key: str) -> bool:
    """True when the model's weight metadata has ``cfg_key``."""
    return cfg_key in (_pretrained_cfgs.get(model_name) or {})


def model_entrypoint(model_name: str) -> Callable:
    """The constructor of a registered model; an unknown name lists the closest registered names."""
    if model_name not in _entrypoints:
        close = difflib.get_close_matches(str(model_name), list(_entrypoints), n=5, cutoff=0.4)
        hint = f"; closest registered names: {', '.join(close)}" if close else ""
        raise UnknownModelError(f"unknown model {model_name!r}{hint}. list_models() shows all "
                         f"{len(_entrypoints)} registered models")
    return _entrypoints[model_name]
