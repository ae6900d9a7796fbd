"""The embedded demo dataset: scikit-learn's handwritten digits in the ImageNet folder layout.

``sklearn.datasets.load_digits`` ships 1,797 real 8x8 grey images of the digits 0-9 (no download).
``prepare_digits`` writes them once, upscaled to 32x32 RGB PNG, as ``<root>/train/<digit>/*.png``
and ``<root>/val/<digit>/*.png``, so ``create_dataset`` reads them exactly as it reads ImageNet.
The split is fixed and stratified: within each digit, in scikit-learn's order, every fifth image
(positions 0, 5, 10, ...) goes to val, giving 1,433 train and 364 val images.

The tree is built in a temporary folder beside ``root`` and renamed into place in one step, so
several processes preparing it at once (e.g. msrun ranks) never see or leave a partial tree.
Default root: ``$MINDCV_DATA_CACHE/digits``, else ``~/.cache/mindcv/digits``.

Command line: ``python -m mindcv.data.digits [--root DIR]`` prepares it and prints its path.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..utils.cli import ConfigError
from ..utils.io import default_file_mode
from ..utils.logger import get_logger
from .constants import DATA_CACHE_ENV

__all__ = ["prepare_digits", "default_digits_root", "digits_split_indices", "DIGITS_IMAGE_SIZE",
           "DIGITS_NUM_TRAIN", "DIGITS_NUM_VAL"]

_logger = get_logger(__name__)

DIGITS_IMAGE_SIZE = 32
DIGITS_NUM_TRAIN = 1433
DIGITS_NUM_VAL = 364
_VAL_EVERY = 5
_MARKER = "digits.json"  # written last; its presence means the tree is complete
_FORMAT_VERSION = 1


def default_digits_root() -> str:
    """$MINDCV_DATA_CACHE/digits, else ~/.cache/mindcv/digits."""
    cache = os.environ.get(DATA_CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "mindcv")
    return os.path.join(cache, "digits")


def _load_digits() -> Tuple[np.ndarray, np.ndarray]:
    """(images uint8 N x 8 x 8 in 0-255, labels int N) from scikit-learn's bundled copy."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ImportError("the digits demo dataset needs scikit-learn: pip install scikit-learn") from err
    bunch = load_digits()
    images = np.clip(np.rint(bunch.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    return images, bunch.target.astype(np.int64)


def digits_split_indices(labels: np.ndarray) -> Dict[str, List[int]]:
    """Stratified fixed split: every fifth image of each digit (in dataset order) is val."""
    split: Dict[str, List[int]] = {"train": [], "val": []}
    for digit in np.unique(labels):
        for position, index in enumerate(np.flatnonzero(labels == digit)):
            split["val" if position % _VAL_EVERY == 0 else "train"].append(int(index))
    return {k: sorted(v) for k, v in split.items()}


def _to_png_image(image: np.ndarray):
    """An 8x8 grey digit as a 32x32 RGB PIL image (bicubic upscaling)."""
    from PIL import Image

    grey = Image.fromarray(image, mode="L").resize((DIGITS_IMAGE_SIZE, DIGITS_IMAGE_SIZE), Image.BICUBIC)
    return grey.convert("RGB")


def _write_tree(target: str) -> Dict[str, int]:
    """Write the train/val PNG tree into an (empty) directory; returns images per split."""
    images, labels = _load_digits()
    counts = {}
    for split, indices in digits_split_indices(labels).items():
        for index in indices:
            class_dir = os.path.join(target, split, str(labels[index]))
            os.makedirs(class_dir, exist_ok=True)
            _to_png_image(images[index]).save(os.path.join(class_dir, f"digit_{index:04d}.png"))
        counts[split] = len(indices)
    return counts


def _is_complete(root: str) -> bool:
    """True when root holds a finished digits tree of the current format."""
    try:
        with open(os.path.join(root, _MARKER), encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError):
        return False
    return info.get("version") == _FORMAT_VERSION and os.path.isdir(os.path.join(root, "train"))


def prepare_digits(root: Optional[str] = None, quiet: bool = False) -> str:
    """Write the digits dataset at root (default: the cache dir) unless already there; returns root."""
    root = os.path.abspath(os.path.expanduser(root or default_digits_root()))
    if _is_complete(root):
        return root
    if os.path.isdir(root) and os.listdir(root):
        raise FileExistsError(f"'{root}' exists and is not a complete digits dataset (no {_MARKER}): "
                              f"remove it or pass another root for the digits dataset")
    parent = os.path.dirname(root)
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".digits-tmp-", dir=parent)
    except OSError as err:
        cache = os.environ.get(DATA_CACHE_ENV)
        where = f"{DATA_CACHE_ENV}={cache!r}" if cache and root == default_digits_root() else "the digits root"
        raise ConfigError(f"cannot write the digits dataset to {root} ({err.strerror or err}): {where} must name a "
                          f"folder you can write") from None
    if not quiet:
        _logger.info(f"writing scikit-learn's digits as PNG folders to {root} (once)")
    try:
        counts = _write_tree(tmp)
        info = {"version": _FORMAT_VERSION, "source": "sklearn.datasets.load_digits",
                "image_size": DIGITS_IMAGE_SIZE, "counts": counts}
        with open(os.path.join(tmp, _MARKER), "w", encoding="utf-8") as f:
            json.dump(info, f)
        os.chmod(tmp, default_file_mode(executable=True))  # mkdtemp's folder is private (0700)
        _publish(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not _is_complete(root):
        raise RuntimeError(f"preparing the digits dataset at '{root}' failed (no complete tree after writing)")
    return root


def _publish(tmp: str, root: str) -> None:
    """Rename the finished tree into place; losing the race to another process is fine."""
    try:
        if os.path.isdir(root) and not os.listdir(root):
            os.rmdir(root)
        os.rename(tmp, root)
    except OSError:
        if not _is_complete(root):  # someone else's complete tree is as good as ours
            raise


def main(argv: Optional[List[str]] = None) -> int:
    """Command line entry: prepare the digits dataset and print its root."""
    parser = argparse.ArgumentParser(description="Write scikit-learn's digits as an ImageNet-layout folder "
                                                 "(train/val/<digit>/*.png) and print its path.")
    parser.add_argument("--root", default=None, help=f"target folder (default: {default_digits_root()}, "
                                                     f"or ${DATA_CACHE_ENV}/digits)")
    args = parser.parse_args(argv)
    print(prepare_digits(args.root, quiet=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
