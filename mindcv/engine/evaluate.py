"""Top-1 / top-5 accuracy and mean loss of a network over a loader, summed exactly over ranks."""
import time
from typing import Dict, Iterable, Optional

import numpy as np

import mindspore as ms
from mindspore import Tensor, nn, ops

from ..utils.distributed import DistInfo, all_reduce_sum


class EvalStep(nn.Cell):
    """Per batch: summed cross-entropy, number of top-1 and top-k hits, and the number of real samples.

    ``mask`` marks real samples (1) and padding (0): a short last batch is padded to the full batch
    size so graph mode compiles one graph, not a second one for the remainder.
    """

    def __init__(self, network: nn.Cell, num_classes: int, topk: int = 5) -> None:
        super().__init__(auto_prefix=False)
        self.network = network
        self.k = min(topk, num_classes)

    def construct(self, x: Tensor, label: Tensor, mask: Tensor):
        logits = ops.cast(self.network(x), ms.float32)
        label = ops.cast(label, ms.int32)
        loss = (ops.cross_entropy(logits, label, reduction="none") * mask).sum()
        _, top = ops.topk(logits, self.k)
        hits = ops.cast(ops.equal(top, ops.expand_dims(label, 1)), ms.float32) * ops.expand_dims(mask, 1)
        return loss, hits[:, 0].sum(), hits.sum(), mask.sum(), top


def _padded(image, label, batch_size: int):
    """The batch padded to ``batch_size`` by repeating its last sample, and the mask of real samples."""
    image, label = np.asarray(image.asnumpy()), np.asarray(label.asnumpy())
    n = image.shape[0]
    mask = np.zeros(batch_size, np.float32)
    mask[:n] = 1.0
    if n < batch_size:
        image = np.concatenate([image, np.repeat(image[-1:], batch_size - n, axis=0)])
        label = np.concatenate([label, np.repeat(label[-1:], batch_size - n, axis=0)])
    return Tensor(image), Tensor(label), Tensor(mask)


def evaluate(step: EvalStep, batches: Iterable, dist: Optional[DistInfo] = None,
             keep_predictions: bool = False) -> Dict[str, float]:
    """Run ``step`` over ``(image, label)`` batches; returns top1 / top5 in percent, mean loss, count and images/s.

    Under data parallelism every rank evaluates its own disjoint shard and the sums are added over
    ranks, so every image counts exactly once when the shards partition the data. With
    ``keep_predictions`` the result also holds this rank's ``labels`` [n] and ``topk`` [n, k] in batch order.
    """
    labels, topk = [], []
    step.set_train(False)
    sums = np.zeros(4, np.float64)
    start, first_batch_time, first_count = time.time(), None, 0.0
    batch_size = None
    for image, label in batches:
        batch_size = batch_size or image.shape[0]
        out = step(*_padded(image, label, batch_size))
        sums += np.array([float(v.asnumpy()) for v in out[:4]])
        if keep_predictions:
            real = image.shape[0]
            labels.append(np.asarray(label.asnumpy()).reshape(-1)[:real].astype(np.int64))
            topk.append(out[4].asnumpy()[:real].astype(np.int64))
        if first_batch_time is None:  # the first batch includes graph compilation: leave it out of images/s
            first_batch_time, first_count = time.time(), sums[3]
    elapsed_after_first = time.time() - (first_batch_time or start)
    loss, top1, top5, count = all_reduce_sum(sums, dist or DistInfo())
    if count == 0:
        raise ValueError("evaluation saw no images: the validation split (or this rank's shard) is empty")
    kept = {"labels": np.concatenate(labels) if labels else np.zeros(0, np.int64),
            "topk": np.concatenate(topk) if topk else np.zeros((0, step.k), np.int64)} if keep_predictions else {}
    return {
        **kept,
        "top1": 100.0 * top1 / count,
        "top5": 100.0 * top5 / count,
        "loss": loss / count,
        "num_samples": int(count),
        "images_per_sec": float((sums[3] - first_count) / elapsed_after_first) if sums[3] > first_count else float("nan"),
        "seconds": time.time() - start,
    }
