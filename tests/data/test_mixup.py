"""Mixup / CutMix on numpy batches: soft targets sum to 1, images mix as the lambda says."""
import numpy as np
import pytest

from mindcv.data import Mixup
from mindcv.data.mixup import mixup_target, one_hot


def _batch(n=6, c=3, h=8, w=10):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, c, h, w)).astype(np.float32), np.arange(n, dtype=np.int32) % 4


def test_one_hot_with_label_smoothing():
    target = mixup_target(np.array([2, 0]), 4, lam=1.0, smoothing=0.1)
    np.testing.assert_allclose(target[0], [0.025, 0.025, 0.925, 0.025], rtol=1e-6)
    np.testing.assert_allclose(target.sum(axis=1), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="num_classes=4"):
        one_hot(np.array([4]), 4)


def test_mixup_is_a_convex_combination_with_the_reversed_batch():
    images, labels = _batch()
    mixed, target = Mixup(mixup_alpha=0.2, cutmix_alpha=0.0, prob=1.0, label_smoothing=0.1, num_classes=4,
                          seed=0)(images, labels)
    lam = target[0, labels[0]] - target[0].min() if labels[0] != labels[-1] else None
    assert mixed.dtype == np.float32 and target.dtype == np.float32 and target.shape == (6, 4)
    np.testing.assert_allclose(target.sum(axis=1), 1.0, rtol=1e-6)
    # recover lam from the images: mixed = lam * x + (1 - lam) * x[::-1]
    lam_img = np.sum((mixed - images[::-1]) * (images - images[::-1])) / np.sum((images - images[::-1]) ** 2)
    np.testing.assert_allclose(mixed, lam_img * images + (1 - lam_img) * images[::-1], atol=1e-5)
    np.testing.assert_allclose(target, mixup_target(labels, 4, lam_img, 0.1), atol=1e-5)
    assert lam is None or 0.0 <= lam_img <= 1.0


def test_cutmix_pastes_a_box_and_corrects_lambda_to_its_area():
    images, labels = _batch(n=4, h=20, w=20)
    mixed, target = Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, prob=1.0, label_smoothing=0.0, num_classes=4,
                          seed=1)(images, labels)
    changed = np.any(mixed != images, axis=(0, 1))
    area = changed.sum() / changed.size
    assert 0 < area < 1
    rows, cols = np.nonzero(changed)
    assert changed[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()  # one rectangle
    np.testing.assert_allclose(target[0, labels[0]], 1 - area, atol=1e-6)
    np.testing.assert_allclose(target.sum(axis=1), 1.0, rtol=1e-6)


def test_prob_zero_never_mixes_but_still_gives_one_hot_targets():
    images, labels = _batch()
    mixer = Mixup(mixup_alpha=0.2, cutmix_alpha=1.0, prob=0.0, label_smoothing=0.0, num_classes=4)
    for _ in range(5):
        mixed, target = mixer(images, labels)
        np.testing.assert_array_equal(mixed, images)
        np.testing.assert_array_equal(target, np.eye(4, dtype=np.float32)[labels])


def test_switch_prob_picks_cutmix_or_mixup():
    images, labels = _batch(h=16, w=16)
    only_cutmix = Mixup(mixup_alpha=0.2, cutmix_alpha=1.0, prob=1.0, switch_prob=1.0, num_classes=4, seed=2)
    mixed, _ = only_cutmix(images, labels)
    assert np.any(mixed == images)  # cutmix leaves pixels outside the box untouched
    only_mixup = Mixup(mixup_alpha=1.0, cutmix_alpha=1.0, prob=1.0, switch_prob=0.0, num_classes=4, seed=2)
    mixed, _ = only_mixup(images, labels)
    assert not np.any(mixed == images)


@pytest.mark.parametrize("kwargs,match", [
    ({"mixup_alpha": 0.0, "cutmix_alpha": 0.0}, "one of them > 0"),
    ({"prob": 1.5}, "prob"),
    ({"label_smoothing": 1.0}, "label_smoothing"),
    ({"num_classes": 0}, "num_classes"),
])
def test_bad_mixup_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Mixup(**kwargs)
