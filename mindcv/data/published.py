"""What the public datasets (mnist, cifar10, cifar100, flowers102, pets) have in common: a name, the published
files to download, the split names they accept, where they live by default."""
import os
from typing import Dict, List, Tuple

from .constants import DATA_CACHE_ENV
from .dataset_download import Resource, missing_entries
from .errors import DatasetError

__all__ = ["PublishedDataset", "default_dataset_root", "require_files"]


def default_dataset_root(name: str) -> str:
    """Where a public dataset goes when no root is given: $MINDCV_DATA_CACHE/<name>, else ~/.cache/mindcv/<name>."""
    cache = os.environ.get(DATA_CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "mindcv")
    return os.path.join(cache, name)


def require_files(name: str, root: str, entries: List[str], layout: str) -> None:
    """Raise naming the missing entries (files or folders) of ``root`` and the expected layout."""
    missing = [e for e in entries if not os.path.exists(os.path.join(root, e))]
    if missing:
        raise DatasetError(f"dataset {name}: {root} lacks {', '.join(missing)}; expected {layout} (set "
                           f"dataset_download True to download the published files there)")


class PublishedDataset:
    """A public dataset in its published layout. Subclasses set the class attributes and read one split."""

    name: str = ""
    num_classes: int = 0
    resources: Tuple[Resource, ...] = ()
    splits: Dict[str, str] = {}  # split names accepted -> the published split they read
    layout: str = ""  # the expected files, for error messages

    def split_name(self, split: str) -> str:
        """The published split that ``split`` (e.g. a train_split / val_split value) reads."""
        key = str(split).lower()
        if key not in self.splits:
            raise DatasetError(f"dataset {self.name} has no split {split!r} (config keys train_split / val_split): "
                               f"use one of {sorted(self.splits)}")
        return self.splits[key]

    def is_complete(self, root: str) -> bool:
        """True when ``root`` holds every published file (nothing to download)."""
        return not missing_entries(self.resources, root)

    def folder(self, root: str) -> str:
        """The folder holding the published files (``root`` itself unless a subclass looks deeper)."""
        if not os.path.isdir(root):
            raise DatasetError(f"dataset {self.name}: root {root!r} (config key data_dir) is not a directory; "
                               f"expected {self.layout}, or set dataset_download True to download it there")
        return root

    def class_names(self, folder: str) -> List[str]:
        """Class names in label order."""
        raise NotImplementedError
