"""create_loss: the training loss by MindCV's name (CE, BCE, asl_single_label, asl_multi_label, jsd)."""
from typing import Optional

from mindspore import Tensor, nn

from ..choices import LOSSES
from .asymmetric import AsymmetricLossMultilabel, AsymmetricLossSingleLabel
from .cross_entropy import BinaryCrossEntropySmooth, CrossEntropySmooth
from .jsd import JSDCrossEntropy

__all__ = ["create_loss", "LOSSES"]

_CANONICAL = {name.lower(): name for name in LOSSES}


def create_loss(
    name: str = "CE",
    weight: Optional[Tensor] = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    aux_factor: float = 0.0,
    num_splits: int = 3,
) -> nn.Cell:
    """A loss cell taking ``(logits, labels)``; ``name`` is one of LOSSES, any case.

    CE (softmax) and BCE (sigmoid): ``labels`` are int class indices [N] or float targets [N, C]
    (mixup/cutmix), both smoothed by ``label_smoothing`` here, as MindCV does; ``weight`` is an optional
    per-class weight [C]; ``aux_factor`` > 0 adds the losses of auxiliary logits when the network returns
    a tuple. asl_single_label: asymmetric loss over the softmax, smoothed, with ``reduction``.
    asl_multi_label: asymmetric loss over per-class sigmoids, summed, no smoothing (MindCV's).
    jsd: cross entropy on the clean split plus 12 x the Jensen-Shannon divergence among ``num_splits``
    augmented splits of the batch (``aug_splits``); smoothing, weight and reduction apply to its cross entropy.
    """
    canonical = _CANONICAL.get(name.lower()) if isinstance(name, str) else None
    if canonical is None:
        raise ValueError(f"Unknown loss {name!r}; allowed: {', '.join(LOSSES)}")
    if canonical == "CE":
        return CrossEntropySmooth(label_smoothing, aux_factor, reduction, weight)
    if canonical == "BCE":
        return BinaryCrossEntropySmooth(label_smoothing, aux_factor, reduction, weight)
    if canonical == "asl_single_label":
        return AsymmetricLossSingleLabel(smoothing=label_smoothing, reduction=reduction)
    if canonical == "asl_multi_label":
        return AsymmetricLossMultilabel()
    return JSDCrossEntropy(num_splits=num_splits, smoothing=label_smoothing, weight=weight, reduction=reduction)
