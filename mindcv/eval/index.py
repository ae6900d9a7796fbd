"""The validation split as a labelled file list: an image-folder split (labels in the model's class order), or
a flat folder of images with a labels file (``--val_labels``), or an evenly spaced subset of either."""
import os
from dataclasses import replace
from typing import Iterable, List, Optional, Tuple

import numpy as np

from ..choices import FOLDER_DATASETS
from ..data import FolderIndex, create_index, get_class_names, image_files, subfolders
from ..data.imagenet_classes import IMAGENET_NUM_CLASSES, imagenet_wnids
from ..utils.logger import get_logger
from .weights import EvalError

logger = get_logger(__name__)

__all__ = ["build_val_index", "evenly_spaced"]


def _image_names(directory: str) -> List[str]:
    """Names of the image files directly inside ``directory`` (not in sub-folders)."""
    return [os.path.basename(path) for path in image_files(directory)]


def _looks_like_split(folder: str) -> bool:
    """True when ``folder`` holds at least one class folder with an image in it (checks a few, not all)."""
    return any(_image_names(os.path.join(folder, name)) for name in subfolders(folder)[:20])


def _check_val_split(root: str, split: str) -> str:
    """The split directory, after explaining a missing split or a flat folder of images without classes."""
    if not root or not os.path.isdir(root):
        raise EvalError(f"dataset root {root!r} is not a directory (--data_dir); expected "
                        f"<root>/{split}/<class>/<image>")
    split_dir = os.path.join(root, split) if split else root
    if not os.path.isdir(split_dir):
        splits = [f for f in subfolders(root) if _looks_like_split(os.path.join(root, f))]
        where = (f"folders in {root} that hold class folders of images: {splits}. Pass --val_split <one of them> "
                 f"or a --data_dir holding {split}/") if splits else \
            f"no folder in {root} holds class folders of images: pass a --data_dir holding {split}/<class>/<image>"
        raise EvalError(f"no validation split: {split_dir} does not exist (--val_split {split!r}); {where}")
    flat = _image_names(split_dir)
    if flat and not subfolders(split_dir):
        raise EvalError(
            f"{split_dir} holds {len(flat)} images (e.g. {flat[0]}) directly, without class sub-folders, so their "
            f"labels are unknown. Either move each image into a folder named after its class "
            f"({split_dir}/<wnid>/<image>, e.g. with the ILSVRC2012 devkit ground truth or the widely used "
            f"valprep.sh), or pass --val_labels FILE listing '<image file> <class>' per line (class = wnid such as "
            f"n01440764, or a label index 0-999; Kaggle's LOC_val_solution.csv works as is)")
    return split_dir


def _read_labels_file(path: str) -> List[Tuple[str, str]]:
    """(image file name, class token) pairs from a labels file: '<file> <class>' lines or LOC_val_solution.csv."""
    if not os.path.isfile(path):
        raise EvalError(f"labels file not found: {path} (--val_labels)")
    pairs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#") or line.lower().startswith("imageid"):
                continue
            name, _, rest = line.partition(",") if "," in line else line.partition(" ")
            tokens = rest.split()
            if not name.strip() or not tokens:
                raise EvalError(f"{path} line {number}: expected '<image file> <class>', got {line!r} (the devkit's "
                                f"ILSVRC2012_validation_ground_truth.txt uses the devkit's own class ids, not label "
                                f"indices: convert it to '<file> <wnid>' lines first)")
            pairs.append((name.strip(), tokens[0]))
    if not pairs:
        raise EvalError(f"labels file {path} has no '<image file> <class>' lines (--val_labels)")
    return pairs


def _label_order(tokens: Iterable[str], root: str, num_classes: int, known: Optional[List[str]]) -> List[str]:
    """Class names in label order for class tokens that are names (checkpoint metadata, train folders, ImageNet)."""
    tokens = set(tokens)
    if known:
        return known
    train_dir = os.path.join(root, "train")
    if os.path.isdir(train_dir) and subfolders(train_dir):
        return get_class_names(root, "train")
    if num_classes == IMAGENET_NUM_CLASSES and tokens <= set(imagenet_wnids()):
        return imagenet_wnids()
    return sorted(tokens)


