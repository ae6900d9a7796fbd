"""CIFAR-10 and CIFAR-100 in their published binary form, read by MindSpore's Cifar10Dataset / Cifar100Dataset.

Layout (the extracted ``cifar-10-binary.tar.gz`` / ``cifar-100-binary.tar.gz``; ``<data_dir>`` may also be the
inner folder itself):
  cifar10:  ``<data_dir>/cifar-10-batches-bin/{data_batch_1..5.bin, test_batch.bin, batches.meta.txt}``
  cifar100: ``<data_dir>/cifar-100-binary/{train.bin, test.bin, fine_label_names.txt}``
A record is <label byte(s)> + 3,072 bytes of a 32 x 32 RGB image (planes R, G, B); CIFAR-100 records carry the
coarse then the fine label, and the fine label (100 classes) is the one used. MindSpore's reader expects exactly
10,000 records per CIFAR-10 file and 50,000 / 10,000 in CIFAR-100's train / test file, as published; the sizes
are checked here so that a wrong file is named before training starts. Splits: train (50,000), test (10,000;
also read as val). Class names come from the archive's batches.meta.txt / fine_label_names.txt.
"""
import os
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import numpy as np

import mindspore.dataset as ds

from .dataset_download import Resource
from .errors import DatasetError
from .published import PublishedDataset, require_files
from .reader_index import ReaderIndex

__all__ = ["Cifar", "CIFAR10", "CIFAR100"]

IMAGE_BYTES = 32 * 32 * 3


@dataclass(frozen=True)
class _Format:
    """What tells CIFAR-10's binary version from CIFAR-100's."""

    folder: str  # the archive's folder
    python_folder: str  # the folder of the Python (pickle) version, which MindSpore does not read
    files: dict  # published split -> ((file, records), ...)
    label_bytes: int
    label_byte: int  # which of them is the label used
    names_file: str
    reader: Callable
    url: str
    md5: str


_CIFAR10 = _Format(
    "cifar-10-batches-bin", "cifar-10-batches-py",
    {"train": tuple((f"data_batch_{i}.bin", 10000) for i in range(1, 6)), "test": (("test_batch.bin", 10000),)},
    1, 0, "batches.meta.txt", ds.Cifar10Dataset,
    "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530")
_CIFAR100 = _Format(
    "cifar-100-binary", "cifar-100-python",
    {"train": (("train.bin", 50000),), "test": (("test.bin", 10000),)},
    2, 1, "fine_label_names.txt", ds.Cifar100Dataset,
    "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8")


def _read_labels(path: str, records: int, record_bytes: int, label_byte: int) -> np.ndarray:
    """The label byte of every record of a binary file (its size checked first)."""
    size = os.path.getsize(path)
    if size != records * record_bytes:
        raise DatasetError(f"{path} is {size} bytes, expected {records * record_bytes} ({records} records of "
                           f"{record_bytes} bytes, the published binary version): replace it (or set "
                           f"dataset_download True)")
    table = np.memmap(path, dtype=np.uint8, mode="r", shape=(records, record_bytes))
    return np.array(table[:, label_byte])


class Cifar(PublishedDataset):
    """CIFAR-10 (num_classes 10) or CIFAR-100 (100) binary version."""

    splits = {"train": "train", "val": "test", "test": "test"}

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.name = f"cifar{num_classes}"
        self.format = _CIFAR10 if num_classes == 10 else _CIFAR100
        fmt = self.format
        self.resources = (Resource(fmt.url, fmt.md5, fmt.folder),)
        listed = [f for files in fmt.files.values() for f, _ in files] + [fmt.names_file]
        self.layout = f"<data_dir>/{fmt.folder}/{{{', '.join(listed)}}} (the extracted {fmt.url.rsplit('/', 1)[1]})"

    def folder(self, root: str) -> str:
        """``root`` when it holds the files, else its ``cifar-10-batches-bin`` / ``cifar-100-binary`` folder."""
        root = super().folder(root)
        if os.path.isfile(os.path.join(root, self.format.names_file)):
            return root
        inner = os.path.join(root, self.format.folder)
        if not os.path.isdir(inner):
            python_version = self.format.python_folder
            hint = (f" ({python_version} there is the Python version; MindSpore reads the binary version)"
                    if os.path.isdir(os.path.join(root, python_version)) else "")
            raise DatasetError(f"dataset {self.name}: no {self.format.folder} folder (nor its files) in {root}"
                               f"{hint}; expected {self.layout}, or set dataset_download True")
        return inner

    def is_complete(self, root: str) -> bool:
        """True when ``root`` holds the files, itself or in the archive's folder."""
        return os.path.isfile(os.path.join(root, self.format.names_file)) or super().is_complete(root)

    def class_names(self, folder: str) -> List[str]:
        path = os.path.join(folder, self.format.names_file)
        require_files(self.name, folder, [self.format.names_file], self.layout)
        with open(path, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip()]
        if len(names) != self.num_classes:
            raise DatasetError(f"{path} lists {len(names)} class names, {self.name} has {self.num_classes}")
        return names

    def _open_reader(self, folder: str, usage: str, sampler, workers: Optional[int]) -> ds.Dataset:
        """MindSpore's reader over one published split, as image and label columns."""
        dataset = self.format.reader(folder, usage=usage, sampler=sampler, num_parallel_workers=workers)
        if self.num_classes == 100:
            dataset = dataset.rename(["fine_label"], ["label"]).project(["image", "label"])
        return dataset

    def index(self, root: str, split: str) -> ReaderIndex:
        """The records of one split (file sizes checked, labels read)."""
        usage = self.split_name(split)
        folder = self.folder(root)
        files: Tuple[Tuple[str, int], ...] = self.format.files[usage]
        require_files(self.name, folder, [f for f, _ in files], self.layout)
        names = self.class_names(folder)
        samples = []
        for name, records in files:  # MindSpore reads a split's files in this (sorted) order
            path = os.path.join(folder, name)
            labels = _read_labels(path, records, self.format.label_bytes + IMAGE_BYTES, self.format.label_byte)
            if labels.size and int(labels.max()) >= self.num_classes:
                raise DatasetError(f"{path} holds label {int(labels.max())}: {self.name} labels are 0-"
                                   f"{self.num_classes - 1}; is it the other CIFAR's file?")
            samples += [(f"{path}#{i}", label) for i, label in enumerate(labels.tolist())]
        return ReaderIndex(samples, names, folder, split,
                           lambda sampler, workers: self._open_reader(folder, usage, sampler, workers),
                           {record: row for row, (record, _) in enumerate(samples)})


CIFAR10 = Cifar(10)
CIFAR100 = Cifar(100)
