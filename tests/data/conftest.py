"""Fixtures for the data tests: a tiny generated JPEG folder in the ImageNet layout."""
import pytest

from tests.data.folders import TRAIN_PER_CLASS, VAL_CLASSES, VAL_PER_CLASS, write_folder


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory) -> str:
    """root/train/{cat,dog,fox}/*.JPEG (4 per class) and root/val/{dog,fox}/*.JPEG (2 per class), read-only."""
    root = str(tmp_path_factory.mktemp("tiny_imagenet"))
    write_folder(root, {"train": TRAIN_PER_CLASS})
    return write_folder(root, {"val": VAL_PER_CLASS}, classes=VAL_CLASSES, first_seed=1000)


@pytest.fixture()
def fresh_folder(tmp_path) -> str:
    """A writable tiny folder (train only, classes a and b, 3 images each) for the bad-data tests."""
    return write_folder(str(tmp_path / "data"), {"train": 3}, classes=["a", "b"])
