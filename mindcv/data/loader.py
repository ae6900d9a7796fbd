"""create_loader: transforms, batching and (in training) Mixup / CutMix over a dataset, as MindCV does it.

Labels leave the loader as int32 class indices, except in training with ``mixup + cutmix > 0``
and ``batch_size > 1`` (MindCV's condition), where every batch passes through ``Mixup`` and labels
become float32 soft targets of shape (N, num_classes) summing to 1 per row. Whether a batch's
images are actually mixed is decided per batch with probability ``cutmix_prob`` (MindCV passes
cutmix_prob as Mixup's ``prob``): with MindCV's mixnet_s/m recipes (mixup 0.2, cutmix 1.0,
cutmix_prob 0.0) images are never mixed, yet labels still arrive as one-hot float32 rows.
``label_smoothing`` here folds smoothing into those soft targets; MindCV leaves it at 0 and smooths
in the loss instead, so smooth in one place only. Use ``labels_are_soft`` to know which form the
loss will receive.

Augmentation splits (``separate=True``, MindCV's and timm's AugMix-style batches for the ``jsd`` loss):
each image is decoded, cropped and flipped once (the primary transforms), then gives ``num_splits``
views: view 0, the clean one, only normalised (no auto_augment / colour jitter, no random erasing, as
timm's loader leaves the clean split unerased); views 1.. get the secondary transforms and the whole
final list. A batch of B images leaves as B x num_splits rows, view after view (rows i, B + i, 2B + i
... are the same image), labels repeated likewise. Mixup / CutMix then mix that whole batch as MindCV
does: row r is paired with row B x num_splits - 1 - r, view s of image i with view num_splits - 1 - s of
image B - 1 - i, so every view of an image gets the same mixed target.
"""
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

import mindspore as ms
import mindspore.dataset as ds
from mindspore.dataset import transforms, vision

from ..utils.logger import get_logger
from .mixup import Mixup
from .transforms_factory import create_transforms

__all__ = ["create_loader", "labels_are_soft"]

_logger = get_logger(__name__)


def labels_are_soft(is_training: bool, mixup: float, cutmix: float, batch_size: int) -> bool:
    """True when create_loader will emit float32 soft targets instead of int32 labels."""
    return bool(is_training) and (mixup + cutmix) > 0.0 and batch_size > 1


def _label_column(dataset: ds.Dataset) -> str:
    """'label' (or MindSpore's CIFAR-100 'fine_label'), after checking the image column exists."""
    columns = dataset.get_col_names()
    if "image" not in columns:
        raise ValueError(f"create_loader needs a dataset with an 'image' column, got columns {columns}")
    for name in ("label", "fine_label"):
        if name in columns:
            return name
    raise ValueError(f"create_loader needs a dataset with a 'label' column, got columns {columns}")


def _check_loader_args(batch_size, mixup, cutmix, cutmix_prob, num_classes, label_smoothing) -> None:
    """Validate create_loader's numeric options, naming the bad one."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    for name, value in (("mixup", mixup), ("cutmix", cutmix)):
        if not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{name} (a Beta distribution alpha) must be >= 0, got {value!r}")
    if not 0.0 <= cutmix_prob <= 1.0:
        raise ValueError(f"cutmix_prob must be in [0, 1], got {cutmix_prob!r}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")


def _concat_views(*columns) -> Tuple[np.ndarray, np.ndarray]:
    """Stack a batch's views (image columns, then the label column) along the batch axis, view after view."""
    views, label = columns[:-1], columns[-1]
    return np.concatenate(views), np.concatenate([label] * len(views))


def view_columns(num_splits: int) -> List[str]:
    """Names of the image columns of the views: image_view0 (clean), image_view1, ..."""
    return [f"image_view{i}" for i in range(num_splits)]


