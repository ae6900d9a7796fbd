"""Our eval transform against timm's PIL pipeline on real photographs (benchmarks/timm_preprocessing.py).

Findings these tests pin down: MindSpore's JPEG/PNG decode equals PIL's; interpolation "pilcubic" is
PIL's bicubic exactly while "bicubic" (MindCV's, OpenCV's cubic without antialiasing) is not; and the
one remaining difference is the centre crop, whose offset MindSpore floors where torchvision rounds
half to even (a one-pixel shift when the resized side minus 224 is odd).

Photos: scikit-learn's china.jpg and flower.jpg, a lossless 480x320 crop of china.jpg (even crop
margins), and scikit-image's colour photos when its data folder is in the torch peer directory.
"""
import os

import numpy as np
import pytest
from mindspore.dataset import vision
from PIL import Image

from benchmarks.timm_preprocessing import (build_model, centre_offsets, logits_of, ours_eval_tensor, photos,
                                           resized_size, sklearn_photos, timm_eval_tensor)
from mindcv.data import create_transforms

PHOTOS = photos()
JPEGS = [p for p in PHOTOS if p.lower().endswith(".jpg")]


def _name(path: str) -> str:
    return os.path.basename(path)


@pytest.fixture(scope="module")
def even_margin_photo(tmp_path_factory) -> str:
    """A 480x320 crop of china.jpg saved as PNG: resized to 384x256, both crop margins are even."""
    path = str(tmp_path_factory.mktemp("photo") / "china_480x320.png")
    Image.open(sklearn_photos()[0]).convert("RGB").crop((60, 40, 540, 360)).save(path)
    return path


def _eval_ops(interpolation: str) -> list:
    return create_transforms(dataset_name="imagenet", image_resize=224, is_training=False,
                             interpolation=interpolation, crop_pct=0.875)


@pytest.mark.parametrize("path", JPEGS, ids=_name)
def test_decode_equals_pils(path):
    ours = vision.Decode()(np.fromfile(path, dtype=np.uint8)).astype(np.int16)
    theirs = np.asarray(Image.open(path).convert("RGB")).astype(np.int16)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).mean() <= 0.5


@pytest.mark.parametrize("path", PHOTOS[:3], ids=_name)
def test_pilcubic_resize_is_pils_bicubic(path):
    resize = [op for op in _eval_ops("pilcubic") if isinstance(op, vision.Resize)][0]
    image = Image.open(path).convert("RGB")
    ours = resize(np.asarray(image)).astype(np.int16)
    theirs = np.asarray(image.resize(resized_size(*image.size, 256), Image.BICUBIC)).astype(np.int16)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() <= 1


def test_pilcubic_eval_equals_timm_where_crop_offsets_agree(even_margin_photo):
    ours = ours_eval_tensor(even_margin_photo, "pilcubic")
    assert ours.shape == (3, 224, 224)
    assert np.abs(ours - timm_eval_tensor(even_margin_photo)).max() < 1e-4


@pytest.mark.parametrize("path", PHOTOS, ids=_name)
def test_pilcubic_eval_differs_from_timm_at_most_by_the_crop_rounding(path):
    ours = ours_eval_tensor(path, "pilcubic")
    width, height = resized_size(*Image.open(path).size, 256)
    offsets_agree = centre_offsets(width, height, 224) == centre_offsets(width, height, 224, "floor")
    exact = np.abs(ours - timm_eval_tensor(path)).max()
    if offsets_agree:
        assert exact < 1e-4
    else:  # a one-pixel shift: equal to timm's resize + normalise cropped at MindSpore's (floor) offsets
        assert exact > 1e-2
        assert np.abs(ours - timm_eval_tensor(path, rounding="floor")).max() < 1e-4


def test_mindcv_bicubic_is_further_from_timm_than_pilcubic(even_margin_photo):
    for path in [even_margin_photo] + PHOTOS:
        reference = timm_eval_tensor(path)
        bicubic = np.abs(ours_eval_tensor(path, "bicubic") - reference).mean()
        pilcubic = np.abs(ours_eval_tensor(path, "pilcubic") - reference).mean()
        assert bicubic > pilcubic, _name(path)


def test_model_sees_the_same_photos_through_both_pipelines(even_margin_photo):
    """A random-weight timm_mixnet_s (signal-preserving init, random BN) agrees on top-1 for every photo,
    and its logits move much less between the pipelines than between photos."""
    paths = [even_margin_photo] + PHOTOS
    model = build_model("timm_mixnet_s", seed=0)
    ours = logits_of(model, np.stack([ours_eval_tensor(p, "pilcubic") for p in paths]))
    ref = logits_of(model, np.stack([timm_eval_tensor(p) for p in paths]))
    between = np.mean([np.abs(ref[i] - ref[j]).mean() for i in range(len(paths)) for j in range(i)])
    assert between > 1e-3  # the model's output depends on the photo
    assert (ours.argmax(1) == ref.argmax(1)).all()
    assert np.abs(ours - ref).mean() < 0.1 * between
