"""MixNet and mixed depthwise convolution (MixConv) for MindSpore, MindCV-style.

Importing it changes nothing in the process: no environment variable, no compiler run (see docs/performance.md).
"""

__version__ = "0.2.0"
