"""Constants of the ImageNet recipe (MindCV's values) and of the folder datasets."""
from typing import Tuple

from ..choices import DEFAULT_CROP_PCT, IMAGE_EXTENSIONS, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

__all__ = [
    "DEFAULT_CROP_PCT",
    "IMAGENET_DEFAULT_MEAN",
    "IMAGENET_DEFAULT_STD",
    "IMAGE_EXTENSIONS",
    "DATA_CACHE_ENV",
    "ARRAY_DATASETS",
]

# Environment variable naming the cache directory of embedded datasets (default ~/.cache/mindcv).
DATA_CACHE_ENV: str = "MINDCV_DATA_CACHE"

# Datasets whose reader yields decoded HWC uint8 arrays instead of encoded image files (no decode in the transforms).
ARRAY_DATASETS: Tuple[str, ...] = ("mnist", "cifar10", "cifar100")
