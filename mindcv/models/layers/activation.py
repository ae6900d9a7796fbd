"""Activations by name: MixNet blocks use ReLU or Swish (x * sigmoid(x))."""
import functools

from mindspore import Tensor, nn, ops
from mindspore import dtype as mstype

from . import native


@functools.lru_cache(maxsize=None)
def swish_ops() -> tuple:
    """(forward, backward) native Swish operators: one pass each over float32 memory."""
    return native.op("swish_fwd", lambda x: tuple(x)), native.op("swish_bwd", lambda x, dy: tuple(x))


class Swish(nn.Cell):
    """Swish / SiLU: x * sigmoid(x).

    The backward is written out (d/dx = s + y * (1 - s), s = sigmoid(x), y the output) so that training
    keeps only x and y, which the next layer keeps anyway, instead of also storing sigmoid(x) for every
    activation (less peak memory in training). On CPU, float32 forward and backward each run as one native
    pass (``csrc/elementwise_native.cc``) instead of MindSpore's Sigmoid and Mul kernels (two passes
    forward, four backward); ``self.native`` says whether it is used (``fast=False``: never).
    """

    def __init__(self, fast: bool = True) -> None:
        super().__init__()
        self.native = fast and native.use_native()
        self.forward_op, self.backward_op = swish_ops() if self.native else (None, None)

    def construct(self, x: Tensor) -> Tensor:
        if self.native and x.dtype == mstype.float32:
            return self.forward_op(x)
        return x * ops.sigmoid(x)

    def bprop(self, x: Tensor, out: Tensor, dout: Tensor) -> tuple:
        if self.native and x.dtype == mstype.float32:
            return (self.backward_op(x, dout),)
        s = ops.sigmoid(x)
        return (dout * (s + out * (1 - s)),)


_ACTIVATIONS = {"relu": nn.ReLU, "swish": Swish, "silu": Swish}


def create_act(name: str, fast: bool = True) -> nn.Cell:
    """An activation cell from its name (case-insensitive): relu, swish (= silu); ``fast=False`` keeps
    MindSpore's own operators (no native Swish)."""
    key = str(name).lower()
    if key not in _ACTIVATIONS:
        raise ValueError(f"activation {name!r} is not known; use one of {sorted(_ACTIVATIONS)}")
    return Swish(fast) if _ACTIVATIONS[key] is Swish else _ACTIVATIONS[key]()