def _map_separate(dataset: ds.Dataset, transform: Sequence, label: str, num_splits: int, workers,
                  multiprocessing: bool) -> ds.Dataset:
    """Map (primary, secondary, final) transforms into ``num_splits`` view columns (see the module docstring)."""
    if not (isinstance(transform, tuple) and len(transform) == 3):
        raise ValueError("separate=True needs transform=(primary, secondary, final) as returned by "
                         "create_transforms(..., is_training=True, separate=True)")
    if isinstance(num_splits, bool) or not isinstance(num_splits, int) or num_splits < 2:
        raise ValueError(f"separate=True needs num_splits (aug_splits) >= 2, got {num_splits!r}")
    primary, secondary, final = (list(t) for t in transform)
    clean_final = [op for op in final if not isinstance(op, vision.RandomErasing)]
    views = view_columns(num_splits)
    kw = dict(num_parallel_workers=workers, python_multiprocessing=multiprocessing)
    dataset = dataset.map(operations=primary, input_columns="image", **kw)
    dataset = dataset.map(operations=transforms.Duplicate(), input_columns=["image"], output_columns=views[:2], **kw)
    for previous, column in zip(views[1:-1], views[2:]):
        dataset = dataset.map(operations=transforms.Duplicate(), input_columns=[previous],
                              output_columns=[previous, column], **kw)
    for column in views[1:]:
        if secondary:
            dataset = dataset.map(operations=secondary, input_columns=column, **kw)
        dataset = dataset.map(operations=final, input_columns=column, **kw)
    dataset = dataset.map(operations=clean_final, input_columns=views[0], **kw)
    return dataset.project(views + [label])


def create_loader(
    dataset: ds.Dataset,
    batch_size: int,
    drop_remainder: bool = False,
    is_training: bool = False,
    mixup: float = 0.0,
    cutmix: float = 0.0,
    cutmix_prob: float = 0.0,
    num_classes: int = 1000,
    transform: Optional[Union[list, tuple]] = None,
    target_transform=None,
    num_parallel_workers: Optional[int] = None,
    python_multiprocessing: bool = False,
    separate: bool = False,
    label_smoothing: float = 0.0,
    switch_prob: float = 0.5,
    seed: Optional[int] = None,
    num_splits: int = 3,
) -> ds.Dataset:
    """Batched dataset yielding (image float32 NCHW, label): int32, or float32 soft targets when mixing.

    transform: the list from create_transforms (None: ImageNet eval transforms, with a warning).
    target_transform: label ops (default TypeCast to int32). Mixup/CutMix run in training when
    mixup + cutmix > 0 and batch_size > 1, mixing a batch with probability cutmix_prob (see the
    module docstring). seed: seeds the Mixup random generator. separate: AugMix-style views, a clean one
    and num_splits - 1 augmented ones per image, concatenated per batch (transform must be the separate
    tuple; MindCV's fixed form is num_splits 3).
    """
    _check_loader_args(batch_size, mixup, cutmix, cutmix_prob, num_classes, label_smoothing)
    label = _label_column(dataset)
    kw = dict(num_parallel_workers=num_parallel_workers, python_multiprocessing=python_multiprocessing)
    dataset = dataset.map(operations=target_transform or transforms.TypeCast(ms.int32), input_columns=label, **kw)
    if transform is None:
        _logger.warning("create_loader: transform=None, using the ImageNet eval transforms; pass the list from "
                        "create_transforms explicitly")
        transform = create_transforms("imagenet", is_training=False)
    if separate and is_training:
        dataset = _map_separate(dataset, transform, label, num_splits, num_parallel_workers, python_multiprocessing)
        dataset = dataset.batch(batch_size=batch_size, drop_remainder=drop_remainder)
        dataset = dataset.map(operations=_concat_views, input_columns=view_columns(num_splits) + [label],
                              output_columns=["image", label], num_parallel_workers=num_parallel_workers)
    else:
        if isinstance(transform, tuple):
            raise ValueError("transform is a (primary, secondary, final) tuple: pass separate=True with "
                             "is_training=True, or build the transforms with separate=False")
        dataset = dataset.map(operations=list(transform), input_columns="image", **kw)
        dataset = dataset.batch(batch_size=batch_size, drop_remainder=drop_remainder)
    if labels_are_soft(is_training, mixup, cutmix, batch_size):
        mixer = Mixup(mixup_alpha=mixup, cutmix_alpha=cutmix, prob=cutmix_prob, switch_prob=switch_prob,
                      label_smoothing=label_smoothing, num_classes=num_classes, seed=seed)
        dataset = dataset.map(operations=mixer, input_columns=["image", label],
                              num_parallel_workers=num_parallel_workers)
    return dataset
