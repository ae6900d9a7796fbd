"""aug_repeats: DeiT's repeated augmentation as MindCV and timm define it (each image of an epoch read r times, the
copies dealt out to the ranks, the epoch keeping its length), with exact resume mid-epoch and exact sharding."""
import argparse
import importlib.util
import os
from collections import Counter

import numpy as np
import pytest

import config
from mindcv.data import create_dataset
from mindcv.data.errors import DatasetError
from mindcv.data.sampler import RepeatAugSampler, epoch_permutation, repeated_shard_indices, shard_indices
from mindcv.engine import build_loaders
from mindcv.utils.cli import ConfigError
from mindcv.utils.distributed import DistInfo
from tests.data.published_files import write_mnist


def test_each_image_of_an_epoch_is_read_r_times_spread_over_two_ranks():
    n, r = 20, 3
    shards = [repeated_shard_indices(n, r, 2, rank, seed=4, epoch=2) for rank in range(2)]
    assert [len(s) for s in shards] == [10, 10]  # the epoch keeps its length: ceil(20 / 2) rows per rank
    counts = Counter(shards[0] + shards[1])
    order = epoch_permutation(n, 4, 2).tolist()
    assert sorted(counts) == sorted(order[:7])  # the epoch's first ceil(20 / 3) images of its permutation
    assert [counts[i] for i in order[:6]] == [3] * 6 and counts[order[6]] == 2  # r times; the cut image fewer
    for image in order[:6]:  # 3 copies over 2 ranks: never all on one rank
        assert {shards[0].count(image), shards[1].count(image)} == {1, 2}
    pairs = [repeated_shard_indices(8, 2, 2, rank, seed=0, epoch=0) for rank in range(2)]
    assert pairs[0] == pairs[1]  # r = number of ranks: each rank reads one copy of the same images
    assert repeated_shard_indices(20, 3, 2, 0, seed=4, epoch=3) != shards[0]  # another epoch, another draw


@pytest.mark.parametrize("n,shards", [(10, 3), (12, 4), (7, 1), (5, 5), (3, 4)])
def test_one_repeat_is_the_padded_shard(n, shards):
    for rank in range(shards):
        padded = shard_indices(n, shards, rank, seed=9, epoch=1, pad=True)
        assert repeated_shard_indices(n, 1, shards, rank, seed=9, epoch=1) == padded
        # num_samples: the training loader's first rows of the shard, as before aug_repeats existed
        assert repeated_shard_indices(n, 1, shards, rank, seed=9, epoch=1, per_shard=1) == padded[:1]


def _mindcv_sampler_class():
    """MindCV 0.3.0's RepeatAugSampler, loaded from $MINDCV_PEER_PATH (it imports only numpy)."""
    peer = os.environ.get("MINDCV_PEER_PATH", os.path.expanduser("~/.cache/mixnet-ms/peers/mindcv-0.3.0"))
    path = os.path.join(peer, "mindcv", "data", "distributed_sampler.py")
    if not os.path.isfile(path):
        pytest.skip(f"MindCV 0.3.0 peer not found at {peer} (set MINDCV_PEER_PATH; .ci/run installs it)")
    spec = importlib.util.spec_from_file_location("peer_mindcv_distributed_sampler", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.RepeatAugSampler


@pytest.mark.parametrize("n,shards,r", [(20, 2, 3), (13, 4, 3), (9, 2, 2), (7, 3, 4), (10, 1, 3)])
def test_rows_and_epoch_length_are_mindcvs(n, shards, r):
    """Unshuffled (MindCV shuffles with its own generator), with selected_round 0 as MindCV's create_dataset uses it."""
    peer = _mindcv_sampler_class()
    for rank in range(shards):
        theirs = list(peer(n, num_shards=shards, rank_id=rank, shuffle=False, num_repeats=r, selected_round=0))
        assert repeated_shard_indices(n, r, shards, rank, shuffle=False) == theirs


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("mnist"))
    return folder, write_mnist(folder, {"train": 12, "t10k": 5})


def _args(folder: str, tmp_path, *extra) -> argparse.Namespace:
    return config.parse_args(["--dataset", "mnist", "--data_dir", folder, "--batch_size", "2", "--image_resize", "16",
                              "--num_parallel_workers", "1", "--ckpt_save_dir", str(tmp_path), *extra])


def _batches(loader) -> list:
    return [(images, labels) for images, labels in loader.create_tuple_iterator(output_numpy=True, num_epochs=1)]


def test_training_with_aug_repeats_resumes_mid_epoch_exactly(mnist, tmp_path):
    folder, written = mnist
    labels = written["train"][1]
    args = _args(folder, tmp_path, "--aug_repeats", "3", "--val_while_train", "true")
    for rank in range(2):
        data = build_loaders(args, DistInfo(rank, 2))
        assert data.steps_per_epoch == 3 and data.class_names == [str(d) for d in range(10)]
        rows = repeated_shard_indices(12, 3, 2, rank, seed=args.seed, epoch=1)
        full = _batches(data.make_train_loader(1))
        assert np.concatenate([b[1] for b in full]).tolist() == labels[rows].tolist()
        resumed = _batches(data.make_train_loader(1).skip(2))  # what the Trainer does after 2 steps
        assert len(resumed) == 1
        assert np.array_equal(resumed[0][0], full[2][0]) and np.array_equal(resumed[0][1], full[2][1])
        images = np.concatenate([b[0] for b in full])
        twice = next(i for i in set(rows) if rows.count(i) == 2)  # 3 copies over 2 ranks: 2 land here
        first, second = [p for p, i in enumerate(rows) if i == twice]
        assert not np.array_equal(images[first], images[second])  # each copy augmented on its own
    val = list(data.make_val_loader())
    assert sum(len(labels) for _, labels in val) == 2  # rank 1's exact share of the 5 test images: 2


def test_create_dataset_num_aug_repeats_is_mindcvs_sampler(mnist):
    folder, written = mnist
    labels = written["train"][1]
    for shard_id in range(2):
        dataset = create_dataset("mnist", folder, "train", shuffle=False, num_shards=2, shard_id=shard_id,
                                 num_aug_repeats=3)
        got = [int(row["label"]) for row in dataset.create_dict_iterator(output_numpy=True, num_epochs=1)]
        assert got == labels[repeated_shard_indices(12, 3, 2, shard_id, shuffle=False)].tolist()
    sampler = RepeatAugSampler(12, 3, 2, 0, shuffle=True, seed=1)
    assert list(sampler) != list(sampler) and len(sampler) == 6  # a new draw at every pass, as MindCV's
    sampler.set_epoch(4)
    assert list(sampler) == repeated_shard_indices(12, 3, 2, 0, seed=1, epoch=4)
    with pytest.raises(DatasetError, match="num_samples and num_aug_repeats"):
        create_dataset("mnist", folder, "train", num_samples=4, num_aug_repeats=3)


def test_training_refuses_models_without_three_input_channels(mnist, tmp_path):
    folder, _ = mnist
    with pytest.raises(ConfigError, match="in_channels=1: every dataset here feeds RGB images"):
        build_loaders(_args(folder, tmp_path, "--in_channels", "1"), DistInfo())
