"""MNIST in its published form: four idx files read by MindSpore's MnistDataset; the grey digits leave as RGB.

Layout: ``<root>/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (the published ``*.gz`` files, uncompressed).
Splits: train (60,000 images), test (10,000; also read as val). Labels 0-9, named "0" to "9". The 28 x 28
grey images are replicated to three channels, which is what the models (in_channels 3) and the ImageNet
normalisation expect; MindCV instead feeds one channel to models built with in_channels 1.
"""
import os
import struct
from typing import List, Optional, Tuple

import numpy as np

import mindspore.dataset as ds
from mindspore.dataset import vision

from .dataset_download import Resource
from .errors import DatasetError
from .published import PublishedDataset, require_files
from .reader_index import ReaderIndex

__all__ = ["Mnist", "MNIST"]

# torchvision's mirror of yann.lecun.com/exdb/mnist (which now refuses plain downloads); the MD5s both list
_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_MD5 = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049  # idx headers: unsigned byte data, 3 and 1 dimensions
IMAGE_SIDE = 28  # MindSpore's reader accepts 28 x 28 images only


def _read_header(path: str, magic: int, ndim: int) -> Tuple[int, ...]:
    """The dimensions in an idx file's header, after checking its magic number and its size."""
    with open(path, "rb") as f:
        head = f.read(4 * (ndim + 1))
    if len(head) < 4 * (ndim + 1) or struct.unpack(">I", head[:4])[0] != magic:
        found = struct.unpack(">I", head[:4])[0] if len(head) >= 4 else None
        raise DatasetError(f"{path} is not an MNIST idx file (magic number {found}, expected {magic}): use the "
                           f"published file, uncompressed (gunzip), or set dataset_download True")
    dims = struct.unpack(f">{ndim}I", head[4:])
    expected = 4 * (ndim + 1) + int(np.prod(dims))
    if os.path.getsize(path) != expected:
        raise DatasetError(f"{path} is {os.path.getsize(path)} bytes but its header {dims} says {expected}: the file "
                           f"is truncated or corrupt; replace it (or set dataset_download True)")
    return dims


def _open_reader(folder: str, usage: str, sampler, workers: Optional[int]) -> ds.Dataset:
    """MindSpore's MnistDataset over one split, its grey images as RGB."""
    dataset = ds.MnistDataset(folder, usage=usage, sampler=sampler, num_parallel_workers=workers)
    return dataset.map(vision.ConvertColor(vision.ConvertMode.COLOR_GRAY2RGB), input_columns="image")


class Mnist(PublishedDataset):
    """MNIST's published idx files."""

    name = "mnist"
    num_classes = 10
    resources = tuple(Resource(_URL + f + ".gz", _MD5[f], f) for pair in _FILES.values() for f in pair)
    splits = {"train": "train", "val": "test", "test": "test"}
    layout = "<data_dir>/{train,t10k}-images-idx3-ubyte and {train,t10k}-labels-idx1-ubyte (the published .gz " \
             "files, uncompressed)"

    def class_names(self, folder: str) -> List[str]:
        return [str(digit) for digit in range(10)]

    def index(self, root: str, split: str) -> ReaderIndex:
        """The records of one split (headers and sizes checked, labels read)."""
        usage = self.split_name(split)
        folder = self.folder(root)
        images, labels = _FILES[usage]
        for name in (images, labels):
            if not os.path.isfile(os.path.join(folder, name)) and os.path.isfile(os.path.join(folder, name + ".gz")):
                raise DatasetError(f"dataset mnist: {folder} holds {name}.gz but not {name}: decompress it (gunzip) "
                                   f"or set dataset_download True (it checks and extracts the .gz files found there)")
        require_files(self.name, folder, [images, labels], self.layout)
        count, rows, cols = _read_header(os.path.join(folder, images), IMAGES_MAGIC, 3)
        (num_labels,) = _read_header(os.path.join(folder, labels), LABELS_MAGIC, 1)
        if (rows, cols) != (IMAGE_SIDE, IMAGE_SIDE) or count != num_labels:
            raise DatasetError(f"dataset mnist: {images} holds {count} images of {rows} x {cols} and {labels} "
                               f"{num_labels} labels; MNIST has one label per 28 x 28 image")
        values = np.fromfile(os.path.join(folder, labels), dtype=np.uint8, offset=8)
        if values.size and int(values.max()) >= self.num_classes:
            raise DatasetError(f"{os.path.join(folder, labels)} holds label {int(values.max())}: MNIST labels are 0-9")
        ids = [f"{os.path.join(folder, images)}#{i}" for i in range(count)]
        return ReaderIndex(list(zip(ids, values.tolist())), self.class_names(folder), folder, split,
                           lambda sampler, workers: _open_reader(folder, usage, sampler, workers),
                           {record: row for row, record in enumerate(ids)})


MNIST = Mnist()
