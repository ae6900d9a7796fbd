"""Class names of a public dataset for a checkpoint without class_names metadata (infer.py / validate.py)."""
import argparse

from mindcv.eval import Weights, resolve_class_names
from tests.data.published_files import CIFAR10_NAMES, pets_breed, write_cifar10, write_pets


def _names(dataset: str, root: str, num_classes: int):
    weights = Weights("w.ckpt", "checkpoint", {}, {}, num_classes, False, False)
    args = argparse.Namespace(class_names="", dataset=dataset, data_dir=root, train_split="train")
    return resolve_class_names(args, weights)


def test_names_come_from_the_published_files(tmp_path):
    write_cifar10(str(tmp_path / "c"))
    names, source = _names("cifar10", str(tmp_path / "c"), 10)
    assert names == CIFAR10_NAMES and "cifar10" in source
    write_pets(str(tmp_path / "p"))
    assert _names("pets", str(tmp_path / "p"), 37)[0] == [pets_breed(c) for c in range(1, 38)]
