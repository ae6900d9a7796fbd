"""create_dataset: ImageNet-layout image folders, the embedded digits and the public datasets as MindSpore datasets.

Public datasets in their published form (``create_index``; see their modules): mnist (idx files), cifar10 and
cifar100 (binary version), flowers102 (MindSpore's readers), pets (a file list like the folders below); with
``download`` their published files are fetched once, verified and extracted into the root.

Layout read: ``root/<split>/<class>/<image>`` (images may sit in sub-folders of a class folder).
Class index = position of the class folder name in the sorted list of ``root/train``'s class
folders, so every split of one root uses the same indices (when ``root/train`` does not exist, the
split's own folders are used). The dataset yields two columns, ``image`` (the encoded file bytes,
uint8, decoded later by the transforms) and ``label`` (int32), like MindSpore's ImageFolderDataset.

Bad data is reported where it enters, naming the path: a missing root or split, a split without
class folders, an empty class folder, a split without images, a class in a split that train
lacks. A file that cannot be read, is empty, truncated or structurally corrupt (see
``image_check``) is handled by ``on_bad_image``: "skip" (default) logs a warning naming the file
once, counts it in ``dataset.bad_images`` and serves the next readable image of the split in its
place, so the epoch keeps its length and the run goes on; "error" stops the run with an error
naming the file. With ``verify_images=True`` every file is checked before the dataset is built.
"""
import os
import threading
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

import mindspore.dataset as ds

from ..choices import FOLDER_DATASETS
from ..utils.logger import get_logger
from .cifar import CIFAR10, CIFAR100
from .constants import IMAGE_EXTENSIONS
from .dataset_download import download_dataset
from .errors import DatasetError
from .flowers102 import FLOWERS102
from .image_check import read_image_file
from .listing import image_files, is_image_file, subfolders
from .mnist import MNIST
from .pets import PETS, Pets
from .published import PublishedDataset, default_dataset_root
from .reader_index import ReaderIndex
from .sampler import RepeatAugSampler

__all__ = [
    "create_dataset",
    "create_index",
    "get_class_names",
    "get_dataset_class_names",
    "PUBLISHED_DATASETS",
    "scan_image_folder",
    "DatasetError",
    "ImageFolderSource",
    "FolderIndex",
    "FOLDER_DATASET_NAMES",
    "image_files",
    "subfolders",
]

_logger = get_logger(__name__)

FOLDER_DATASET_NAMES = FOLDER_DATASETS
_EMBEDDED_NAMES = ("digits",)
# the public datasets in their published layouts, by name
PUBLISHED_DATASETS: Dict[str, PublishedDataset] = {d.name: d for d in (MNIST, CIFAR10, CIFAR100, FLOWERS102, PETS)}
_BAD_IMAGE_POLICIES = ("skip", "error")


def _split_dir(root: str, split: str) -> str:
    """Directory holding the class folders of a split ('' means root itself)."""
    return os.path.join(root, split) if split else root


def _check_root_and_split(root: str, split: str) -> str:
    """The split directory, after checking that root and split exist."""
    if not root:
        raise DatasetError("dataset root is empty: pass root (config key data_dir) pointing to a folder "
                           "laid out as <root>/<split>/<class>/<image>")
    if not os.path.isdir(root):
        raise DatasetError(f"dataset root '{root}' does not exist or is not a directory "
                           f"(config key data_dir); expected <root>/<split>/<class>/<image>")
    split_dir = _split_dir(root, split)
    if not os.path.isdir(split_dir):
        found = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        raise DatasetError(f"split folder '{split_dir}' does not exist (split='{split}'); "
                           f"folders found in '{root}': {found or 'none'}")
    return split_dir


def _list_class_folders(split_dir: str) -> List[str]:
    """Sorted names of the class folders of a split directory (an error when there is none)."""
    names = subfolders(split_dir)
    if not names:
        raise DatasetError(f"no class folders in '{split_dir}': expected {split_dir}/<class>/<image>, "
                           f"one sub-folder per class")
    return names


def get_class_names(root: str, split: str = "train") -> List[str]:
    """Class names in label order: the sorted class folders of root/train (or of root/split without train)."""
    _check_root_and_split(root, split)
    train_dir = os.path.join(root, "train")
    if split != "train" and os.path.isdir(train_dir):
        return _list_class_folders(train_dir)
    return _list_class_folders(_split_dir(root, split))


