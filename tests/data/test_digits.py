"""The embedded digits dataset: written once from scikit-learn's copy, in the ImageNet layout."""
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from mindcv.data import create_dataset, prepare_digits
from mindcv.data.digits import (DIGITS_NUM_TRAIN, DIGITS_NUM_VAL, _load_digits, default_digits_root,
                                digits_split_indices)
from tests.data.folders import rows

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def digits_root(tmp_path_factory) -> str:
    return prepare_digits(str(tmp_path_factory.mktemp("cache") / "digits"))


def _count(root: str, split: str) -> dict:
    return {c: len(os.listdir(os.path.join(root, split, c))) for c in sorted(os.listdir(os.path.join(root, split)))}


def test_split_sizes_and_stratification(digits_root):
    train, val = _count(digits_root, "train"), _count(digits_root, "val")
    assert list(train) == list(val) == [str(d) for d in range(10)]
    assert sum(train.values()) == DIGITS_NUM_TRAIN == 1433 and sum(val.values()) == DIGITS_NUM_VAL == 364
    assert DIGITS_NUM_TRAIN + DIGITS_NUM_VAL == 1797
    for digit in train:
        total = train[digit] + val[digit]
        assert val[digit] == -(-total // 5)  # every fifth image of each digit


def test_images_come_from_scikit_learn(digits_root):
    images, labels = _load_digits()
    split = digits_split_indices(labels)
    index = split["val"][3]
    path = os.path.join(digits_root, "val", str(labels[index]), f"digit_{index:04d}.png")
    png = np.asarray(Image.open(path))
    assert png.shape == (32, 32, 3) and png.dtype == np.uint8
    assert np.array_equal(png[..., 0], png[..., 1])  # grey replicated to RGB
    small = np.asarray(Image.fromarray(png[..., 0]).resize((8, 8), Image.BOX), dtype=np.float32)
    assert np.corrcoef(small.ravel(), images[index].ravel().astype(np.float32))[0, 1] > 0.9
    assert not set(split["train"]) & set(split["val"])


def test_read_through_create_dataset(digits_root):
    dataset = create_dataset("digits", digits_root, split="val", shuffle=False)
    assert dataset.get_dataset_size() == DIGITS_NUM_VAL and dataset.class_names == [str(d) for d in range(10)]
    first = rows(dataset)[0]
    assert first[0][:4].tolist() == [0x89, 0x50, 0x4E, 0x47] and int(first[1]) == 0


def test_prepare_is_idempotent_and_safe_when_racing(tmp_path):
    root = str(tmp_path / "digits")
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: prepare_digits(root, quiet=True), range(2)))
    assert results == [root, root]
    assert sum(_count(root, "train").values()) == DIGITS_NUM_TRAIN
    assert [n for n in os.listdir(tmp_path) if n.startswith(".digits-tmp")] == []  # no leftovers
    mtime = os.path.getmtime(os.path.join(root, "digits.json"))
    assert prepare_digits(root) == root and os.path.getmtime(os.path.join(root, "digits.json")) == mtime


def test_foreign_folder_is_not_overwritten(tmp_path):
    (tmp_path / "digits").mkdir()
    (tmp_path / "digits" / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a complete digits dataset"):
        prepare_digits(str(tmp_path / "digits"))


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MINDCV_DATA_CACHE", str(tmp_path))
    assert default_digits_root() == os.path.join(str(tmp_path), "digits")
    monkeypatch.delenv("MINDCV_DATA_CACHE")
    assert default_digits_root() == os.path.join(os.path.expanduser("~"), ".cache", "mindcv", "digits")


def test_command_line_prints_the_path(digits_root):
    result = subprocess.run([sys.executable, "-m", "mindcv.data.digits", "--root", digits_root], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, env={**os.environ, "GLOG_v": "3"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == digits_root
