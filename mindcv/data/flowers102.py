"""Oxford Flowers-102 in its published layout, read by MindSpore's Flowers102Dataset.

Layout: ``<data_dir>/jpg/image_00001.jpg ...`` (the extracted ``102flowers.tgz``), ``<data_dir>/imagelabels.mat``
and ``<data_dir>/setid.mat``, as published at robots.ox.ac.uk/~vgg/data/flowers/102/. The .mat files are read
with scipy, which MindSpore itself requires (its Flowers102Dataset imports scipy.io.loadmat).
Splits, a stated choice (the usual fine-tuning protocol; the published train list alone has 10 images per
class): train (or trainval) = the published train and validation lists together (1,020 + 1,020 images),
val (or test) = the published test list (6,149). Class names: MindSpore's list of the 102 flower names.
"""
import os
from typing import Dict, List, Optional

import numpy as np
from scipy.io import loadmat

import mindspore.dataset as ds

from .dataset_download import Resource
from .errors import DatasetError
from .published import PublishedDataset, require_files
from .reader_index import ReaderIndex

__all__ = ["Flowers102", "FLOWERS102"]

_URL = "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/"
_LISTS = ("trnid", "tstid", "valid")  # MindSpore's usage 'all' reads them in this order


def _load_mat(path: str, key: str) -> np.ndarray:
    """One variable of a .mat file as a flat int array (a clear error when it is not there)."""
    try:
        data = loadmat(path)
    except (ValueError, OSError, TypeError) as err:
        raise DatasetError(f"{path} is not a readable MATLAB file ({err}): replace it with the published one (or "
                           f"set dataset_download True)") from err
    if key not in data:
        raise DatasetError(f"{path} has no variable {key!r} (found {sorted(k for k in data if not k.startswith('__'))})"
                           f": not the published Flowers-102 file")
    return np.asarray(data[key]).astype(np.int64).ravel()


def _open_reader(folder: str, sampler, workers: Optional[int]) -> ds.Dataset:
    """MindSpore's Flowers102Dataset over all published lists (encoded JPEG bytes, decoded by the transforms).

    One reading worker: it only reads files; decoding and augmentation run in the map workers.
    """
    return ds.Flowers102Dataset(folder, task="Classification", usage="all", decode=False, sampler=sampler,
                                num_parallel_workers=1)


class Flowers102(PublishedDataset):
    """Oxford Flowers-102."""

    name = "flowers102"
    num_classes = 102
    resources = (
        Resource(_URL + "102flowers.tgz", "52808999861908f626f3c1f4e79d11fa", "jpg"),
        Resource(_URL + "imagelabels.mat", "e0620be6f572b9609742df49c70aed4d", "imagelabels.mat"),
        Resource(_URL + "setid.mat", "a5357ecc9cb78c4bef273ce3793fc85c", "setid.mat"),
    )
    splits = {"train": "trainval", "trainval": "trainval", "val": "test", "test": "test"}
    layout = "<data_dir>/jpg/image_NNNNN.jpg (the extracted 102flowers.tgz), <data_dir>/imagelabels.mat and " \
             "<data_dir>/setid.mat"

    def class_names(self, folder: str) -> List[str]:
        require_files(self.name, folder, ["jpg", "imagelabels.mat", "setid.mat"], self.layout)
        indexing: Dict[str, int] = _open_reader(folder, None, None).get_class_indexing()
        return [name for name, _ in sorted(indexing.items(), key=lambda item: item[1])]

    def index(self, root: str, split: str) -> ReaderIndex:
        """The images of one split (ids, labels and files checked)."""
        usage = self.split_name(split)
        folder = self.folder(root)
        require_files(self.name, folder, ["jpg", "imagelabels.mat", "setid.mat"], self.layout)
        labels = _load_mat(os.path.join(folder, "imagelabels.mat"), "labels") - 1
        lists = {key: _load_mat(os.path.join(folder, "setid.mat"), key) for key in _LISTS}
        reader_order = np.concatenate([lists[key] for key in _LISTS])
        if reader_order.size and (reader_order.min() < 1 or reader_order.max() > labels.size):
            raise DatasetError(f"{os.path.join(folder, 'setid.mat')} lists image ids outside 1-{labels.size} (the "
                               f"labels in imagelabels.mat): the two files do not belong together")
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise DatasetError(f"{os.path.join(folder, 'imagelabels.mat')} holds labels outside 1-102")
        chosen = np.concatenate([lists["trnid"], lists["valid"]]) if usage == "trainval" else lists["tstid"]
        present = set(os.listdir(os.path.join(folder, "jpg")))
        files = [f"image_{image_id:05d}.jpg" for image_id in chosen.tolist()]
        absent = [f for f in files if f not in present]
        if absent:
            raise DatasetError(f"dataset flowers102: {len(absent)} images of the {split} split are not in "
                               f"{os.path.join(folder, 'jpg')}, e.g. {absent[:3]}; expected {self.layout}")
        row_of_id = {image_id: row for row, image_id in enumerate(reader_order.tolist())}
        paths = [os.path.join(folder, "jpg", f) for f in files]
        samples = [(path, int(labels[image_id - 1])) for path, image_id in zip(paths, chosen.tolist())]
        rows = {path: row_of_id[image_id] for path, image_id in zip(paths, chosen.tolist())}
        return ReaderIndex(samples, self.class_names(folder), folder, split,
                           lambda sampler, workers: _open_reader(folder, sampler, workers), rows)


FLOWERS102 = Flowers102()