def scan_image_folder(root: str, split: str = "train",
                      class_names: Optional[Sequence[str]] = None) -> Tuple[List[Tuple[str, int]], List[str]]:
    """(path, label) pairs of a split and the class names, validating the layout up front.

    class_names: the label order to use (e.g. the training split's); default get_class_names(root, split).
    """
    split_dir = _check_root_and_split(root, split)
    class_names = list(class_names) if class_names is not None else get_class_names(root, split)
    split_classes = _list_class_folders(split_dir)
    index = {name: i for i, name in enumerate(class_names)}
    unknown = [c for c in split_classes if c not in index]
    if unknown:
        raise DatasetError(f"class folder(s) {unknown[:5]} in '{split_dir}' have no counterpart among the training "
                           f"classes (the folders of '{os.path.join(root, 'train')}'): class indices come from "
                           f"train's folder names")
    _logger.info(f"scanning {split_dir}: {len(split_classes)} class folders ...")
    samples: List[Tuple[str, int]] = []
    for name in split_classes:
        class_dir = os.path.join(split_dir, name)
        paths = image_files(class_dir, recursive=True)
        if not paths:
            raise DatasetError(f"class folder '{class_dir}' holds no images "
                               f"(looked for files ending in {', '.join(IMAGE_EXTENSIONS)})")
        samples.extend((p, index[name]) for p in paths)
    return samples, class_names


def _read_checked(path: str) -> Tuple[Optional[bytes], Optional[str]]:
    """(file bytes, None) for a good image, (None, reason) for an unreadable, corrupt or too large one, or for
    what is not a regular file (see ``image_check.read_image_file``)."""
    return read_image_file(path)


def _check_policy(on_bad_image: str) -> None:
    """Raise unless on_bad_image names a known policy."""
    if on_bad_image not in _BAD_IMAGE_POLICIES:
        raise DatasetError(f"on_bad_image must be one of {_BAD_IMAGE_POLICIES}, got {on_bad_image!r}")


