"""ReaderIndex: one split of a dataset that one of MindSpore's own readers reads (MnistDataset, Cifar10Dataset,
Cifar100Dataset, Flowers102Dataset), as a list of records like FolderIndex's list of files.

The records (an id naming the file and record, and the label) are listed up front from the published files, so
the split's size, labels and class names are known before anything is read, and the training and evaluation
code shards it exactly as a folder dataset: ``dataset(indices)`` reads the records at ``indices``, in that
order, through the reader with a SubsetSampler over the reader's own row numbers.
"""
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import mindspore.dataset as ds

from .errors import DatasetError

__all__ = ["ReaderIndex"]

# (sampler, num_parallel_workers) -> a dataset with the columns image and label
OpenReader = Callable[[object, Optional[int]], ds.Dataset]


class _RowSampler:
    """A Python sampler over split positions, translated to the reader's rows (a new pass, a new epoch)."""

    def __init__(self, sampler, rows: List[int]) -> None:
        self.sampler, self.rows = sampler, rows

    def __iter__(self) -> Iterator[int]:
        return (self.rows[int(i)] for i in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


@dataclass
class ReaderIndex:
    """The records of one split: (record id, label) samples, class names, and datasets over subsets of them."""

    samples: List[Tuple[str, int]]
    class_names: List[str]
    root: str  # the folder the reader reads
    split: str
    open_reader: OpenReader
    rows: Dict[str, int]  # record id -> the reader's row number
    bad_images: Dict[str, str] = field(default_factory=dict)  # records are checked up front: stays empty

    @property
    def split_dir(self) -> str:
        """The folder holding the split's files."""
        return self.root

    def __len__(self) -> int:
        return len(self.samples)

    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def _rows(self, indices: Optional[Sequence[int]]) -> List[int]:
        """The reader's rows of the samples at ``indices`` (all, in order, by default)."""
        if indices is None:
            return [self.rows[record] for record, _ in self.samples]
        bad = [i for i in indices if not 0 <= int(i) < len(self.samples)]
        if bad:
            raise DatasetError(f"sample indices {bad[:5]} are outside [0, {len(self.samples)}) for {self.root}")
        return [self.rows[self.samples[int(i)][0]] for i in indices]

    def dataset(self, indices: Optional[Sequence[int]] = None, num_parallel_workers: Optional[int] = None,
                seed: Optional[int] = None, sampler=None) -> ds.Dataset:
        """(image, int label) dataset reading the records at ``indices`` in that order.

        sampler: instead of indices, a MindSpore sampler over the split (it gets the split's rows as its
        child) or any iterable of split positions. seed: sets MindSpore's global dataset seed.
        """
        if sampler is not None and indices is not None:
            raise DatasetError("pass indices or a sampler, not both")
        rows = self._rows(indices)
        if sampler is None:
            reader_sampler = ds.SubsetSampler(rows)
        elif hasattr(sampler, "add_child"):  # one of MindSpore's samplers: it samples the split's rows
            sampler.add_child(ds.SubsetSampler(rows))
            reader_sampler = sampler
        else:
            reader_sampler = _RowSampler(sampler, rows)
        if seed is not None:
            ds.config.set_seed(seed)
        dataset = self.open_reader(reader_sampler, num_parallel_workers)
        dataset.class_names = list(self.class_names)
        dataset.num_classes = self.num_classes
        dataset.bad_images = self.bad_images
        dataset.root = self.root
        return dataset
