"""Activations by name: MixNet blocks use ReLU or Swish (x * sigmoid(x))."""
from mindspore import Tensor, nn, ops


class Swish(nn.Cell):
    """Swish / SiLU: x * sigmoid(x)."""

    def construct(self, x: Tensor) -> Tensor:
        return x * ops.sigmoid(x)


_ACTIVATIONS = {"relu": nn.ReLU, "swish": Swish, "silu": Swish}


def create_act(name: str) -> nn.Cell:
    """An activation cell from its name (case-insensitive): relu, swish (= silu)."""
    key = str(name).lower()
    if key not in _ACTIVATIONS:
        raise ValueError(f"activation {name!r} is not known; use one of {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[key]()