class ImageFolderSource:
    """Random-access source of (encoded image bytes, int32 label) rows for GeneratorDataset."""

    def __init__(self, samples: Sequence[Tuple[str, int]], on_bad_image: str = "skip",
                 bad_images: Optional[Dict[str, str]] = None) -> None:
        _check_policy(on_bad_image)
        if not samples:
            raise DatasetError("an image folder source needs at least one image")
        self.samples = list(samples)
        self.on_bad_image = on_bad_image
        # path -> reason, for every bad file met so far (may be shared by the sources of one FolderIndex)
        self.bad_images: Dict[str, str] = bad_images if bad_images is not None else {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        for step in range(len(self.samples)):
            path, label = self.samples[(index + step) % len(self.samples)]
            if path in self.bad_images:
                continue
            data, reason = _read_checked(path)
            if data is not None:
                return np.frombuffer(data, dtype=np.uint8), np.array(label, dtype=np.int32)
            self._report_bad(path, reason)
        raise RuntimeError(f"none of the {len(self.samples)} image files of this dataset is readable; "
                           f"bad files: {list(self.bad_images.items())[:5]}")

    def _report_bad(self, path: str, reason: str) -> None:
        """Record a bad file, then stop ("error") or warn once and carry on ("skip")."""
        if self.on_bad_image == "error":
            raise RuntimeError(f"bad image file '{path}': {reason} "
                               f"(set on_bad_image='skip' to skip such files with a warning)")
        with self._lock:
            first_time = path not in self.bad_images
            self.bad_images[path] = reason
            count = len(self.bad_images)
        if first_time:
            _logger.warning(f"skipping bad image file '{path}': {reason}; the next image of the split is "
                            f"used in its place ({count} bad file(s) skipped so far)")


def _verify_all(samples: List[Tuple[str, int]], on_bad_image: str) -> List[Tuple[str, int]]:
    """Check every file up front: raise listing the bad ones ("error") or drop them with a warning."""
    bad = []
    for path, _ in samples:
        _, reason = _read_checked(path)
        if reason:
            bad.append((path, reason))
    if not bad:
        return samples
    listing = "; ".join(f"'{p}': {r}" for p, r in bad[:10]) + (" ..." if len(bad) > 10 else "")
    if on_bad_image == "error":
        raise DatasetError(f"{len(bad)} bad image file(s): {listing}")
    _logger.warning(f"dropping {len(bad)} bad image file(s): {listing}")
    bad_paths = {p for p, _ in bad}
    kept = [s for s in samples if s[0] not in bad_paths]
    if not kept:
        raise DatasetError(f"no readable image left after dropping {len(bad)} bad file(s): {listing}")
    return kept


def _check_int(name: str, value, minimum: int, allow_none: bool = True) -> None:
    """Raise a DatasetError unless value is an int >= minimum (or None when allowed)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise DatasetError(f"{name} must be an integer >= {minimum}{' or None' if allow_none else ''}, got {value!r}")


def _make_sampler(shuffle: bool, num_samples: Optional[int], num_shards: Optional[int],
                  shard_id: Optional[int]) -> ds.Sampler:
    """Sequential, random or distributed sampler, as MindCV picks them."""
    if num_shards is not None:
        return ds.DistributedSampler(num_shards, shard_id, shuffle=shuffle, num_samples=num_samples)
    if shuffle:
        return ds.RandomSampler(replacement=False, num_samples=num_samples)
    return ds.SequentialSampler(num_samples=num_samples)


def _check_dataset_args(split, shuffle, num_samples, num_shards, shard_id, num_parallel_workers, seed) -> None:
    """Validate create_dataset's arguments, naming the bad one."""
    if not isinstance(split, str):
        raise DatasetError(f"split must be a string such as 'train' or 'val', got {split!r}")
    if not isinstance(shuffle, bool):
        raise DatasetError(f"shuffle must be True or False, got {shuffle!r}")
    _check_int("num_samples", num_samples, 1)
    _check_int("num_parallel_workers", num_parallel_workers, 1)
    _check_int("seed", seed, 0)
    if (num_shards is None) != (shard_id is None):
        raise DatasetError(f"num_shards and shard_id must be given together, got num_shards={num_shards!r}, "
                           f"shard_id={shard_id!r}")
    if num_shards is not None:
        _check_int("num_shards", num_shards, 1, allow_none=False)
        _check_int("shard_id", shard_id, 0, allow_none=False)
        if shard_id >= num_shards:
            raise DatasetError(f"shard_id must be in [0, num_shards), got shard_id={shard_id}, num_shards={num_shards}")


def _resolve_root(name: str, root: str, download: bool) -> str:
    """The folder to read for a dataset name (preparing the embedded digits when asked for)."""
    if name in _EMBEDDED_NAMES:
        from .digits import prepare_digits  # local import: digits needs scikit-learn only when used

        try:
            return prepare_digits(root or None)
        except FileExistsError:
            raise DatasetError(f"--data_dir {root} given with dataset 'digits' (the embedded demo set, written there "
                               f"on first use), but it holds other files: use --dataset folder for your own image "
                               f"folders (<data_dir>/train/<class>/<image>), or leave data_dir empty for the "
                               f"demo") from None
    if name not in FOLDER_DATASET_NAMES:
        raise DatasetError(f"unknown dataset name {name!r} (config key dataset): supported are "
                           f"{list(FOLDER_DATASET_NAMES + _EMBEDDED_NAMES) + list(PUBLISHED_DATASETS)} ('' / "
                           f"'imagenet' / 'folder' read <root>/<split>/<class>/<image>)")
    if download:
        raise DatasetError(f"dataset {name or 'folder'!r} cannot be downloaded (only {list(PUBLISHED_DATASETS)} "
                           f"can): place it at root (config key data_dir) as <root>/<split>/<class>/<image> and set "
                           f"download to False")
    return root


@dataclass
class FolderIndex:
    """The validated file list of one split: (path, label) samples, class names, and datasets over subsets."""

    samples: List[Tuple[str, int]]
    class_names: List[str]
    root: str
    split: str
    on_bad_image: str = "skip"
    bad_images: Dict[str, str] = field(default_factory=dict)  # shared by every dataset built from this index
    images_dir: Optional[str] = None  # where the images are when not in class folders (pets)

    @classmethod
    def scan(cls, name: str, root: str, split: str = "train", class_names: Optional[Sequence[str]] = None,
             download: bool = False, on_bad_image: str = "skip", verify_images: bool = False) -> "FolderIndex":
        """Resolve the dataset name (preparing 'digits' if needed), then list and validate root/split."""
        if not isinstance(name, str):
            raise DatasetError(f"dataset name must be a string, got {name!r}")
        if not isinstance(split, str):
            raise DatasetError(f"split must be a string such as 'train' or 'val', got {split!r}")
        _check_policy(on_bad_image)
        root = _resolve_root(name.lower(), root, download)
        samples, names = scan_image_folder(root, split, class_names)
        if verify_images:
            samples = _verify_all(samples, on_bad_image)
        return cls(samples, names, root, split, on_bad_image)

    @property
    def split_dir(self) -> str:
        """The directory holding the split's class folders (or its images)."""
        return self.images_dir or _split_dir(self.root, self.split)

    def __len__(self) -> int:
        return len(self.samples)

    def num_classes(self) -> int:
        """Number of classes (of the label order in use)."""
        return len(self.class_names)

    def source(self, indices: Optional[Sequence[int]] = None) -> ImageFolderSource:
        """A random-access source over the samples at indices (all samples, in order, by default)."""
        if indices is None:
            return ImageFolderSource(self.samples, on_bad_image=self.on_bad_image, bad_images=self.bad_images)
        bad = [i for i in indices if not 0 <= int(i) < len(self.samples)]
        if bad:
            raise DatasetError(f"sample indices {bad[:5]} are outside [0, {len(self.samples)}) for {self.split_dir}")
        samples = [self.samples[int(i)] for i in indices]
        return ImageFolderSource(samples, on_bad_image=self.on_bad_image, bad_images=self.bad_images)

    def dataset(self, indices: Optional[Sequence[int]] = None, num_parallel_workers: Optional[int] = None,
                seed: Optional[int] = None, sampler: Optional[ds.Sampler] = None) -> ds.Dataset:
        """(image bytes, int32 label) dataset reading the samples at indices in that order (or via sampler).

        seed: sets MindSpore's global dataset seed (the random augmentations created afterwards).
        """
        _check_int("num_parallel_workers", num_parallel_workers, 1)
        _check_int("seed", seed, 0)
        if seed is not None:
            ds.config.set_seed(seed)
        dataset = ds.GeneratorDataset(
            self.source(indices),
            column_names=["image", "label"],
            sampler=sampler if sampler is not None else ds.SequentialSampler(),
            num_parallel_workers=num_parallel_workers or 1,
            python_multiprocessing=False,  # threads: file reads release the GIL, bad-file counts stay shared
        )
        dataset.class_names = list(self.class_names)
        dataset.num_classes = self.num_classes
        dataset.bad_images = self.bad_images
        dataset.root = self.root
        return dataset


DatasetIndex = Union[FolderIndex, ReaderIndex]


def _published_folder(spec: PublishedDataset, root: str, download: bool) -> str:
    """The folder of a public dataset's files (downloaded there first when asked for)."""
    root = os.path.abspath(os.path.expanduser(root or default_dataset_root(spec.name)))
    if download and not spec.is_complete(root):
        download_dataset(spec.name, spec.resources, root)
    return spec.folder(root)


def create_index(name: str, root: str, split: str = "train", class_names: Optional[Sequence[str]] = None,
                 download: bool = False, on_bad_image: str = "skip", verify_images: bool = False) -> DatasetIndex:
    """The validated sample list of one split of any dataset name: a FolderIndex or a ReaderIndex.

    Both give ``samples`` ((path or record id, label) pairs), ``class_names``, ``len()``, ``num_classes()``,
    ``split_dir``, ``bad_images`` and ``dataset(indices, num_parallel_workers, seed, sampler)``. class_names:
    the label order to use for a folder dataset; a public dataset has its own, which must then agree.
    download: fetch a public dataset's published files into root first (root empty: the data cache).
    """
    if not isinstance(name, str):
        raise DatasetError(f"dataset name must be a string, got {name!r}")
    spec = PUBLISHED_DATASETS.get(name.lower())
    if spec is None:
        return FolderIndex.scan(name, root, split, class_names=class_names, download=download,
                                on_bad_image=on_bad_image, verify_images=verify_images)
    if not isinstance(split, str):
        raise DatasetError(f"split must be a string such as 'train' or 'val', got {split!r}")
    _check_policy(on_bad_image)
    folder = _published_folder(spec, root, download)
    if isinstance(spec, Pets):
        samples, names = spec.file_list(folder, split)
        if verify_images:
            samples = _verify_all(samples, on_bad_image)
        index = FolderIndex(samples, names, folder, split, on_bad_image, images_dir=os.path.join(folder, "images"))
    else:
        index = spec.index(folder, split)
    if class_names is not None and list(class_names) != list(index.class_names):
        raise DatasetError(f"dataset {spec.name} has its own classes {index.class_names[:3]}..., not the "
                           f"{len(class_names)} classes asked for {list(class_names)[:3]}...")
    return index


def get_dataset_class_names(name: str, root: str, split: str = "train") -> List[str]:
    """Class names in label order of any dataset name (for a folder dataset, get_class_names(root, split))."""
    spec = PUBLISHED_DATASETS.get(str(name).lower())
    if spec is None:
        return get_class_names(root, split)
    return spec.class_names(_published_folder(spec, root, download=False))


def create_dataset(
    name: str = "",
    root: str = "",
    split: str = "train",
    shuffle: bool = True,
    num_samples: Optional[int] = None,
    num_shards: Optional[int] = None,
    shard_id: Optional[int] = None,
    num_parallel_workers: Optional[int] = None,
    download: bool = False,
    seed: Optional[int] = None,
    on_bad_image: str = "skip",
    verify_images: bool = False,
    num_aug_repeats: int = 0,
) -> ds.Dataset:
    """A dataset of (image, int label) rows: image bytes from root/split/<class>/<image>, or a public dataset.

    name: '' / 'imagenet' / 'folder' read ``root``; 'digits' reads the embedded digits (prepared
    on first use at ``root`` or in the cache dir); mnist, cifar10, cifar100, flowers102, pets read
    their published files at ``root`` (fetched there first with ``download``; see create_index).
    num_samples: rows per epoch (per shard when sharded). num_shards / shard_id: data-parallel
    sharding with MindSpore's DistributedSampler, each shard a disjoint 1/N of the data; its shuffle
    order follows MindSpore's global dataset seed, so every rank must use the same seed. seed: sets
    that global seed, which fixes the shuffle order and the random augmentations created afterwards.
    num_aug_repeats > 1: repeated augmentation (a RepeatAugSampler, as MindCV; its order is drawn
    from ``seed``, else 0, and changes at every pass). on_bad_image / verify_images: see the module
    docstring. The returned dataset has attributes ``class_names``, ``num_classes()`` and
    ``bad_images`` (path -> reason of the files skipped so far).
    """
    if not isinstance(name, str):
        raise DatasetError(f"dataset name must be a string, got {name!r}")
    _check_dataset_args(split, shuffle, num_samples, num_shards, shard_id, num_parallel_workers, seed)
    _check_int("num_aug_repeats", num_aug_repeats, 0, allow_none=False)
    if num_aug_repeats > 1 and num_samples is not None:
        raise DatasetError("num_samples and num_aug_repeats cannot be set together (as in MindCV)")
    index = create_index(name, root, split, download=download, on_bad_image=on_bad_image,
                         verify_images=verify_images)
    if seed is not None:
        ds.config.set_seed(seed)  # before the sampler: MindSpore samplers take the global seed when built
    if num_aug_repeats > 1:
        sampler = RepeatAugSampler(len(index), num_aug_repeats, num_shards or 1, shard_id or 0, shuffle, seed or 0)
    else:
        sampler = _make_sampler(shuffle, num_samples, num_shards, shard_id)
    dataset = index.dataset(num_parallel_workers=num_parallel_workers, sampler=sampler)
    _logger.info(f"dataset {name.lower() or 'folder'} split '{split}': {len(index)} images, "
                 f"{index.num_classes()} classes from {index.split_dir}"
                 + (f" (shard {shard_id} of {num_shards})" if num_shards else ""))
    return dataset
