"""Data: ImageNet-layout datasets, the public datasets (mnist, cifar10, cifar100, flowers102, pets), MindCV's
augmentation recipe, Mixup/CutMix, loaders, the digits demo set."""
from .auto_augment import SUPPORTED_POLICIES, create_auto_augment, parse_auto_augment
from .constants import DEFAULT_CROP_PCT, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from .dataset_factory import (PUBLISHED_DATASETS, DatasetError, FolderIndex, create_dataset, create_index,
                              get_class_names, get_dataset_class_names, image_files, scan_image_folder, subfolders)
from .reader_index import ReaderIndex
from .loader import create_loader, labels_are_soft
from .mixup import Mixup
from .transforms_factory import create_transforms

__all__ = [
    "create_dataset",
    "create_index",
    "get_class_names",
    "get_dataset_class_names",
    "PUBLISHED_DATASETS",
    "ReaderIndex",
    "scan_image_folder",
    "image_files",
    "subfolders",
    "DatasetError",
    "FolderIndex",
    "create_transforms",
    "create_loader",
    "labels_are_soft",
    "Mixup",
    "prepare_digits",
    "parse_auto_augment",
    "create_auto_augment",
    "SUPPORTED_POLICIES",
    "DEFAULT_CROP_PCT",
    "IMAGENET_DEFAULT_MEAN",
    "IMAGENET_DEFAULT_STD",
]


def __getattr__(name: str):
    """Import the digits module lazily, so `python -m mindcv.data.digits` runs without a runpy warning."""
    if name == "prepare_digits":
        from .digits import prepare_digits

        return prepare_digits
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
