"""create_loss: the training loss by MindCV's name ("CE" or "BCE")."""
from typing import Optional

from mindspore import Tensor, nn

from ..choices import LOSSES
from .cross_entropy import BinaryCrossEntropySmooth, CrossEntropySmooth

__all__ = ["create_loss", "LOSSES"]


def create_loss(
    name: str = "CE",
    weight: Optional[Tensor] = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    aux_factor: float = 0.0,
) -> nn.Cell:
    """A loss cell taking ``(logits, labels)``; ``name`` is "CE" (softmax) or "BCE" (sigmoid), any case.

    ``labels`` are int class indices [N] or float targets [N, C] (mixup/cutmix); both are smoothed
    by ``label_smoothing`` here, as MindCV does. ``weight`` is an optional per-class weight [C];
    ``aux_factor`` > 0 adds the losses of auxiliary logits when the network returns a tuple.
    """
    if not isinstance(name, str) or name.upper() not in LOSSES:
        raise ValueError(f"Unknown loss {name!r}; allowed: {', '.join(LOSSES)}")
    if name.upper() == "CE":
        return CrossEntropySmooth(label_smoothing, aux_factor, reduction, weight)
    return BinaryCrossEntropySmooth(label_smoothing, aux_factor, reduction, weight)
