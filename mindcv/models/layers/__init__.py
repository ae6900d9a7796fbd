"""Layers shared by the models: MixConv, CPU-fast convolutions, squeeze-excite, activations, pooling, drop path."""
from .activation import Swish, create_act
from .conv2d import Conv2d, ConvKernel
from .drop_path import DropPath
from .mixconv import GroupedConv2d, MixConv2d, default_kernel_sizes, split_channels
from .native import build_native
from .pooling import GlobalAvgPooling
from .squeeze_excite import SqueezeExcite

__all__ = [
    "Conv2d", "ConvKernel", "DropPath", "GlobalAvgPooling", "GroupedConv2d", "MixConv2d", "SqueezeExcite", "Swish",
    "build_native", "create_act", "default_kernel_sizes", "split_channels",
]
