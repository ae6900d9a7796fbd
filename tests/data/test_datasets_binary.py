"""The public datasets read from files in their published formats: MNIST idx, CIFAR-10/100 binary batches (MindSpore's
readers), Flowers-102 (Flowers102Dataset), Oxford-IIIT Pet (a file list): records, labels, class names, splits,
two-rank shards with exact counts, and one-line errors for wrong layouts."""
import dataclasses
import os
import struct

import numpy as np
import pytest
from mindspore.dataset import vision

from mindcv.data import PUBLISHED_DATASETS, ReaderIndex, create_dataset, create_index, create_transforms, \
    get_dataset_class_names
from mindcv.data.errors import DatasetError
from mindcv.data.sampler import shard_indices
from mindcv.choices import PUBLIC_DATASETS
from tests.data.published_files import (CIFAR10_NAMES, FLOWERS_LABELS, FLOWERS_SETID, cifar_record_image, jpeg,
                                        pets_breed, write_cifar10, write_cifar100, write_flowers102,
                                        write_mnist, write_pets)


def read(index, indices):
    """(image, label) numpy pairs of the records at indices, through the dataset's own reader."""
    dataset = index.dataset(indices, num_parallel_workers=1)
    return [(row["image"], int(row["label"])) for row in dataset.create_dict_iterator(output_numpy=True)]


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("mnist"))
    return folder, write_mnist(folder)


@pytest.fixture(scope="module")
def cifar10(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("cifar10"))
    return root, write_cifar10(root)


def test_the_names_are_the_allowed_choices():
    assert tuple(PUBLISHED_DATASETS) == PUBLIC_DATASETS


# ---------------------------------------------------------------- MNIST


def test_mnist_records_labels_and_rgb_images(mnist):
    folder, written = mnist
    images, labels = written["t10k"]
    for split in ("val", "test"):
        index = create_index("mnist", folder, split)
        assert isinstance(index, ReaderIndex) and len(index) == 7
        assert [label for _, label in index.samples] == labels.tolist()
    assert index.class_names == [str(d) for d in range(10)]
    assert index.samples[3][0] == os.path.join(folder, "t10k-images-idx3-ubyte#3")
    rows = read(index, [5, 0, 5])
    assert [label for _, label in rows] == [int(labels[5]), int(labels[0]), int(labels[5])]
    image, _ = rows[0]
    assert image.shape == (28, 28, 3) and image.dtype == np.uint8
    assert all(np.array_equal(image[:, :, c], images[5]) for c in range(3))  # the grey digit in all 3 channels
    train = create_index("mnist", folder, "train")
    assert len(train) == 12 and [label for _, label in train.samples] == written["train"][1].tolist()
    subset = dataclasses.replace(index, samples=index.samples[1::3])  # as validate's num_samples subset does
    assert [label for _, label in read(subset, [1, 0])] == [int(labels[4]), int(labels[1])]


