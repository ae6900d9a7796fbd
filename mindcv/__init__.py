"""MixNet and mixed depthwise convolution (MixConv) for MindSpore, MindCV-style."""
from ._cpu_tuning import apply_cpu_tuning  # noqa: F401  (reports only; importing mindcv changes no environment)

__version__ = "0.1.0"
