"""create_loader end to end on the tiny JPEG folder: batch shapes, dtypes, soft labels when mixing."""
import numpy as np
import pytest

from mindcv.data import create_dataset, create_loader, create_transforms, labels_are_soft
from tests.data.folders import CLASSES, TRAIN_PER_CLASS, rows

N_TRAIN = len(CLASSES) * TRAIN_PER_CLASS


def _train_loader(root, **kwargs):
    dataset = create_dataset("", root, split="train", seed=0)
    transform = create_transforms("", 32, is_training=True, auto_augment="randaug-m9-mstd0.5", re_prob=0.25,
                                  interpolation="bicubic")
    return create_loader(dataset, transform=transform, num_classes=len(CLASSES), is_training=True,
                         num_parallel_workers=2, **kwargs)


def test_eval_batches_are_nchw_float32_with_int32_labels(tiny_folder):
    dataset = create_dataset("", tiny_folder, split="val", shuffle=False)
    loader = create_loader(dataset, batch_size=3, transform=create_transforms("", 32, crop_pct=0.875))
    batches = rows(loader)
    assert [b[0].shape for b in batches] == [(3, 3, 32, 32), (1, 3, 32, 32)]  # 4 images, remainder kept
    images, labels = batches[0]
    assert images.dtype == np.float32 and labels.dtype == np.int32
    assert np.all((labels >= 0) & (labels < len(CLASSES)))
    assert abs(images.mean()) < 1.0  # normalised with the ImageNet mean/std (random-noise images)


def test_train_with_mixing_gives_soft_targets_summing_to_one(tiny_folder):
    loader = _train_loader(tiny_folder, batch_size=4, drop_remainder=True, mixup=0.2, cutmix=1.0, cutmix_prob=1.0,
                           label_smoothing=0.1)
    batches = rows(loader)
    assert len(batches) == N_TRAIN // 4
    for images, target in batches:
        assert images.shape == (4, 3, 32, 32) and images.dtype == np.float32
        assert target.shape == (4, len(CLASSES)) and target.dtype == np.float32
        np.testing.assert_allclose(target.sum(axis=1), 1.0, rtol=1e-5)
        assert target.min() >= 0.1 / len(CLASSES) - 1e-6  # label smoothing folded in


def test_mindcv_recipe_cutmix_prob_zero_keeps_images_but_one_hot_labels(tiny_folder):
    loader = _train_loader(tiny_folder, batch_size=5, drop_remainder=False, mixup=0.2, cutmix=1.0, cutmix_prob=0.0)
    batches = rows(loader)
    assert [b[0].shape[0] for b in batches] == [5, 5, 2]
    for _, target in batches:
        assert set(np.unique(target)) == {0.0, 1.0} and np.all(target.sum(axis=1) == 1.0)
    assert labels_are_soft(True, 0.2, 1.0, 5) and not labels_are_soft(False, 0.2, 1.0, 5)


def test_one_worker_pipeline_is_repeatable_with_a_seed(tiny_folder):
    def run(seed):
        dataset = create_dataset("", tiny_folder, seed=seed, num_parallel_workers=1)
        transform = create_transforms("", 32, is_training=True, auto_augment="randaug-m9-mstd0.5", re_prob=0.5)
        loader = create_loader(dataset, 4, is_training=True, transform=transform, mixup=0.2, cutmix=1.0,
                               cutmix_prob=1.0, num_classes=len(CLASSES), num_parallel_workers=1, seed=seed)
        return rows(loader)

    first, again, other = run(5), run(5), run(6)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    assert any(not np.array_equal(a[0], c[0]) for a, c in zip(first, other))


def test_training_without_mixing_keeps_int_labels(tiny_folder):
    batches = rows(_train_loader(tiny_folder, batch_size=6, drop_remainder=True))
    assert len(batches) == 2 and batches[0][1].dtype == np.int32 and batches[0][1].shape == (6,)


def test_separate_gives_clean_and_two_augmented_views(tiny_folder):
    dataset = create_dataset("", tiny_folder, split="train", shuffle=False)
    transform = create_transforms("", 32, is_training=True, auto_augment="trivialaugwide", separate=True)
    loader = create_loader(dataset, batch_size=4, drop_remainder=True, is_training=True, transform=transform,
                           separate=True, num_classes=len(CLASSES))
    images, labels = rows(loader)[0]
    assert images.shape == (12, 3, 32, 32) and labels.shape == (12,)
    np.testing.assert_array_equal(labels[:4], labels[4:8])


@pytest.mark.parametrize("kwargs,match", [
    ({"batch_size": 0}, "batch_size"),
    ({"mixup": -1.0}, "mixup"),
    ({"cutmix_prob": 2.0}, "cutmix_prob"),
    ({"label_smoothing": 1.0}, "label_smoothing"),
])
def test_bad_loader_options(tiny_folder, kwargs, match):
    dataset = create_dataset("", tiny_folder, split="val")
    args = {"batch_size": 2, "transform": create_transforms("", 32), **kwargs}
    with pytest.raises(ValueError, match=match):
        create_loader(dataset, **args)