def labelled_index(args, num_classes: int, known_names: Optional[List[str]]):
    """A FolderIndex over a flat val folder whose labels come from --val_labels."""
    split_dir = args.data_dir if not args.val_split else os.path.join(args.data_dir, args.val_split)
    if not os.path.isdir(split_dir):
        raise EvalError(f"--val_labels given but the image folder {split_dir} (--data_dir/--val_split) does not exist")
    pairs = _read_labels_file(args.val_labels)
    files = _image_names(split_dir)
    by_name = {**{os.path.splitext(f)[0]: f for f in files}, **{f: f for f in files}}
    missing = [name for name, _ in pairs if name not in by_name]
    if missing:
        raise EvalError(f"{len(missing)} images listed in {args.val_labels} are not in {split_dir}, e.g. {missing[:3]}")
    unlabelled = sorted(set(files) - {by_name[name] for name, _ in pairs})
    if unlabelled:
        raise EvalError(f"{len(unlabelled)} images of {split_dir} have no line in {args.val_labels}, e.g. "
                        f"{unlabelled[:3]}: every image must be labelled")
    tokens = [token for _, token in pairs]
    if all(token.isdigit() for token in tokens):
        names = known_names or [str(i) for i in range(num_classes)]
        labels = [int(token) for token in tokens]
    else:
        names = _label_order(tokens, args.data_dir, num_classes, known_names)
        position = {name: i for i, name in enumerate(names)}
        unknown = sorted({t for t in tokens if t not in position})
        if unknown:
            raise EvalError(f"classes {unknown[:5]} of {args.val_labels} are not among the model's classes "
                            f"({names[:3]} ...)")
        labels = [position[token] for token in tokens]
    bad = [label for label in labels if not 0 <= label < num_classes]
    if bad:
        raise EvalError(f"label {bad[0]} in {args.val_labels} is outside the model's {num_classes} classes")
    samples = sorted((os.path.join(split_dir, by_name[name]), label) for (name, _), label in zip(pairs, labels))
    return FolderIndex(samples, list(names), args.data_dir, args.val_split)


def _folder_label_order(root: str, split: str, num_classes: int, known: Optional[List[str]]) -> Optional[List[str]]:
    """Label order for a folder split: the checkpoint's names, else ImageNet wnids for a wnid-only val tree of a
    1000-class model without a train folder, else None (the dataset's own rule: train's folders)."""
    if known:
        return known
    split_dir = os.path.join(root, split) if split else root
    if os.path.isdir(os.path.join(root, "train")) or num_classes != IMAGENET_NUM_CLASSES:
        return None
    folders = set(subfolders(split_dir))
    return imagenet_wnids() if folders and folders <= set(imagenet_wnids()) else None


def build_val_index(args, num_classes: int, known_names: Optional[List[str]]):
    """The validated file list of the validation split, labels in the model's class order."""
    is_folder = args.dataset.lower() in FOLDER_DATASETS
    if getattr(args, "val_labels", ""):  # a validate.py option (export.py --quantize int8 has none)
        if not is_folder:
            raise EvalError(f"--val_labels applies to image-folder datasets, not --dataset {args.dataset}")
        index = labelled_index(args, num_classes, known_names)
    else:
        order = None
        if is_folder:
            _check_val_split(args.data_dir, args.val_split)
            order = _folder_label_order(args.data_dir, args.val_split, num_classes, known_names)
        index = create_index(args.dataset, args.data_dir, args.val_split, class_names=order,
                             download=args.dataset_download)
    if len(index.class_names) > num_classes:
        raise EvalError(f"the dataset has {len(index.class_names)} classes ({index.split_dir}) but the model's "
                        f"classifier has {num_classes} outputs: this checkpoint was not trained on these classes")
    if args.num_samples and args.num_samples < len(index):
        logger.info("num_samples %d: evaluating an evenly spaced subset of the %d images", args.num_samples,
                    len(index))
        index = evenly_spaced(index, args.num_samples)
    return index


def evenly_spaced(index, count: int):
    """``count`` evenly spaced samples of ``index`` (every class represented when count allows)."""
    if count >= len(index):
        return index
    positions = np.unique(np.linspace(0, len(index) - 1, count).round().astype(int))
    return replace(index, samples=[index.samples[int(i)] for i in positions], bad_images={})
