"""Helpers of the public-dataset tests: small files in the real published formats.

MNIST: idx files (magic numbers 2051 / 2049, big-endian counts, 28 x 28 images). CIFAR: binary batches of
<label byte(s)> + 3,072 image bytes (R, G, B planes); MindSpore's reader wants the published record counts
(10,000 per CIFAR-10 file, 50,000 / 10,000 in CIFAR-100's), so the files are sparse: a few marked records carry
data, the rest are zero records (label 0, black image) that take no disk space. Flowers-102: jpg/image_NNNNN.jpg,
imagelabels.mat and setid.mat written with scipy. Oxford-IIIT Pet: images/<Breed>_<n>.jpg and
annotations/{trainval,test}.txt.
"""
import io
import os
import struct
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image
from scipy.io import savemat

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10_FILES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
CIFAR100_FILES = {"train": [("train.bin", 50000)], "test": [("test.bin", 10000)]}
MARKED = 6  # records with data at the start of each CIFAR file (and its last record)


def mnist_images(count: int, seed: int) -> np.ndarray:
    """count noisy 28 x 28 grey images (distinct, so crops of copies differ)."""
    return np.random.default_rng(seed).integers(0, 256, (count, 28, 28), dtype=np.uint8)


def write_mnist(folder: str, counts: Dict[str, int] = None, seed: int = 0) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """<folder>/{train,t10k}-{images-idx3,labels-idx1}-ubyte; returns {prefix: (images, labels)}."""
    os.makedirs(folder, exist_ok=True)
    written = {}
    for number, (prefix, count) in enumerate((counts or {"train": 12, "t10k": 7}).items()):
        images = mnist_images(count, seed + number)
        labels = np.random.default_rng(seed + 100 + number).integers(0, 10, count).astype(np.uint8)
        with open(os.path.join(folder, f"{prefix}-images-idx3-ubyte"), "wb") as f:
            f.write(struct.pack(">IIII", 2051, count, 28, 28) + images.tobytes())
        with open(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"), "wb") as f:
            f.write(struct.pack(">II", 2049, count) + labels.tobytes())
        written[prefix] = (images, labels)
    return written


def cifar_record_image(file_number: int, record: int) -> np.ndarray:
    """The 32 x 32 x 3 image of a marked record: pixel (0, 0) is (file_number, record % 256, 7)."""
    image = np.zeros((32, 32, 3), np.uint8)
    image[0, 0] = (file_number, record % 256, 7)
    return image


def _write_sparse(path: str, records: int, label_bytes: int, marked: Dict[int, Tuple[int, ...]],
                  file_number: int) -> None:
    """A binary batch of `records` records, only the `marked` ones ({record: labels}) written."""
    record_bytes = label_bytes + 3072
    with open(path, "wb") as f:
        f.truncate(records * record_bytes)
        for record, labels in marked.items():
            f.seek(record * record_bytes)
            image = cifar_record_image(file_number, record)
            f.write(bytes(labels) + image.transpose(2, 0, 1).tobytes())  # planes R, G, B


def _marks(records: int) -> List[int]:
    return list(range(MARKED)) + [records - 1]


def write_cifar10(folder: str) -> Dict[str, np.ndarray]:
    """<folder>/cifar-10-batches-bin as published; returns {file: labels of all its records}."""
    inner = os.path.join(folder, "cifar-10-batches-bin")
    os.makedirs(inner, exist_ok=True)
    labels = {}
    for file_number, name in enumerate(CIFAR10_FILES["train"] + CIFAR10_FILES["test"], 1):
        values = np.zeros(10000, np.int64)
        marked = {}
        for record in _marks(10000):
            values[record] = (3 * record + file_number) % 10
            marked[record] = (int(values[record]),)
        _write_sparse(os.path.join(inner, name), 10000, 1, marked, file_number)
        labels[name] = values
    with open(os.path.join(inner, "batches.meta.txt"), "w") as f:
        f.write("\n".join(CIFAR10_NAMES) + "\n\n")
    return labels


def write_cifar100(folder: str) -> Dict[str, np.ndarray]:
    """<folder>/cifar-100-binary as published; returns {file: fine labels of all its records}."""
    inner = os.path.join(folder, "cifar-100-binary")
    os.makedirs(inner, exist_ok=True)
    labels = {}
    for file_number, (name, records) in enumerate(CIFAR100_FILES["train"] + CIFAR100_FILES["test"], 1):
        values = np.zeros(records, np.int64)
        marked = {}
        for record in _marks(records):
            values[record] = (37 * record + 11 * file_number) % 100
            marked[record] = (int(values[record]) % 20, int(values[record]))  # coarse, fine
        _write_sparse(os.path.join(inner, name), records, 2, marked, file_number)
        labels[name] = values
    with open(os.path.join(inner, "fine_label_names.txt"), "w") as f:
        f.write("\n".join(f"fine_{i}" for i in range(100)) + "\n")
    with open(os.path.join(inner, "coarse_label_names.txt"), "w") as f:
        f.write("\n".join(f"coarse_{i}" for i in range(20)) + "\n")
    return labels


def jpeg(seed: int, size=(12, 10)) -> bytes:
    """A small distinct JPEG."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


FLOWERS_LABELS = [1, 5, 102, 3, 3, 50, 1, 7, 9, 102, 2]  # of image ids 1..11 (the published file: 1-102)
FLOWERS_SETID = {"trnid": [2, 1, 3], "valid": [5, 4], "tstid": [6, 11, 7, 8, 9, 10]}


def write_flowers102(folder: str) -> str:
    """<folder>/jpg/image_000NN.jpg, imagelabels.mat, setid.mat (as published: 1-based ids and labels)."""
    os.makedirs(os.path.join(folder, "jpg"), exist_ok=True)
    for image_id in range(1, len(FLOWERS_LABELS) + 1):
        with open(os.path.join(folder, "jpg", f"image_{image_id:05d}.jpg"), "wb") as f:
            f.write(jpeg(image_id))
    savemat(os.path.join(folder, "imagelabels.mat"), {"labels": np.array([FLOWERS_LABELS], np.uint8)})
    savemat(os.path.join(folder, "setid.mat"), {k: np.array([v], np.uint16) for k, v in FLOWERS_SETID.items()})
    return folder


def pets_breed(class_id: int) -> str:
    """Breed names like the published ones: cats capitalised, dogs lower-case with underscores."""
    return f"Cat{class_id}" if class_id % 2 else f"dog_breed_{class_id}"


def write_pets(folder: str) -> Dict[str, List[Tuple[str, int]]]:
    """<folder>/images/*.jpg and annotations/{trainval,test}.txt (2 trainval and 1 test image per breed)."""
    os.makedirs(os.path.join(folder, "images"), exist_ok=True)
    os.makedirs(os.path.join(folder, "annotations"), exist_ok=True)
    lists = {"trainval": [], "test": []}
    for class_id in range(1, 38):
        for number in (1, 2, 3):
            name = f"{pets_breed(class_id)}_{number}"
            with open(os.path.join(folder, "images", name + ".jpg"), "wb") as f:
                f.write(jpeg(100 * class_id + number))
            lists["test" if number == 3 else "trainval"].append((name, class_id))
    for split, entries in lists.items():
        with open(os.path.join(folder, "annotations", f"{split}.txt"), "w") as f:
            f.writelines(f"{name} {class_id} {1 + class_id % 2} {class_id}\n" for name, class_id in entries)
    return lists
