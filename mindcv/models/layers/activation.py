"""Activations by name: MixNet blocks use ReLU or Swish (x * sigmoid(x))."""
from mindspore import Tensor, nn, ops


class Swish(nn.Cell):
    """Swish / SiLU: x * sigmoid(x).

    The backward is written out (d/dx = s + y * (1 - s), s = sigmoid(x), y the output) so that training
    keeps only x and y, which the next layer keeps anyway, instead of also storing sigmoid(x) for every
    activation: 7 % less peak memory for MixNet-S training (``benchmarks/throughput.py``).
    """

    def construct(self, x: Tensor) -> Tensor:
        return x * ops.sigmoid(x)

    def bprop(self, x: Tensor, out: Tensor, dout: Tensor) -> tuple:
        s = ops.sigmoid(x)
        return (dout * (s + out * (1 - s)),)


_ACTIVATIONS = {"relu": nn.ReLU, "swish": Swish, "silu": Swish}


def create_act(name: str) -> nn.Cell:
    """An activation cell from its name (case-insensitive): relu, swish (= silu)."""
    key = str(name).lower()
    if key not in _ACTIVATIONS:
        raise ValueError(f"activation {name!r} is not known; use one of {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[key]()
