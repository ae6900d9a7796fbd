"""Shard and epoch order of a dataset, computed in NumPy so every rank agrees on it.

MindSpore's DistributedSampler draws its shuffle from the global dataset seed, the same seed that
drives the random augmentations; giving ranks different augmentation randomness would then make
their shards overlap. Here the order is a pure function of (seed, epoch): all ranks compute the same
permutation and take disjoint slices, and the dataset seed stays free to differ per rank.
"""
from typing import Iterator, List, Optional

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


def repeated_shard_indices(num_items: int, num_repeats: int = 1, num_shards: int = 1, shard_id: int = 0,
                           shuffle: bool = True, seed: int = 0, epoch: int = 0,
                           per_shard: Optional[int] = None) -> List[int]:
    """Indices that rank ``shard_id`` reads in ``epoch`` with repeated augmentation (DeiT, as MindCV and timm).

    The epoch's permutation is taken image by image, each image ``num_repeats`` times in a row
    ([a, a, a, b, b, b, ...]), and dealt out to the ranks in turn, so the copies of an image land on
    different ranks (on the same rank only when num_repeats > num_shards) and each copy is augmented
    on its own. The epoch keeps its length, as MindCV's RepeatAugSampler with selected_round 0:
    ``per_shard`` rows per rank (default ceil(N / num_shards)), so it covers the first
    ceil(num_shards * per_shard / num_repeats) images of the permutation, each num_repeats times
    (the last one fewer when the rows do not divide evenly). With num_repeats 1 this is
    ``shard_indices(..., pad=True)``.
    """
    if num_repeats < 1:
        raise ValueError(f"num_repeats must be >= 1, got {num_repeats}")
    if num_shards < 1 or not 0 <= shard_id < num_shards:
        raise ValueError(f"shard_id must be in [0, num_shards), got shard_id={shard_id}, num_shards={num_shards}")
    if num_items < 1:
        raise ValueError("cannot shard an empty dataset")
    per_shard = -(-num_items // num_shards) if per_shard is None else per_shard
    total = per_shard * num_shards
    order = epoch_permutation(num_items, seed, epoch, shuffle)
    images = order[np.arange(-(-total // num_repeats)) % num_items]  # wraps only to pad (num_repeats 1)
    return np.repeat(images, num_repeats)[:total][shard_id::num_shards].tolist()


class RepeatAugSampler:
    """A MindSpore sampler (any iterable of indices) of ``repeated_shard_indices``: a new epoch at each pass.

    For ``create_dataset(num_aug_repeats=...)``; training runs call ``repeated_shard_indices`` with the epoch
    themselves, which is what makes resuming mid-epoch exact.
    """

    def __init__(self, num_items: int, num_repeats: int = 3, num_shards: int = 1, shard_id: int = 0,
                 shuffle: bool = True, seed: int = 0) -> None:
        repeated_shard_indices(num_items, num_repeats, num_shards, shard_id)  # validate the arguments
        self.num_items, self.num_repeats = num_items, num_repeats
        self.num_shards, self.shard_id = num_shards, shard_id
        self.shuffle, self.seed = shuffle, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Read ``epoch``'s order at the next pass."""
        self.epoch = int(epoch)

    def indices(self, epoch: int) -> List[int]:
        """The indices of one epoch."""
        return repeated_shard_indices(self.num_items, self.num_repeats, self.num_shards, self.shard_id,
                                      self.shuffle, self.seed, epoch)

    def __iter__(self) -> Iterator[int]:
        order = self.indices(self.epoch)
        self.epoch += 1
        return iter(order)

    def __len__(self) -> int:
        return -(-self.num_items // self.num_shards)
