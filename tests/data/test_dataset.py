"""create_dataset on a tiny JPEG folder: rows, labels, seeds, shards, and every bad-data case."""
import hashlib
import logging
import os

import numpy as np
import pytest

from mindcv.data import DatasetError, create_dataset, get_class_names
from tests.data.folders import CLASSES, TRAIN_PER_CLASS, VAL_CLASSES, VAL_PER_CLASS, jpeg_bytes, rows


def _digest(image: np.ndarray) -> str:
    """Identity of a row: hash of its encoded bytes."""
    return hashlib.sha1(image.tobytes()).hexdigest()


def test_rows_are_encoded_bytes_and_int32_labels(tiny_folder):
    dataset = create_dataset("imagenet", tiny_folder, split="train", shuffle=False)
    data = rows(dataset)
    assert dataset.get_col_names() == ["image", "label"]
    assert len(data) == dataset.get_dataset_size() == len(CLASSES) * TRAIN_PER_CLASS
    assert all(img.dtype == np.uint8 and img.ndim == 1 and img[:2].tolist() == [0xFF, 0xD8] for img, _ in data)
    labels = [int(lab) for _, lab in data]
    assert data[0][1].dtype == np.int32
    assert labels == sorted(labels) and set(labels) == set(range(len(CLASSES)))
    assert dataset.class_names == CLASSES and dataset.num_classes() == len(CLASSES)


def test_val_uses_train_class_indices(tiny_folder):
    # val lacks 'cat': indices must still follow train's sorted class folders
    assert get_class_names(tiny_folder, "val") == CLASSES
    dataset = create_dataset("", tiny_folder, split="val", shuffle=False)
    assert len(rows(dataset)) == len(VAL_CLASSES) * VAL_PER_CLASS
    assert sorted({int(lab) for _, lab in rows(dataset)}) == [1, 2]


def test_same_seed_same_order_and_different_seed_differs(tiny_folder):
    orders = [[_digest(img) for img, _ in rows(create_dataset("", tiny_folder, seed=s))] for s in (7, 7, 8)]
    assert orders[0] == orders[1]
    assert orders[0] != orders[2]
    assert sorted(orders[0]) == sorted(orders[2])


