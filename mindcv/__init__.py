"""MixNet and mixed depthwise convolution (MixConv) for MindSpore, MindCV-style."""
from ._cpu_tuning import apply_cpu_tuning

apply_cpu_tuning()  # must run before mindspore is imported anywhere below

__version__ = "0.1.0"
