"""Listing image files (standard library only, so infer.py's MindSpore-free path loads it without the package)."""
import os
from typing import List

from ..choices import IMAGE_EXTENSIONS

__all__ = ["IMAGE_EXTENSIONS", "subfolders", "image_files", "is_image_file"]


def subfolders(directory: str) -> List[str]:
    """Sorted names of the non-hidden sub-directories of ``directory``."""
    return sorted(e.name for e in os.scandir(directory) if e.is_dir() and not e.name.startswith("."))


def is_image_file(name: str) -> bool:
    """True for names ending in one of IMAGE_EXTENSIONS (any case)."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


def image_files(directory: str, recursive: bool = False) -> List[str]:
    """Sorted paths of the (non-hidden) image files in ``directory``; with ``recursive``, in its sub-folders too."""
    if not recursive:
        return sorted(e.path for e in os.scandir(directory) if e.is_file() and is_image_file(e.name)
                      and not e.name.startswith("."))
    paths, seen = [], set()  # real paths of the folders listed: a symlink loop or alias is not followed twice
    for dirpath, dirnames, filenames in os.walk(directory, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        paths.extend(os.path.join(dirpath, f) for f in filenames if is_image_file(f) and not f.startswith("."))
    return sorted(paths)
