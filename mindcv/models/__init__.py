"""Models: MixNet-S/M/L built on the MixConv layer, a registry and ``create_model``."""
from . import features, layers, mixnet, mobilenet
from .features import FeatureExtractor
from .mixnet import MixNet, mixnet_l, mixnet_m, mixnet_s
from .model_factory import create_features, create_model
from .registry import (get_pretrained_cfg, get_pretrained_cfg_value, has_pretrained_cfg_key, is_model,
                       is_model_in_modules, is_model_pretrained, list_models, list_modules, model_entrypoint,
                       register_model)

__all__ = [
    "FeatureExtractor", "MixNet", "create_features", "create_model", "features", "mobilenet", "get_pretrained_cfg",
    "get_pretrained_cfg_value", "has_pretrained_cfg_key", "is_model", "is_model_in_modules", "is_model_pretrained",
    "layers", "list_models", "list_modules", "mixnet", "mixnet_l", "mixnet_m", "mixnet_s", "model_entrypoint",
    "register_model",
]
