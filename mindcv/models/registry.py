"""Model registry: ``@register_model`` entry points, looked up by name, with their weight metadata."""
import difflib
import fnmatch
import sys
from typing import Callable, Dict, List, Optional, Sequence, Union

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


def list_models(filter: Union[str, Sequence[str]] = "", pretrained: bool = False,  # noqa: A002 (MindCV's name)
                exclude_filters: Union[str, Sequence[str]] = "") -> List[str]:
    """Sorted registered names matching any of the fnmatch patterns in ``filter`` and none in
    ``exclude_filters``; with ``pretrained`` only those with published weights."""
    names = set(_entrypoints)
    includes = _as_list(filter)
    if includes:
        names = {n for n in names if any(fnmatch.fnmatch(n, p) for p in includes)}
    for pattern in _as_list(exclude_filters):
        names = {n for n in names if not fnmatch.fnmatch(n, pattern)}
    if pretrained:
        names = {n for n in names if is_model_pretrained(n)}
    return sorted(names)


def is_model(model_name: str) -> bool:
    """True when ``model_name`` is registered."""
    return model_name in _entrypoints


def is_model_pretrained(model_name: str) -> bool:
    """True when the model has a published checkpoint URL."""
    return bool(_pretrained_cfgs.get(model_name, {}).get("url"))


def get_pretrained_cfg(model_name: str) -> Optional[dict]:
    """The weight metadata (url, hash, accuracy, recipe, ...) of a registered model, or None."""
    return _pretrained_cfgs.get(model_name)


def model_entrypoint(model_name: str) -> Callable:
    """The constructor of a registered model; an unknown name lists the closest registered names."""
    if model_name not in _entrypoints:
        close = difflib.get_close_matches(str(model_name), list(_entrypoints), n=5, cutoff=0.4)
        hint = f"; closest registered names: {', '.join(close)}" if close else ""
        raise UnknownModelError(f"unknown model {model_name!r}{hint}. list_models() shows all "
                         f"{len(_entrypoints)} registered models")
    return _entrypoints[model_name]
