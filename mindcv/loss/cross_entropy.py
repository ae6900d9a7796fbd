"""Cross-entropy losses with label smoothing, for hard (class index) and soft (mixup/cutmix) targets.

As in MindCV, smoothing is applied here, in the loss, to both kinds of target: a soft target ``t``
becomes ``t * (1 - s) + s / C``. The data pipeline's mixup/cutmix must therefore produce
unsmoothed targets (label smoothing 0 there), otherwise the targets are smoothed twice.
"""
from typing import Optional

import mindspore as ms
from mindspore import Tensor, nn, ops

__all__ = ["CrossEntropySmooth", "BinaryCrossEntropySmooth"]

REDUCTIONS = ("mean", "sum", "none")


def check_loss_args(smoothing: float, aux_factor: float, reduction: str) -> None:
    """Raise a ValueError naming the bad argument of a loss."""
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {smoothing!r}")
    if aux_factor < 0.0:
        raise ValueError(f"aux_factor must be >= 0, got {aux_factor!r}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}; got {reduction!r}")


def float_targets(logits: Tensor, labels: Tensor) -> Tensor:
    """float32 targets shaped like ``logits``: one-hot rows of int labels [N], or float rows [N, C] as given."""
    if labels.ndim == logits.ndim:
        return labels.astype(ms.float32)
    return ops.one_hot(labels.astype(ms.int32), logits.shape[-1]).astype(ms.float32)


class _SmoothedLoss(nn.Cell):
    """What both losses keep: label smoothing, the weight of auxiliary logits, the reduction, class weights."""

    def __init__(self, smoothing: float, aux_factor: float, reduction: str, weight: Optional[Tensor]) -> None:
        super().__init__()
        check_loss_args(smoothing, aux_factor, reduction)
        self.smoothing = float(smoothing)
        self.aux_factor = float(aux_factor)
        self.reduction = reduction
        self.weight = weight


class CrossEntropySmooth(_SmoothedLoss):
    """Softmax cross entropy with label smoothing; ``labels`` are int class indices [N] or probabilities [N, C].

    ``logits`` may be a tuple ``(main, aux1, ...)``: the aux losses are added times ``aux_factor``
    (when it is > 0). Logits are computed on in float32 whatever the network's precision.
    """

    def __init__(self, smoothing: float = 0.0, aux_factor: float = 0.0, reduction: str = "mean",
                 weight: Optional[Tensor] = None) -> None:
        super().__init__(smoothing, aux_factor, reduction, weight)

    def _one(self, logits: Tensor, labels: Tensor) -> Tensor:
        """The loss of one logits tensor."""
        logits = logits.astype(ms.float32)
        if labels.ndim == logits.ndim:
            labels = labels.astype(ms.float32)
        else:
            labels = labels.astype(ms.int32)
        return ops.cross_entropy(logits, labels, weight=self.weight, reduction=self.reduction,
                                 label_smoothing=self.smoothing)

    def construct(self, logits, labels):
        """Loss of ``logits`` (tensor or tuple of tensors) against ``labels``."""
        if isinstance(logits, (tuple, list)):
            loss = self._one(logits[0], labels)
            if self.aux_factor > 0:
                for aux in logits[1:]:
                    loss = loss + self.aux_factor * self._one(aux, labels)
            return loss
        return self._one(logits, labels)


class BinaryCrossEntropySmooth(_SmoothedLoss):
    """Sigmoid (per-class) binary cross entropy with label smoothing; int labels [N] are one-hot encoded.

    Smoothed targets are ``t * (1 - s) + s / C``; ``weight`` and ``pos_weight`` ([C]) rescale the
    per-element losses as in ``ops.binary_cross_entropy_with_logits``.
    """

    def __init__(self, smoothing: float = 0.0, aux_factor: float = 0.0, reduction: str = "mean",
                 weight: Optional[Tensor] = None, pos_weight: Optional[Tensor] = None) -> None:
        super().__init__(smoothing, aux_factor, reduction, weight)
        self.pos_weight = pos_weight

    def _targets(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Float targets shaped like ``logits``, smoothed."""
        targets = float_targets(logits, labels)
        if self.smoothing > 0:
            targets = targets * (1.0 - self.smoothing) + self.smoothing / logits.shape[-1]
        return targets

    def _one(self, logits: Tensor, targets: Tensor) -> Tensor:
        """The loss of one logits tensor."""
        return ops.binary_cross_entropy_with_logits(logits.astype(ms.float32), targets, weight=self.weight,
                                                    pos_weight=self.pos_weight, reduction=self.reduction)

    def construct(self, logits, labels):
        """Loss of ``logits`` (tensor or tuple of tensors) against ``labels``."""
        main = logits[0] if isinstance(logits, (tuple, list)) else logits
        targets = self._targets(main, labels)
        loss = self._one(main, targets)
        if isinstance(logits, (tuple, list)) and self.aux_factor > 0:
            for aux in logits[1:]:
                loss = loss + self.aux_factor * self._one(aux, targets)
        return loss
