"""JSD cross entropy (Hendrycks et al. 2020, "AugMix"), as MindCV and timm train with ``aug_splits``.

The batch holds ``num_splits`` views of the same B images, one split after another (B x num_splits rows:
the clean view first, then the augmented ones; see ``create_loader(separate=True)``). The loss is the
cross entropy of the clean split against its labels (with label smoothing, class weights and the reduction
of :class:`CrossEntropySmooth`) plus ``alpha`` times the Jensen-Shannon divergence among the splits'
softmax outputs, which pulls the predictions for the views of one image together::

    M = clip(mean_i softmax(x_i), 1e-7, 1)
    loss = CE(x_0, y[:B]) + alpha / num_splits * sum_i KL(softmax(x_i) || M)      (KL: sum over classes, mean over B)

Defaults are MindCV's: num_splits 3, alpha 12, smoothing 0.1. Unlike MindCV's, this loss always expects a
split batch (MindCV falls back to plain cross entropy when the cell is not in training mode).
"""
from typing import Optional

import mindspore as ms
from mindspore import Tensor, nn, ops

from .cross_entropy import CrossEntropySmooth

__all__ = ["JSDCrossEntropy"]


class JSDCrossEntropy(nn.Cell):
    """Cross entropy on the clean split plus alpha x the Jensen-Shannon divergence among the splits."""

    def __init__(self, num_splits: int = 3, alpha: float = 12.0, smoothing: float = 0.1,
                 weight: Optional[Tensor] = None, reduction: str = "mean") -> None:
        super().__init__()
        if isinstance(num_splits, bool) or not isinstance(num_splits, int) or num_splits < 2:
            raise ValueError(f"JSDCrossEntropy: num_splits (aug_splits) must be an int >= 2, got {num_splits!r}")
        if alpha < 0:
            raise ValueError(f"JSDCrossEntropy: alpha must be >= 0, got {alpha!r}")
        self.num_splits = num_splits
        self.alpha = float(alpha)
        self.cross_entropy = CrossEntropySmooth(smoothing, 0.0, reduction, weight)

    def construct(self, logits, labels):
        """Loss of ``logits`` [B * num_splits, C] against the labels of the same rows (only the first B used)."""
        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        logits = logits.astype(ms.float32)
        rows = logits.shape[0]
        if rows % self.num_splits != 0:
            raise ValueError(f"JSDCrossEntropy: a batch of {rows} rows does not split into {self.num_splits} views")
        size = rows // self.num_splits
        loss = self.cross_entropy(logits[:size], labels[:size])
        log_probs = ()
        mixture = ops.zeros_like(logits[:size])
        for i in range(self.num_splits):
            log_p = ops.log_softmax(logits[i * size:(i + 1) * size], -1)
            log_probs = log_probs + (log_p,)
            mixture = mixture + ops.exp(log_p)
        log_mixture = ops.log(ops.clamp(mixture / self.num_splits, 1e-7, 1.0))
        divergence = 0.0
        for log_p in log_probs:
            divergence = divergence + (ops.exp(log_p) * (log_p - log_mixture)).sum() / size
        return loss + self.alpha * divergence / self.num_splits
