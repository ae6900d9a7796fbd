"""validate / infer / export use the weights' published eval settings (resize, crop_pct, interpolation, mean,
std) for --pretrained and converted weights, unless the user set them; a model carries timm's pretrained_cfg."""
import pytest

from config import parse_args
from mindcv.eval.weights import Weights, apply_weights_eval_settings
from mindcv.models import create_model


def weights(origin="checkpoint", **meta) -> Weights:
    return Weights("w.ckpt", origin, {}, meta, 1000, False, False)


def test_converted_paddleclas_weights_bring_their_settings_unless_set():
    converted = weights(model_name="timm_mixnet_s", weights="timm_mixnet_s.paddleclas", converted_from="x sha256:0")
    args = apply_weights_eval_settings(parse_args(["--model", "timm_mixnet_s", "--interpolation", "bicubic"]),
                                       converted)
    assert args.interpolation == "bicubic"  # the user's choice stands
    assert (args.image_resize, args.crop_pct) == (224, 0.875)


def test_timm_conversion_uses_timms_eval_settings():
    converted = weights(model_name="tf_mixnet_s", converted_from="tf_mixnet_s.pth sha256:0")
    given = parse_args(["--model", "tf_mixnet_s"])
    assert given.interpolation == "bilinear"
    args = apply_weights_eval_settings(given, converted)
    assert args.interpolation == "pilcubic" and given.interpolation == "bilinear"  # a copy; the input is kept


def test_pretrained_uses_the_recipes_validation_settings():
    args = apply_weights_eval_settings(parse_args(["--model", "mixnet_s"]), weights(origin="pretrained"))
    assert (args.interpolation, args.crop_pct) == ("bicubic", 0.875)


def test_own_training_checkpoints_keep_the_given_settings():
    trained = weights(model_name="mixnet_s", epoch_num=3)  # train.py's checkpoint: its config.yaml holds them
    given = parse_args(["--model", "mixnet_s", "--image_resize", "48"])
    assert apply_weights_eval_settings(given, trained) is given


@pytest.mark.parametrize("name, interpolation", [("mixnet_s", "bicubic"), ("tf_mixnet_s", "pilcubic"),
                                                 ("mobilenet_v2", "bilinear")])
def test_models_carry_timms_pretrained_cfg(name, interpolation):
    model = create_model(name, num_classes=7, in_channels=1)
    cfg = model.pretrained_cfg
    assert model.default_cfg is cfg
    assert cfg["input_size"] == (1, 224, 224) and cfg["num_classes"] == 7 and cfg["interpolation"] == interpolation
    assert cfg["mean"] == (0.485, 0.456, 0.406) and cfg["std"] == (0.229, 0.224, 0.225)
    assert model.get_classifier() is model.classifier
    model.reset_classifier(3)
    assert tuple(model.get_classifier().weight.shape) == (3, model.num_features)
