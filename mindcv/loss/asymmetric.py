"""Asymmetric loss (Ridnik et al. 2021, "Asymmetric Loss For Multi-Label Classification"), in MindCV's two forms.

Both focus the loss on hard examples with separate exponents for the positive and the negative classes
(``gamma_pos``, ``gamma_neg``): a class the network already gets right weighs little. Targets ``t`` are
one-hot rows of int labels, or float rows [N, C] given as they are (mixup/cutmix targets, multi-label
vectors).

Single label (softmax), per sample, with ``p = softmax(x)`` and ``t_s = t * (1 - s) + s / C``::

    w = (1 - p * t - (1 - p) * (1 - t)) ^ (gamma_pos * t + gamma_neg * (1 - t))
    loss = -sum_c t_s * w * log(p)            (mean over the batch by default)

so the target class is weighted (1 - p)^gamma_pos and every other class p^gamma_neg.

Multi label (sigmoid), with ``q = sigmoid(x)`` and the negatives' probability shifted by ``clip``
(``q_neg = min(1 - q + clip, 1)``, which zeroes easy negatives)::

    pt = q * t + q_neg * (1 - t)
    loss = -sum_{n,c} (1 - pt)^(gamma_pos * t + gamma_neg * (1 - t)) * (t log max(q, eps) + (1 - t) log max(q_neg, eps))

a sum over the batch and the classes (as MindCV and timm), with no label smoothing (MindCV passes none).
Defaults are MindCV's: gamma_pos 1, gamma_neg 4, clip 0.05, eps 1e-8.
"""
import mindspore as ms
from mindspore import nn, ops

from .cross_entropy import REDUCTIONS, float_targets

__all__ = ["AsymmetricLossSingleLabel", "AsymmetricLossMultilabel"]


def _check_gammas(name: str, gamma_pos: float, gamma_neg: float) -> None:
    """Raise a ValueError naming a negative exponent."""
    if gamma_pos < 0 or gamma_neg < 0:
        raise ValueError(f"{name}: gamma_pos and gamma_neg must be >= 0, got {gamma_pos!r} and {gamma_neg!r}")


def _main(logits):
    """The main logits of a network that may return (main, aux, ...)."""
    if isinstance(logits, (tuple, list)):
        return logits[0]
    return logits


class AsymmetricLossSingleLabel(nn.Cell):
    """ASL for single-label classification (softmax), with label smoothing; see the module docstring."""

    def __init__(self, gamma_pos: float = 1.0, gamma_neg: float = 4.0, smoothing: float = 0.1,
                 reduction: str = "mean") -> None:
        super().__init__()
        _check_gammas("AsymmetricLossSingleLabel", gamma_pos, gamma_neg)
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {smoothing!r}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}; got {reduction!r}")
        self.gamma_pos = float(gamma_pos)
        self.gamma_neg = float(gamma_neg)
        self.smoothing = float(smoothing)
        self.reduction = reduction

    def construct(self, logits, labels):
        """Loss of ``logits`` [N, C] against int labels [N] or float targets [N, C]."""
        logits = _main(logits).astype(ms.float32)
        targets = float_targets(logits, labels)
        log_p = ops.log_softmax(logits, -1)
        p = ops.exp(log_p)
        exponent = ops.stop_gradient(self.gamma_pos * targets + self.gamma_neg * (1.0 - targets))
        weight = ops.pow(1.0 - p * targets - (1.0 - p) * (1.0 - targets), exponent)
        smoothed = targets * (1.0 - self.smoothing) + self.smoothing / logits.shape[-1]
        loss = -(smoothed * weight * log_p).sum(-1)
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss


class AsymmetricLossMultilabel(nn.Cell):
    """ASL for multi-label classification (per-class sigmoid); see the module docstring."""

    def __init__(self, gamma_neg: float = 4.0, gamma_pos: float = 1.0, clip: float = 0.05, eps: float = 1e-8) -> None:
        super().__init__()
        _check_gammas("AsymmetricLossMultilabel", gamma_pos, gamma_neg)
        if not 0.0 <= clip < 1.0 or eps <= 0:
            raise ValueError(f"AsymmetricLossMultilabel: clip must be in [0, 1) and eps > 0, got {clip!r} and {eps!r}")
        self.gamma_pos = float(gamma_pos)
        self.gamma_neg = float(gamma_neg)
        self.clip = float(clip)
        self.eps = float(eps)

    def construct(self, logits, labels):
        """Summed loss of ``logits`` [N, C] against binary (or soft) targets [N, C] or int labels [N]."""
        logits = _main(logits).astype(ms.float32)
        targets = float_targets(logits, labels)
        q = ops.sigmoid(logits)
        q_neg = 1.0 - q
        if self.clip > 0:
            q_neg = ops.clamp(q_neg + self.clip, max=1.0)
        log_likelihood = targets * ops.log(ops.clamp(q, min=self.eps)) + \
            (1.0 - targets) * ops.log(ops.clamp(q_neg, min=self.eps))
        exponent = ops.stop_gradient(self.gamma_pos * targets + self.gamma_neg * (1.0 - targets))
        weight = ops.pow(1.0 - q * targets - q_neg * (1.0 - targets), exponent)
        return -(log_likelihood * weight).sum()