@pytest.mark.parametrize("shuffle", [True, False])
def test_shards_are_disjoint_and_cover_the_data(tiny_folder, shuffle):
    shards = [{_digest(img) for img, _ in rows(create_dataset("", tiny_folder, shuffle=shuffle, num_shards=3,
                                                              shard_id=i, seed=3))} for i in range(3)]
    everything = {_digest(img) for img, _ in rows(create_dataset("", tiny_folder, shuffle=False))}
    assert all(len(s) == len(everything) // 3 for s in shards)
    assert not (shards[0] & shards[1]) and not (shards[0] & shards[2]) and not (shards[1] & shards[2])
    assert set().union(*shards) == everything


def test_num_samples_limits_the_epoch(tiny_folder):
    assert len(rows(create_dataset("", tiny_folder, num_samples=5))) == 5


@pytest.mark.parametrize("setup,match", [
    (lambda root: os.path.join(root, "nope"), "does not exist"),
    (lambda root: root, "split folder"),  # no 'val' split in fresh_folder
])
def test_missing_root_or_split_names_the_path(fresh_folder, setup, match):
    root = setup(fresh_folder)
    with pytest.raises(DatasetError, match=match) as err:
        create_dataset("", root, split="val")
    assert "nope" in str(err.value) or os.path.join(root, "val") in str(err.value)


def test_empty_class_folder_names_it(fresh_folder):
    empty = os.path.join(fresh_folder, "train", "c_empty")
    os.makedirs(empty)
    with pytest.raises(DatasetError, match="holds no images") as err:
        create_dataset("", fresh_folder)
    assert empty in str(err.value)


def test_no_images_at_all(tmp_path):
    for name in ("a", "b"):
        os.makedirs(tmp_path / "train" / name)
        (tmp_path / "train" / name / "notes.txt").write_text("not an image")
    with pytest.raises(DatasetError, match="holds no images"):
        create_dataset("", str(tmp_path))
    os.makedirs(tmp_path / "flat" / "train")
    (tmp_path / "flat" / "train" / "x.jpg").write_bytes(jpeg_bytes(0))
    with pytest.raises(DatasetError, match="no class folders"):
        create_dataset("", str(tmp_path / "flat"))


def test_val_class_missing_from_train_is_an_error(fresh_folder):
    for name in ("a", "zebra"):
        os.makedirs(os.path.join(fresh_folder, "val", name))
        with open(os.path.join(fresh_folder, "val", name, "x.jpg"), "wb") as f:
            f.write(jpeg_bytes(1))
    with pytest.raises(DatasetError, match="zebra") as err:
        create_dataset("", fresh_folder, split="val")
    assert os.path.join(fresh_folder, "val") in str(err.value)


@pytest.mark.parametrize("kwargs,match", [
    ({"name": "svhn"}, "unknown dataset name"),
    ({"download": True}, "cannot be downloaded"),
    ({"num_shards": 2}, "together"),
    ({"num_shards": 2, "shard_id": 2}, "shard_id"),
    ({"num_samples": 0}, "num_samples"),
    ({"on_bad_image": "ignore"}, "on_bad_image"),
])
def test_bad_arguments_are_named(fresh_folder, kwargs, match):
    with pytest.raises(DatasetError, match=match):
        create_dataset(**{"name": "", "root": fresh_folder, **kwargs})


def _corrupt(fresh_folder) -> str:
    """Truncate one image of class 'b' and return its path."""
    path = os.path.join(fresh_folder, "train", "b", "img_1.JPEG")
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    return path


def _crashing_jpeg(fresh_folder) -> str:
    """Overwrite one image's Huffman table counts (this kills MindSpore's native decoder if it gets there)."""
    path = os.path.join(fresh_folder, "train", "a", "img_2.JPEG")
    data = bytearray(open(path, "rb").read())
    offset = data.index(b"\xff\xc4") + 5
    data[offset:offset + 16] = bytes([255] * 16)
    with open(path, "wb") as f:
        f.write(bytes(data))
    return path


def test_bad_images_mid_epoch_are_skipped_counted_and_named(fresh_folder, caplog):
    truncated, crashing = _corrupt(fresh_folder), _crashing_jpeg(fresh_folder)
    empty = os.path.join(fresh_folder, "train", "a", "img_0.JPEG")
    open(empty, "wb").close()
    dataset = create_dataset("", fresh_folder, shuffle=False)
    with caplog.at_level(logging.WARNING, logger="mindcv"):
        logging.getLogger("mindcv").propagate = True
        try:
            data = rows(dataset)  # the decode below would crash the process on the damaged Huffman table
        finally:
            logging.getLogger("mindcv").propagate = False
    assert len(data) == 6  # the epoch keeps its length: bad files are replaced by the next good image
    assert set(dataset.bad_images) == {truncated, crashing, empty}
    assert "truncated" in dataset.bad_images[truncated] and "empty" in dataset.bad_images[empty]
    assert truncated in caplog.text and crashing in caplog.text


def test_bad_image_with_error_policy_names_the_file(fresh_folder):
    truncated = _corrupt(fresh_folder)
    dataset = create_dataset("", fresh_folder, shuffle=False, on_bad_image="error")
    with pytest.raises(RuntimeError, match="truncated") as err:
        rows(dataset)
    assert truncated in str(err.value)


def test_verify_images_up_front(fresh_folder):
    truncated = _corrupt(fresh_folder)
    with pytest.raises(DatasetError, match="1 bad image") as err:
        create_dataset("", fresh_folder, verify_images=True, on_bad_image="error")
    assert truncated in str(err.value)
    dataset = create_dataset("", fresh_folder, verify_images=True, shuffle=False)
    assert dataset.get_dataset_size() == 5


def test_unreadable_file_is_reported(fresh_folder, monkeypatch):
    path = os.path.join(fresh_folder, "train", "a", "img_0.JPEG")
    real_open = open

    def fake_open(file, *args, **kwargs):
        if file == path:
            raise PermissionError(13, "Permission denied", file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    dataset = create_dataset("", fresh_folder, shuffle=False)
    assert len(rows(dataset)) == 6
    assert dataset.bad_images == {path: "cannot read file (Permission denied)"}


def test_folder_index_reads_exactly_the_given_indices(tiny_folder):
    from mindcv.data import FolderIndex

    train = FolderIndex.scan("imagenet", tiny_folder, "train")
    assert len(train) == len(CLASSES) * TRAIN_PER_CLASS and train.split_dir == os.path.join(tiny_folder, "train")
    order = [5, 0, 11, 5]  # any order, repeats allowed (padding of short shards)
    data = rows(train.dataset(order))
    expected = [open(train.samples[i][0], "rb").read() for i in order]
    assert [img.tobytes() for img, _ in data] == expected
    assert [int(lab) for _, lab in data] == [train.samples[i][1] for i in order]
    val = FolderIndex.scan("", tiny_folder, "val", class_names=train.class_names)
    assert val.class_names == CLASSES and len(val) == len(VAL_CLASSES) * VAL_PER_CLASS
    with pytest.raises(DatasetError, match="outside"):
        train.dataset([len(train)])
    with pytest.raises(DatasetError, match="no counterpart"):
        FolderIndex.scan("", tiny_folder, "val", class_names=["cat", "dog"])


def test_folder_index_shares_bad_file_records_across_epochs(fresh_folder):
    from mindcv.data import FolderIndex

    truncated = _corrupt(fresh_folder)
    index = FolderIndex.scan("", fresh_folder, "train")
    for _ in range(2):  # one dataset per epoch, as train.py builds them
        assert len(rows(index.dataset(range(len(index))))) == len(index)
    assert list(index.bad_images) == [truncated]
