"""Layers shared by the models: MixConv, squeeze-excite, activations, pooling, drop path."""
from .activation import Swish, create_act
from .drop_path import DropPath
from .mixconv import GroupedConv2d, MixConv2d, default_kernel_sizes, split_channels
from .pooling import GlobalAvgPooling
from .squeeze_excite import SqueezeExcite

__all__ = [
    "DropPath", "GlobalAvgPooling", "GroupedConv2d", "MixConv2d", "SqueezeExcite", "Swish",
    "create_act", "default_kernel_sizes", "split_channels",
]
