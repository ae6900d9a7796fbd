"""aug_splits: AugMix-style split batches (a clean view and augmented views of each image) for the jsd loss."""
import numpy as np
import pytest

import config
from config import ConfigError
from mindcv.data import create_dataset, create_loader, create_transforms
from mindcv.engine.build import build_loaders
from mindcv.utils.distributed import DistInfo
from tests.data.folders import CLASSES, TRAIN_PER_CLASS, rows

BASIC = dict(scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=0.0)  # a deterministic crop: the clean view is predictable
B = 4


def _loader(root, splits, seed=None, mixup=0.0, **options):
    dataset = create_dataset("", root, split="train", shuffle=seed is not None, seed=seed)
    transform = create_transforms("", 32, is_training=True, separate=splits >= 2, **options)
    return create_loader(dataset, B, drop_remainder=True, is_training=True, transform=transform, mixup=mixup,
                         cutmix_prob=1.0,
                         num_classes=len(CLASSES), separate=splits >= 2, num_splits=splits, num_parallel_workers=1,
                         seed=seed)


@pytest.mark.parametrize("splits", [2, 3])
def test_view_0_is_the_basic_pipeline_and_the_others_are_augmented(tiny_folder, splits):
    plain = rows(_loader(tiny_folder, 0, color_jitter=None, **BASIC))
    split = rows(_loader(tiny_folder, splits, auto_augment="randaug-m9-mstd0.5", re_prob=1.0, **BASIC))
    assert len(split) == len(plain) == len(CLASSES) * TRAIN_PER_CLASS // B
    for (images, labels), (clean, clean_labels) in zip(split, plain):
        assert images.shape == (B * splits, 3, 32, 32) and labels.shape == (B * splits,)
        np.testing.assert_array_equal(labels, np.tile(clean_labels, splits))
        np.testing.assert_array_equal(images[:B], clean)  # no auto_augment, no random erasing on view 0
        for view in range(1, splits):
            augmented = images[view * B:(view + 1) * B]
            assert all(not np.array_equal(augmented[i], clean[i]) for i in range(B))


def test_views_share_one_random_crop_and_mixup_gives_them_one_target(tiny_folder):
    """With no secondary augmentation the views of an image are equal although crop and flip are random; mixed
    (MindCV's pairing over the whole split batch), every view of an image gets the same soft target."""
    images, labels = rows(_loader(tiny_folder, 3, seed=1, color_jitter=None, hflip=0.5))[0]
    np.testing.assert_array_equal(images[:B], images[B:2 * B])
    np.testing.assert_array_equal(images[:B], images[2 * B:])
    images, targets = rows(_loader(tiny_folder, 3, seed=1, color_jitter=0.4, mixup=1.0))[0]
    assert targets.shape == (3 * B, len(CLASSES)) and np.allclose(targets.sum(axis=1), 1.0)
    assert targets.max() < 1.0  # mixed
    np.testing.assert_allclose(targets[:B], targets[B:2 * B])
    np.testing.assert_allclose(targets[:B], targets[2 * B:])


def _args(root, *extra):
    return config.parse_args(["--dataset", "folder", "--data_dir", str(root), "--image_resize", "32",
                              "--batch_size", "2", "--num_parallel_workers", "1", "--scale", "1", "1", "--ratio",
                              "1", "1", "--hflip", "0", "--val_while_train", "False", *extra])


SPLIT_RUN = ("--aug_splits", "3", "--loss", "jsd", "--auto_augment", "randaug-m9-mstd0.5", "--re_prob", "0.5")


def test_two_ranks_see_every_image_once_in_the_clean_view_and_skip_resumes_exactly(tiny_folder):
    args = _args(tiny_folder, *SPLIT_RUN)
    plain = {rows_[0][i].tobytes() for rows_ in rows(_loader(tiny_folder, 0, color_jitter=None, **BASIC))
             for i in range(B)}
    seen = []
    for rank in (0, 1):
        data = build_loaders(args, DistInfo(rank=rank, group_size=2))
        assert data.steps_per_epoch == 3  # 12 images, 2 ranks, batch 2: the views do not change the steps
        batches = rows(data.make_train_loader(0))
        assert [b[0].shape[0] for b in batches] == [6, 6, 6]
        seen += [b[0][i].tobytes() for b in batches for i in range(2)]
        resumed = rows(data.make_train_loader(0).skip(1))  # what the trainer does to resume after step 1
        for (images, labels), (again, again_labels) in zip(batches[1:], resumed):
            np.testing.assert_array_equal(labels, again_labels)
            np.testing.assert_array_equal(images[:2], again[:2])
    assert sorted(seen) == sorted(plain)  # disjoint shards covering the training set


@pytest.mark.parametrize("extra, phrase", [
    (("--aug_splits", "3"), "aug_splits 3 makes 3 views of each image for the loss jsd, not CE: set loss jsd"),
    (("--loss", "jsd"), "loss jsd compares several views of each image: set aug_splits 2 or more"),
    (("--loss", "jsd", "--aug_splits", "1"), "not 1, or use loss CE"),
    (("--aug_splits", "2", "--loss", "jsd", "--color_jitter", "None"), "set auto_augment"),
])
def test_config_rules(tiny_folder, extra, phrase):
    with pytest.raises(ConfigError) as exc:
        _args(tiny_folder, *extra)
    assert phrase in str(exc.value)


def test_aug_splits_off_values_and_no_unused_warning(tiny_folder, caplog):
    for value in ("0", "1"):
        assert _args(tiny_folder, "--aug_splits", value).aug_splits == int(value)
    assert _args(tiny_folder, "--aug_splits", "2", "--loss", "JSD").loss == "jsd"
    assert "no effect here" not in caplog.text
