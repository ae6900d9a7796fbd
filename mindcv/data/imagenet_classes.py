"""The 1000 ImageNet-1k (ILSVRC2012) classes in the standard label order, for naming a 1000-class model's outputs.

``imagenet_classes.txt`` beside this module holds one line per class index 0-999: the WordNet id and its
synonyms, e.g. ``n01440764 tench, Tinca tinca`` (the format of the ILSVRC2012 ``synset_words.txt``). The
label order is the wnids sorted, which is also the sorted class-folder order of an ImageNet train tree,
so a model trained on ``<root>/train/<wnid>/`` folders uses these indices.
"""
import os
from functools import lru_cache
from typing import List, Tuple

__all__ = ["IMAGENET_NUM_CLASSES", "CLASSES_FILE", "imagenet_synsets", "imagenet_wnids", "imagenet_class_names"]

IMAGENET_NUM_CLASSES = 1000
CLASSES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "imagenet_classes.txt")


@lru_cache(maxsize=1)
def imagenet_synsets() -> Tuple[Tuple[str, str], ...]:
    """(wnid, synonyms) for the 1000 classes in label order, read from CLASSES_FILE and checked."""
    try:
        with open(CLASSES_FILE, encoding="utf-8") as f:
            lines = [line.rstrip("\n") for line in f if line.strip()]
    except OSError as err:
        raise FileNotFoundError(f"the ImageNet class list {CLASSES_FILE} cannot be read ({err}); "
                                "it ships with the repository: restore it from version control") from err
    synsets = tuple(tuple(line.split(" ", 1)) for line in lines)
    if len(synsets) != IMAGENET_NUM_CLASSES or any(len(s) != 2 or not s[0].startswith("n") for s in synsets):
        raise ValueError(f"{CLASSES_FILE} is damaged: expected {IMAGENET_NUM_CLASSES} lines '<wnid> <names>', "
                         f"got {len(synsets)}; restore it from version control")
    return synsets


def imagenet_wnids() -> List[str]:
    """The WordNet ids (n01440764, ...) in label order."""
    return [wnid for wnid, _ in imagenet_synsets()]


def imagenet_class_names() -> List[str]:
    """Short readable names in label order: the first synonym of each class (tench, goldfish, ...)."""
    return [names.split(", ")[0] for _, names in imagenet_synsets()]
