"""Shard order shared by all ranks: disjoint shards covering the data, padded for training only."""
import pytest

from mindcv.data.sampler import epoch_permutation, shard_indices


@pytest.mark.parametrize("n,shards", [(10, 3), (12, 4), (7, 1), (5, 5)])
def test_eval_shards_partition_the_data_exactly(n, shards):
    parts = [shard_indices(n, shards, r, shuffle=True, seed=3, epoch=2, pad=False) for r in range(shards)]
    flat = [i for p in parts for i in p]
    assert sorted(flat) == list(range(n))


def test_training_shards_are_equal_length_and_cover_everything():
    parts = [shard_indices(10, 3, r, seed=1, epoch=0) for r in range(3)]
    assert [len(p) for p in parts] == [4, 4, 4]
    flat = [i for p in parts for i in p]
    assert set(flat) == set(range(10))
    assert len(flat) - len(set(flat)) == 2  # only the two padding items repeat


def test_order_depends_on_seed_and_epoch_only():
    assert shard_indices(50, 2, 0, seed=1, epoch=4) == shard_indices(50, 2, 0, seed=1, epoch=4)
    assert shard_indices(50, 2, 0, seed=1, epoch=4) != shard_indices(50, 2, 0, seed=1, epoch=5)
    assert list(epoch_permutation(5, 0, 0, shuffle=False)) == [0, 1, 2, 3, 4]


def test_bad_shard_is_named():
    with pytest.raises(ValueError, match="shard_id"):
        shard_indices(10, 2, 2)
