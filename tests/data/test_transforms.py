"""create_transforms and the auto_augment grammar: output shapes, eval crop, parsing, errors."""
import math

import numpy as np
import pytest
from mindspore.dataset import vision
from mindspore.dataset.vision import Inter

from mindcv.data import create_transforms, parse_auto_augment
from mindcv.data.auto_augment import create_auto_augment, magnitude_distribution
from mindcv.data.transforms_factory import eval_resize_size
from tests.data.folders import jpeg_bytes

MINDCV_MIXNET_STRINGS = ["randaug-m9-mstd0.5", "randaug-m9-mstd0.5-inc1"]


def _apply(ops: list, image) -> np.ndarray:
    """Run a transform list eagerly on one encoded image."""
    for op in ops:
        image = op(image)
    return image


def _encoded(size=(500, 375)) -> np.ndarray:
    return np.frombuffer(jpeg_bytes(5, size), dtype=np.uint8)


def test_eval_resize_and_centre_crop_for_crop_pct_0875():
    assert eval_resize_size(224, 0.875) == 256
    assert eval_resize_size(32, 0.875) == 36
    ops = create_transforms("imagenet", 224, is_training=False, crop_pct=0.875, interpolation="bicubic")
    resize = ops[1]
    assert isinstance(ops[0], vision.Decode) and isinstance(resize, vision.Resize)
    assert _apply(ops[:2], _encoded((500, 375))).shape == (256, 341, 3)  # short side 224 / 0.875
    out = _apply(ops, _encoded())
    assert out.shape == (3, 224, 224) and out.dtype == np.float32


def test_eval_crop_is_the_centre_of_the_resized_image():
    # a 400x300 image with crop_pct 0.5 at 64: resize short side to 128 (-> 170x128), crop the central 64x64
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    ops = create_transforms("", 64, crop_pct=0.5, mean=[0, 0, 0], std=[1, 1, 1])[1:]  # skip Decode
    out = _apply(ops, image)
    resized = vision.Resize(128)(image).astype(np.float32)
    top, left = (resized.shape[0] - 64) // 2, (resized.shape[1] - 64) // 2
    np.testing.assert_allclose(out.transpose(1, 2, 0), resized[top:top + 64, left:left + 64], atol=1e-4)


@pytest.mark.parametrize("size", [32, 48])
def test_small_images_work_for_digits(size):
    png_like = _encoded((32, 32))
    for training in (True, False):
        ops = create_transforms("digits", size, is_training=training, auto_augment="randaug-m9-mstd0.5",
                                re_prob=1.0)
        assert _apply(ops, png_like).shape == (3, size, size)


def test_train_pipeline_matches_the_mixnet_recipe():
    ops = create_transforms("imagenet", 224, is_training=True, interpolation="bicubic", hflip=0.5,
                            auto_augment="randaug-m9-mstd0.5", re_prob=0.25, crop_pct=0.875)
    kinds = [type(op).__name__ for op in ops]
    assert kinds == ["RandomCropDecodeResize", "RandomHorizontalFlip", "RandomChoice", "Normalize", "HWC2CHW",
                     "RandomErasing"]
    out = _apply(ops, _encoded())
    assert out.shape == (3, 224, 224) and out.dtype == np.float32
    primary, secondary, final = create_transforms("", 224, is_training=True, auto_augment="autoaug", separate=True)
    assert len(primary) == 2 and len(secondary) == 1 and len(final) == 2


def test_color_jitter_and_vflip_when_no_auto_augment():
    ops = create_transforms("", 32, is_training=True, color_jitter=0.4, vflip=0.5, hflip=0.0)
    assert [type(op).__name__ for op in ops] == ["RandomCropDecodeResize", "RandomVerticalFlip",
                                                 "RandomColorAdjust", "Normalize", "HWC2CHW"]


@pytest.mark.parametrize("config", MINDCV_MIXNET_STRINGS + [
    "randaug-m9-n2-mstd0.5", "randaug-m9-mstd0.5-inc1-w0", "randaug-n3-m7", "randaug-m10-mstd101",
    "randaug-m9-mstd0-mmax9", "autoaug", "autoaugr", "autoaug-mstd0.5", "trivialaugwide", "trivialaugwide-m31",
])
def test_auto_augment_strings_parse_and_run(config):
    op = create_auto_augment(config, Inter.BICUBIC, (124, 116, 104))
    image = np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    out = op(image)
    assert out.shape == image.shape and out.dtype == np.uint8


def test_parsed_values_of_the_recipe_strings():
    spec = parse_auto_augment("randaug-m9-mstd0.5-inc1")
    assert (spec.policy, spec.magnitude, spec.num_layers, spec.magnitude_std, spec.increasing) == \
        ("randaug", 9.0, 2, 0.5, True)
    assert parse_auto_augment("randaug-m9-mstd0.5").increasing is False
    assert parse_auto_augment("randaug-n3-w0").weight_idx == 0
    assert math.isinf(parse_auto_augment("randaug-mstd200").magnitude_std)
    assert parse_auto_augment("randaug").magnitude == 10.0  # timm's default magnitude


@pytest.mark.parametrize("config", ["augmix", "3a", "randaug-x9", "randaug-m9-m8", "randaug-mstd", "randaug-n2.5",
                                    "randaug-m9--n2", "autoaug-m9", "trivialaugwide-m20", "randaug-mmax12",
                                    "randaug-w1", "", "rand-m9"])
def test_unparsable_strings_raise_naming_the_string(config):
    with pytest.raises(ValueError, match="auto_augment"):
        parse_auto_augment(config)


def test_magnitude_distribution_follows_the_noise():
    dist = dict(magnitude_distribution(9, 0.5, 10))
    assert dist[8] + dist[9] + dist[10] > 0.998 and max(dist) == 10
    assert abs(sum(dist.values()) - 1) < 1e-9
    assert abs(dist[9] - 0.6827) < 1e-3 and abs(dist[10] - 0.1587) < 1e-3  # P(X > 9.5), clipped to 10
    assert abs(dist[8] - 0.1573) < 1e-3  # P(7.5 < X < 8.5)
    assert dict(magnitude_distribution(9, 0.0, 10)) == {9: 1.0}
    assert dict(magnitude_distribution(7.5, 0.0, 10)) == {7: 0.5, 8: 0.5}
    uniform = dict(magnitude_distribution(4, math.inf, 10))
    assert sorted(uniform) == [0, 1, 2, 3, 4] and abs(uniform[2] - 0.25) < 1e-9 and abs(uniform[0] - 0.125) < 1e-9
    assert dict(magnitude_distribution(12, 0.0, 10)) == {10: 1.0}  # clipped like timm


@pytest.mark.parametrize("kwargs,match", [
    ({"interpolation": "lanczos"}, "interpolation"),
    ({"re_porb": 0.2}, "did you mean 're_prob'"),
    ({"hflip": 1.5}, "hflip"),
    ({"scale": (0.5, 0.1)}, "scale"),
    ({"image_resize": 0}, "image_resize"),
    ({"mean": [1, 2]}, "mean"),
    ({"color_jitter": "strong"}, "color_jitter"),
    ({"dataset_name": "svhn"}, "dataset_name"),
])
def test_bad_options_raise_naming_them(kwargs, match):
    args = {"dataset_name": "", "is_training": True, **kwargs}
    with pytest.raises(ValueError, match=match):
        create_transforms(**args)


def test_eval_rejects_bad_crop_pct():
    with pytest.raises(ValueError, match="crop_pct"):
        create_transforms("", 224, is_training=False, crop_pct=0)
