"""Constants of the ImageNet recipe (MindCV's values) and of the folder datasets."""
from typing import List, Tuple

__all__ = [
    "DEFAULT_CROP_PCT",
    "IMAGENET_DEFAULT_MEAN",
    "IMAGENET_DEFAULT_STD",
    "IMAGE_EXTENSIONS",
    "DATA_CACHE_ENV",
]

DEFAULT_CROP_PCT: float = 0.875

# Mean and std of ImageNet in 0-255 pixel units, as MindCV passes them to vision.Normalize.
IMAGENET_DEFAULT_MEAN: List[float] = [0.485 * 255, 0.456 * 255, 0.406 * 255]
IMAGENET_DEFAULT_STD: List[float] = [0.229 * 255, 0.224 * 255, 0.225 * 255]

# File name endings read as images by the folder datasets (compared case-insensitively).
IMAGE_EXTENSIONS: Tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")

# Environment variable naming the cache directory of embedded datasets (default ~/.cache/mindcv).
DATA_CACHE_ENV: str = "MINDCV_DATA_CACHE"
