"""MixNet and mixed depthwise convolution (MixConv) for MindSpore, MindCV-style.

Importing it changes nothing in the process: no environment variable, no compiler run (see docs/performance.md).

As in MindCV 0.3.0, the package exports its building blocks at the top level (``mindcv.create_model``,
``mindcv.list_models``, ``mindcv.create_dataset``, ``mindcv.create_transforms``, ``mindcv.create_loader``,
``mindcv.create_loss``, ``mindcv.create_optimizer``, ``mindcv.create_scheduler``, ...: every name in the
``__all__`` of ``mindcv.data``, ``loss``, ``models``, ``optim`` and ``scheduler``, and every registered model's
constructor, ``mindcv.mixnet_s``) and those sub-packages themselves. They are imported on first use (PEP 562), so that ``import mindcv`` stays free of MindSpore's
start-up: the scripts' ``--help`` and option errors answer at once.
"""
import importlib as _importlib
from types import ModuleType as _ModuleType
from typing import Any as _Any, List as _List

__version__ = "0.2.0"

# MindCV's order: a name two of them exported would come from the first (a test checks none is shared)
EXPORTING_PACKAGES = ("data", "loss", "models", "optim", "scheduler")
SUBPACKAGES = EXPORTING_PACKAGES + ("utils", "engine", "eval")


def _package(name: str) -> _ModuleType:
    return _importlib.import_module(f"{__name__}.{name}")


def _exported() -> _List[str]:
    """The top-level names: the exporting sub-packages' ``__all__``, in MindCV's order, and the registered models."""
    names: _List[str] = []
    for package in EXPORTING_PACKAGES:
        names += [n for n in _package(package).__all__ if n not in names]
    return names + [n for n in _package("models").list_models() if n not in names]


def __getattr__(name: str) -> _Any:
    """A sub-package, or a name exported by one, imported when first asked for."""
    if name in SUBPACKAGES:
        return _package(name)
    if name == "__all__":
        return _exported() + list(EXPORTING_PACKAGES)
    if not name.startswith("_"):  # dunder probes (copy, pickle, inspect) must not start MindSpore
        for package in EXPORTING_PACKAGES:
            module = _package(package)
            if name in module.__all__:
                value = getattr(module, name)
                globals()[name] = value  # later look-ups skip this function
                return value
        models = _package("models")
        if models.is_model(name):
            return models.model_entrypoint(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> _List[str]:
    return sorted(set(globals()) | set(SUBPACKAGES) | set(_exported()))
