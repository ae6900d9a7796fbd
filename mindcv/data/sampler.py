"""Shard and epoch order of a dataset, computed in NumPy so every rank agrees on it.

MindSpore's DistributedSampler draws its shuffle from the global dataset seed, the same seed that
drives the random augmentations; giving ranks different augmentation randomness would then make
their shards overlap. Here the order is a pure function of (seed, epoch): all ranks compute the same
permutation and take disjoint slices, and the dataset seed stays free to differ per rank.
"""
from typing import List

import numpy as np


def epoch_permutation(num_items: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The order of all items for ``epoch``: identical on every rank for the same seed."""
    if not shuffle:
        return np.arange(num_items)
    return np.random.default_rng([int(seed), int(epoch)]).permutation(num_items)


def shard_indices(num_items: int, num_shards: int = 1, shard_id: int = 0, shuffle: bool = True,
                  seed: int = 0, epoch: int = 0, pad: bool = True) -> List[int]:
    """Indices that rank ``shard_id`` of ``num_shards`` reads in ``epoch``.

    Shards are disjoint strided slices of the epoch's permutation. With ``pad`` (training) every
    shard gets ceil(N / num_shards) items, the short ones repeating the first items of the
    permutation, so all ranks run the same number of steps; without it (evaluation) the shards
    partition the data exactly and every item is read once.
    """
    if num_shards < 1 or not 0 <= shard_id < num_shards:
        raise ValueError(f"shard_id must be in [0, num_shards), got shard_id={shard_id}, num_shards={num_shards}")
    if num_items < 1:
        raise ValueError("cannot shard an empty dataset")
    order = epoch_permutation(num_items, seed, epoch, shuffle)
    if pad and num_items % num_shards:
        per_shard = -(-num_items // num_shards)
        order = np.concatenate([order, order[: per_shard * num_shards - num_items]])
    return order[shard_id::num_shards].tolist()
