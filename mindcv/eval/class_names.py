"""The class names of a model, in label order, from the first source that has them: a names file or dataset folder
the user gave, the checkpoint's ``class_names`` metadata, the training folders of the dataset, ImageNet-1k's names
for a 1000-class model, else "class <i>"."""
import json
import os
from typing import List, Optional, Tuple

from ..utils.logger import get_logger
from .base import EvalError, Weights, checkpoint_class_names
from .light_data import data_module

logger = get_logger(__name__)

__all__ = ["resolve_class_names", "recorded_class_names"]

DEFAULT_DATA_DIR = "./"  # the data_dir option's default: not a dataset the user pointed at


def _names_from_file(path: str) -> List[str]:
    """Names from a JSON list / {index: name} object, or a text file with one name per line."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except ValueError as err:
            raise EvalError(f"--class_names {path} is not valid JSON: {err}") from err
        if isinstance(data, dict):
            try:
                return [str(data[key]) for key in sorted(data, key=int)]
            except ValueError as err:
                raise EvalError(f"--class_names {path}: a JSON object needs integer keys (label indices)") from err
        if isinstance(data, list):
            return [str(name) for name in data]
        raise EvalError(f"--class_names {path}: expected a JSON list of names or an {{index: name}} object")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _imagenet():
    """mindcv.data.imagenet_classes (loaded without the mindcv.data package: see light_data)."""
    return data_module("imagenet_classes")


def _names_from_folder(path: str, train_split: str) -> List[str]:
    """Class folder names of <path>/<train_split>, or of <path> itself when it has no such split."""
    from ..data import get_class_names  # function-local: mindcv.data starts MindSpore (see light_data)

    split = train_split if os.path.isdir(os.path.join(path, train_split)) else ""
    return get_class_names(path, split)


def _dataset_names(args) -> Optional[List[str]]:
    """Training class folder names of --data_dir (or of the embedded dataset), when the user pointed at one."""
    from ..data import PUBLISHED_DATASETS, get_class_names, get_dataset_class_names  # function-local: mindcv.data
    from ..data.digits import prepare_digits  # starts MindSpore (see light_data)

    if args.dataset.lower() == "digits":
        return get_class_names(prepare_digits(args.data_dir or None), args.train_split)
    if args.data_dir and args.data_dir != DEFAULT_DATA_DIR:
        if args.dataset.lower() in PUBLISHED_DATASETS:
            return get_dataset_class_names(args.dataset, args.data_dir, args.train_split)
        if not os.path.isdir(os.path.join(args.data_dir, args.train_split)):
            raise EvalError(f"--data_dir {args.data_dir} has no {args.train_split}/ folder to read class names from; "
                            f"pass --class_names FILE instead")
        return get_class_names(args.data_dir, args.train_split)
    return None


def _readable(names: List[str]) -> List[str]:
    """ImageNet wnid folder names become readable names (n01440764 -> tench)."""
    return _imagenet().imagenet_class_names() if names == _imagenet().imagenet_wnids() else names


def _named_source(args, weights: Weights) -> Tuple[Optional[List[str]], str]:
    """The first available source of class names, and its description (None when there is none)."""
    if args.class_names:
        path = os.path.abspath(os.path.expanduser(args.class_names))
        if not os.path.exists(path):
            raise EvalError(f"--class_names {path} does not exist")
        return (_names_from_folder(path, args.train_split) if os.path.isdir(path) else _names_from_file(path)), path
    stored = checkpoint_class_names(weights)
    if stored:
        return stored, "the checkpoint's class_names metadata"
    folders = _dataset_names(args)
    if folders is not None:
        return folders, f"the class folders of dataset {args.dataset} {args.data_dir}".rstrip()
    if weights.num_classes == _imagenet().IMAGENET_NUM_CLASSES:
        return _imagenet().imagenet_class_names(), "ImageNet-1k"
    return None, "label indices"


def resolve_class_names(args, weights: Weights) -> Tuple[List[str], str]:
    """The model's class names in label order, and where they came from."""
    names, source = _named_source(args, weights)
    if names is None:
        logger.info("no class names for this %d-class model: pass --class_names FILE or --data_dir DIR (its "
                    "training class folders) to name them", weights.num_classes)
        return [f"class {i}" for i in range(weights.num_classes)], source
    if len(names) != weights.num_classes:
        raise EvalError(f"{len(names)} class names from {source} but the model has {weights.num_classes} classes: "
                        f"give the names the model was trained with (--class_names)")
    return _readable(list(names)), source


def recorded_class_names(args, weights: Weights) -> Optional[List[str]]:
    """The class names an export records, in label order as the model was trained: the checkpoint's
    ``class_names``, else the training class folders of --data_dir (or of the digits set); None otherwise."""
    names = checkpoint_class_names(weights) or _dataset_names(args)
    return list(names) if names and len(names) == weights.num_classes else None
