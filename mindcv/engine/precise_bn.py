"""Precise BatchNorm: the moving statistics recomputed from the current weights before a validation.

During training a BatchNorm layer's moving mean and variance are an exponential average (batch weight 0.1 in
MindSpore's convention) over the last few dozen steps, and they start at 0 and 1. Early in a run, or on a small
dataset with few steps per epoch, the network changes faster than that average follows, and a validation with
the moving statistics sees activations of the wrong scale: the digits demo predicted one class for every image
after its first two epochs (9.9 % top-1) while its training top-1 was already far above chance.

``recompute_batchnorm`` runs a few training batches forward in training mode, reads each layer's batch
statistics back from its moving averages (it zeroes them before each batch: after the update they hold the
batch's weight times the batch statistics) and sets the moving statistics to the mean over the batches, as
Wu & Johnson ("Rethinking 'Batch' in BatchNorm", 2021) and fvcore's ``update_bn_stats`` do. It works for every
BatchNorm implementation here (MindSpore's and the native one), in graph and PyNative mode; ranks average their
statistics, so they keep identical weights.
"""
import time
from typing import Iterable, List, Tuple

import numpy as np

from mindspore import Parameter, Tensor, nn, ops

from ..utils.distributed import DistInfo
from ..utils.logger import get_logger

logger = get_logger(__name__)

__all__ = ["batchnorm_layers", "recompute_batchnorm", "precise_bn_batches"]

AUTO_MAX_STEPS = 1000  # precise_bn None (auto): on when an epoch has at most this many steps
AUTO_BATCHES = 10  # ... with this many batches (at most one epoch's): ~600 images of the digits demo


def precise_bn_batches(option, steps_per_epoch: int) -> int:
    """Batches used by precise BN for the option's value (None: auto, by the length of an epoch)."""
    if option is None:
        return min(AUTO_BATCHES, steps_per_epoch) if steps_per_epoch <= AUTO_MAX_STEPS else 0
    return min(int(option), steps_per_epoch)


def batchnorm_layers(network: nn.Cell) -> List[Tuple[Parameter, Parameter, float]]:
    """(moving mean, moving variance, weight of a batch in the moving average) of every BatchNorm layer."""
    layers = []
    for _, cell in network.cells_and_names():
        if isinstance(cell, nn.layer.normalization._BatchNorm) and cell.use_batch_statistics is not False:
            layers.append((cell.moving_mean, cell.moving_variance, float(cell.momentum)))
    return layers


def _zero(parameters: Iterable[Parameter]) -> None:
    for p in parameters:
        p.set_data(Tensor(np.zeros(p.shape, np.float32)).astype(p.dtype))


def recompute_batchnorm(network: nn.Cell, batches: Iterable, num_batches: int,
                        dist: DistInfo = DistInfo()) -> int:
    """Set every BatchNorm layer's moving statistics to their mean over ``num_batches`` of ``(image, label)``
    batches run forward in training mode; returns how many batches were used (0: nothing changed).

    The network is left in training mode; its weights are untouched."""
    layers = batchnorm_layers(network)
    if not layers or num_batches <= 0:
        return 0
    start = time.time()
    sums = [np.zeros(m.shape, np.float64) for mean, var, _ in layers for m in (mean, var)]
    network.set_train(True)
    used = 0
    for image, _ in batches:
        _zero(p for mean, var, _ in layers for p in (mean, var))
        network(image)
        values = [p.asnumpy().astype(np.float64) / weight for mean, var, weight in layers for p in (mean, var)]
        for total, value in zip(sums, values):
            total += value
        used += 1
        if used == num_batches:
            break
    if used == 0:
        return 0
    flat = np.concatenate([s.ravel() for s in sums])
    ranks = dist.group_size if dist.initialized else 1
    if ranks > 1:  # statistics, not counts: a float32 sum is what is wanted
        flat = ops.AllReduce()(Tensor(flat.astype(np.float32))).asnumpy().astype(np.float64)
    count = used * ranks
    offset = 0
    for p in (p for mean, var, _ in layers for p in (mean, var)):
        size = int(np.prod(p.shape))
        p.set_data(Tensor((flat[offset:offset + size] / count).reshape(p.shape).astype(np.float32)).astype(p.dtype))
        offset += size
    logger.info("precise BN: moving statistics of %d BatchNorm layers recomputed over %d training batches%s "
                "(%.1f s)", len(layers), used, f" per rank x {ranks} ranks" if ranks > 1 else "",
                time.time() - start)
    return used
