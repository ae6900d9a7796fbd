"""The few stdlib-only helpers of ``mindcv.data`` that the MindSpore-free path of infer.py needs (importing the
``mindcv.data`` package starts MindSpore's dataset engine, ~2.5 s): its image-file listing rule, and its
``image_check`` and ``imagenet_classes`` modules loaded from their files without the package."""
import importlib.util
import os
import sys
from types import ModuleType
from typing import List

from ..choices import IMAGE_EXTENSIONS

__all__ = ["IMAGE_EXTENSIONS", "data_module", "image_files_recursive"]

_DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
_STDLIB_ONLY = ("listing", "image_check", "imagenet_classes")  # modules of mindcv/data importing only mindcv.choices


def data_module(name: str) -> ModuleType:
    """``mindcv.data.<name>`` (a stdlib-only module) without importing the ``mindcv.data`` package: the loaded
    package's module when it is already imported, else the file loaded once under that same name."""
    if name not in _STDLIB_ONLY:
        raise ValueError(f"mindcv.data.{name} is not one of the stdlib-only modules {_STDLIB_ONLY}")
    loaded = sys.modules.get(f"mindcv.data.{name}")
    if loaded is not None:
        return loaded
    # under its own name: its relative imports (..choices, .constants) resolve without the package being imported,
    # and a later `import mindcv.data` finds it already loaded
    spec = importlib.util.spec_from_file_location(f"mindcv.data.{name}", os.path.join(_DATA_DIR, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[spec.name] = module
    return module


def image_files_recursive(directory: str) -> List[str]:
    """Sorted paths of the image files under ``directory``: ``mindcv.data.image_files(directory, True)``."""
    return data_module("listing").image_files(directory, recursive=True)
