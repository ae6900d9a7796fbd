"""``create_model``: build a registered model by name, optionally with weights."""
from typing import Any, Sequence

from mindspore import nn

from .features import FeatureExtractor
from .pretrained import load_checkpoint_path
from .registry import get_pretrained_cfg, model_entrypoint
from .weights_doc import pretrained_cfg_for

__all__ = ["create_model", "create_features"]


def create_model(
    model_name: str,
    num_classes: int = 1000,
    pretrained: bool = False,
    in_channels: int = 3,
    checkpoint_path: str = "",
    ema: bool = False,
    **kwargs: Any,
) -> nn.Cell:
    """Build ``model_name`` (MindCV 0.3.0's signature and argument order).

    ``pretrained=True`` downloads and loads the published weights (head and stem adapted to
    ``num_classes`` / ``in_channels``); ``checkpoint_path`` loads a local checkpoint instead
    (``ema=True`` takes its EMA weights). Keyword arguments set to None are dropped, so a config
    can pass every option and leave the model's defaults in force. ``features_only=True`` (with
    ``out_indices``) returns a FeatureExtractor giving the feature maps at strides 4, 8, 16 and 32.
    """
    if checkpoint_path and pretrained:
        raise ValueError("pass either pretrained=True or checkpoint_path, not both: "
                         f"checkpoint_path={checkpoint_path!r} would overwrite the pretrained weights")
    create_fn = model_entrypoint(model_name)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    features_only, out_indices = kwargs.pop("features_only", False), kwargs.pop("out_indices", (0, 1, 2, 3))
    model = create_fn(pretrained=pretrained, num_classes=num_classes, in_channels=in_channels, **kwargs)
    if checkpoint_path:
        load_checkpoint_path(model, checkpoint_path, num_classes=num_classes, in_channels=in_channels, use_ema=ema)
    model.pretrained_cfg = pretrained_cfg_for(get_pretrained_cfg(model_name), num_classes, in_channels)
    model.default_cfg = model.pretrained_cfg  # timm's older name
    if features_only:  # a backbone for detection / segmentation heads: feature maps at strides 4-32
        model = FeatureExtractor(model, out_indices=out_indices)
    return model


def create_features(model_name: str, out_indices: Sequence[int] = (0, 1, 2, 3), **kwargs: Any) -> FeatureExtractor:
    """``create_model(model_name, **kwargs)`` wrapped in a FeatureExtractor (weights loaded before wrapping)."""
    return FeatureExtractor(create_model(model_name, **kwargs), out_indices=out_indices)
