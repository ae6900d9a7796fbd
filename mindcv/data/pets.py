"""Oxford-IIIT Pet in its published layout, read as a list of image files (like the folder datasets).

Layout: ``<data_dir>/images/<Breed>_<n>.jpg`` (the extracted ``images.tar.gz``) and
``<data_dir>/annotations/{trainval,test}.txt`` (from ``annotations.tar.gz``), whose lines read
``<image name> <class id 1-37> <species> <breed id>``. Class = breed (37 classes, label = class id - 1), named
after the image files (``Abyssinian``, ``american_bulldog``, ...). Splits: train (or trainval) = trainval.txt
(3,680 images), val (or test) = test.txt (3,669). Unreadable images are handled as in the folder datasets
(``on_bad_image``).
"""
import os
from typing import Dict, List, Tuple

from .dataset_download import Resource
from .errors import DatasetError
from .published import PublishedDataset, require_files

__all__ = ["Pets", "PETS"]

_URL = "https://www.robots.ox.ac.uk/~vgg/data/pets/data/"
_LISTS = {"trainval": "annotations/trainval.txt", "test": "annotations/test.txt"}


def _read_list(path: str) -> List[Tuple[str, int]]:
    """(image name, class id) of each line of an annotation list ('#' lines are comments)."""
    entries = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) < 2 or not fields[1].isdigit():
                raise DatasetError(f"{path} line {number}: expected '<image name> <class id> <species> <breed id>', "
                                   f"got {line.strip()!r}")
            entries.append((fields[0], int(fields[1])))
    if not entries:
        raise DatasetError(f"{path} lists no images: not the published Oxford-IIIT Pet annotation file")
    return entries


class Pets(PublishedDataset):
    """Oxford-IIIT Pet, 37 breeds."""

    name = "pets"
    num_classes = 37
    resources = (
        Resource(_URL + "images.tar.gz", "5c4f3ee8e5d25df40f4fd59a7f44e54c", "images"),
        Resource(_URL + "annotations.tar.gz", "95a8c909bbe2e81eed6a22bccdf3f68f", "annotations"),
    )
    splits = {"train": "trainval", "trainval": "trainval", "val": "test", "test": "test"}
    layout = "<data_dir>/images/*.jpg (the extracted images.tar.gz) and <data_dir>/annotations/{trainval,test}.txt " \
             "(the extracted annotations.tar.gz)"

    def class_names(self, folder: str) -> List[str]:
        """Breed names in class-id order, from the image names of both annotation lists."""
        require_files(self.name, folder, list(_LISTS.values()), self.layout)
        names: Dict[int, str] = {}
        for relative in _LISTS.values():
            for image, class_id in _read_list(os.path.join(folder, relative)):
                breed = image.rsplit("_", 1)[0]
                if names.setdefault(class_id, breed) != breed:
                    raise DatasetError(f"{os.path.join(folder, relative)}: class {class_id} is both "
                                       f"{names[class_id]!r} and {breed!r}")
        if sorted(names) != list(range(1, self.num_classes + 1)):
            raise DatasetError(f"the annotation lists in {os.path.join(folder, 'annotations')} use class ids "
                               f"{sorted(names)[:3]}...{sorted(names)[-3:]}, expected 1-{self.num_classes}")
        return [names[class_id] for class_id in range(1, self.num_classes + 1)]

    def file_list(self, root: str, split: str) -> Tuple[List[Tuple[str, int]], List[str]]:
        """(image path, label) of one split, and the class names."""
        listed = _LISTS[self.split_name(split)]
        folder = self.folder(root)
        require_files(self.name, folder, ["images"] + list(_LISTS.values()), self.layout)
        names = self.class_names(folder)
        present = set(os.listdir(os.path.join(folder, "images")))
        entries = _read_list(os.path.join(folder, listed))
        absent = [f"{image}.jpg" for image, _ in entries if f"{image}.jpg" not in present]
        if absent:
            raise DatasetError(f"dataset pets: {len(absent)} images listed in {os.path.join(folder, listed)} are not "
                               f"in {os.path.join(folder, 'images')}, e.g. {absent[:3]}; expected {self.layout}")
        return [(os.path.join(folder, "images", f"{image}.jpg"), class_id - 1) for image, class_id in entries], names


PETS = Pets()