def test_mnist_wrong_files_are_named_in_one_line(tmp_path):
    folder = str(tmp_path)
    write_mnist(folder, {"t10k": 3})
    path = os.path.join(folder, "t10k-labels-idx1-ubyte")
    with open(path, "r+b") as f:
        f.write(struct.pack(">I", 2051))  # an images magic number in the labels file
    with pytest.raises(DatasetError, match="magic number 2051, expected 2049") as err:
        create_index("mnist", folder, "test")
    assert path in str(err.value) and "\n" not in str(err.value)
    os.rename(path, path + ".gz")
    with pytest.raises(DatasetError, match="gunzip"):
        create_index("mnist", folder, "test")
    with pytest.raises(DatasetError, match=r"lacks train-images-idx3-ubyte, train-labels-idx1-ubyte; expected"):
        create_index("mnist", folder, "train")
    with open(os.path.join(folder, "t10k-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 2049, 3) + bytes([1, 2]))  # one label short
    with pytest.raises(DatasetError, match="truncated"):
        create_index("mnist", folder, "test")
    with pytest.raises(DatasetError, match=r"no split 'holdout'.*\['test', 'train', 'val'\]"):
        create_index("mnist", folder, "holdout")


# ---------------------------------------------------------------- CIFAR


def test_cifar10_reads_the_binary_batches_in_order(cifar10):
    root, labels = cifar10
    train = create_index("cifar10", root, "train")
    assert len(train) == 50000 and train.class_names == CIFAR10_NAMES
    expected = np.concatenate([labels[f"data_batch_{i}.bin"] for i in range(1, 6)])
    assert np.array_equal([label for _, label in train.samples], expected)
    folder = os.path.join(root, "cifar-10-batches-bin")
    assert train.samples[20003][0] == os.path.join(folder, "data_batch_3.bin#3")
    # records of batch 1, batch 3 and the last record of batch 5, in the asked order
    rows = read(train, [20003, 1, 49999])
    for (image, label), (file_number, record) in zip(rows, [(3, 3), (1, 1), (5, 9999)]):
        assert np.array_equal(image, cifar_record_image(file_number, record))
        assert label == labels[f"data_batch_{file_number}.bin"][record]
    test = create_index("cifar10", folder, "val")  # the inner folder works as data_dir too
    assert len(test) == 10000 and read(test, [4])[0][1] == labels["test_batch.bin"][4]


def test_cifar100_reads_fine_labels_and_names(tmp_path):
    labels = write_cifar100(str(tmp_path))
    train = create_index("cifar100", str(tmp_path), "train")
    assert len(train) == 50000 and train.class_names == [f"fine_{i}" for i in range(100)]
    assert np.array_equal([label for _, label in train.samples], labels["train.bin"])
    (image, label), = read(train, [49999])
    assert label == labels["train.bin"][49999] and np.array_equal(image, cifar_record_image(1, 49999))
    test = create_index("cifar100", str(tmp_path), "test")
    dataset = test.dataset([2])
    assert dataset.get_col_names() == ["image", "label"]
    assert [int(r["label"]) for r in dataset.create_dict_iterator(output_numpy=True)] == [labels["test.bin"][2]]


def test_cifar_layout_errors_name_the_expected_files(tmp_path, cifar10):
    with pytest.raises(DatasetError, match=r"no cifar-10-batches-bin folder.*data_batch_1.bin.*batches.meta.txt"):
        create_index("cifar10", str(tmp_path), "train")
    (tmp_path / "cifar-10-batches-py").mkdir()
    with pytest.raises(DatasetError, match="Python version"):
        create_index("cifar10", str(tmp_path), "train")
    inner = tmp_path / "cifar-100-binary"
    inner.mkdir()
    (inner / "fine_label_names.txt").write_text("\n".join(f"c{i}" for i in range(100)))
    (inner / "test.bin").write_bytes(bytes(3074 * 10))  # 10 records: not the published file
    with pytest.raises(DatasetError, match=r"test.bin is 30740 bytes, expected 30740000") as err:
        create_index("cifar100", str(tmp_path), "test")
    assert "\n" not in str(err.value)
    with pytest.raises(DatasetError, match=r"lacks train.bin"):
        create_index("cifar100", str(tmp_path), "train")


# ---------------------------------------------------------------- Flowers-102 and Pets


def test_flowers102_splits_labels_and_names(tmp_path):
    folder = write_flowers102(str(tmp_path))
    train = create_index("flowers102", folder, "train")
    ids = FLOWERS_SETID["trnid"] + FLOWERS_SETID["valid"]  # train = the published train + val lists
    assert [os.path.basename(p) for p, _ in train.samples] == [f"image_{i:05d}.jpg" for i in ids]
    assert [label for _, label in train.samples] == [FLOWERS_LABELS[i - 1] - 1 for i in ids]
    assert len(train.class_names) == 102 and train.class_names[0] == "pink primrose"
    rows = read(train, [4, 0])  # image 4 (the last of valid), image 2 (the first of trnid)
    assert [label for _, label in rows] == [FLOWERS_LABELS[3] - 1, FLOWERS_LABELS[1] - 1]
    assert rows[0][0].tobytes() == jpeg(4) and rows[1][0].tobytes() == jpeg(2)  # encoded bytes, decoded later
    test = create_index("flowers102", folder, "val")
    assert len(test) == len(FLOWERS_SETID["tstid"]) and read(test, [1])[0][0].tobytes() == jpeg(11)
    os.remove(os.path.join(folder, "jpg", "image_00011.jpg"))
    with pytest.raises(DatasetError, match=r"1 images of the val split are not in .*image_00011.jpg"):
        create_index("flowers102", folder, "val")
    os.remove(os.path.join(folder, "setid.mat"))
    with pytest.raises(DatasetError, match=r"lacks setid.mat; expected <data_dir>/jpg/image_NNNNN.jpg"):
        create_index("flowers102", folder, "train")


def test_pets_reads_breeds_from_the_annotation_lists(tmp_path):
    lists = write_pets(str(tmp_path))
    train = create_index("pets", str(tmp_path), "train")
    assert len(train) == 74 and len(create_index("pets", str(tmp_path), "test")) == 37
    assert train.class_names == [pets_breed(c) for c in range(1, 38)]
    assert train.class_names[:2] == ["Cat1", "dog_breed_2"]
    assert train.samples[5] == (os.path.join(str(tmp_path), "images", f"{lists['trainval'][5][0]}.jpg"),
                                lists["trainval"][5][1] - 1)
    assert train.split_dir == os.path.join(str(tmp_path), "images")
    rows = read(train, [5])
    assert rows[0][0].tobytes() == jpeg(100 * 3 + 2) and rows[0][1] == 2  # Cat3_2
    assert get_dataset_class_names("pets", str(tmp_path)) == train.class_names


def test_pets_bad_layouts_are_named(tmp_path):
    write_pets(str(tmp_path))
    os.remove(tmp_path / "images" / "Cat1_1.jpg")
    with pytest.raises(DatasetError, match=r"1 images listed in .*trainval.txt are not in .*Cat1_1.jpg"):
        create_index("pets", str(tmp_path), "trainval")
    with open(tmp_path / "annotations" / "test.txt", "a") as f:
        f.write("Cat1_9 one 1 1\n")
    with pytest.raises(DatasetError, match=r"test.txt line 38: expected '<image name> <class id>"):
        create_index("pets", str(tmp_path), "test")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"dataset pets: .* lacks images, annotations/trainval.txt"):
        create_index("pets", str(tmp_path / "empty"), "train")


# ---------------------------------------------------------------- shards, sampler, transforms


def test_two_ranks_read_disjoint_shards_with_exact_counts(mnist):
    folder, written = mnist
    images, labels = written["t10k"]
    index = create_index("mnist", folder, "val")
    seen = []
    for rank in range(2):
        shard = shard_indices(len(index), 2, rank, shuffle=False, pad=False)
        for image, label in read(index, shard):
            record = next(i for i in range(len(images)) if np.array_equal(image[:, :, 0], images[i]))
            assert label == labels[record]
            seen.append(record)
    assert sorted(seen) == list(range(7))  # every record exactly once: 4 + 3
    train = create_index("mnist", folder, "train")
    shards = [shard_indices(len(train), 2, r, seed=5, epoch=1) for r in range(2)]
    assert [len(s) for s in shards] == [6, 6] and set(shards[0]).isdisjoint(shards[1])


def test_create_dataset_shards_a_public_dataset_with_mindspore_samplers(mnist):
    folder, written = mnist
    labels = written["train"][1]
    got = []
    for shard_id in range(2):
        dataset = create_dataset("mnist", folder, "train", shuffle=False, num_shards=2, shard_id=shard_id)
        assert dataset.class_names == [str(d) for d in range(10)] and dataset.get_dataset_size() == 6
        got.append([int(r["label"]) for r in dataset.create_dict_iterator(output_numpy=True)])
    assert got[0] == labels[0::2].tolist() and got[1] == labels[1::2].tolist()


def test_array_datasets_get_the_image_pipelines_without_decoding():
    kinds = [type(op) for op in create_transforms("cifar10", image_resize=16, is_training=True)]
    assert vision.RandomResizedCrop in kinds and vision.RandomCropDecodeResize not in kinds
    assert vision.Decode not in [type(op) for op in create_transforms("mnist", image_resize=16)]
    assert type(create_transforms("flowers102", image_resize=16)[0]) is vision.Decode  # JPEG bytes
    assert type(create_transforms("pets", image_resize=16, is_training=True)[0]) is vision.RandomCropDecodeResize


def test_a_public_dataset_keeps_its_own_class_order(mnist):
    folder, _ = mnist
    with pytest.raises(DatasetError, match="has its own classes"):
        create_index("mnist", folder, "val", class_names=["a", "b"])
    with pytest.raises(DatasetError, match=r"root .* is not a directory"):
        create_index("cifar10", os.path.join(folder, "absent"), "val")


