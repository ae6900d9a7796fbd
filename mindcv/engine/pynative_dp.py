"""Data parallelism without graph-mode auto-parallel (``dp_mode: pynative``).

The process runs in PyNative mode; the whole train step (forward, backward, gradient mean, update) is compiled
once by ``mindspore.jit`` at the configured jit level, and the gradients are averaged over the ranks by the
step's ``nn.DistributedGradReducer`` (mean, degree = number of ranks) - an explicit AllReduce in the compiled
step, not one inserted by the auto-parallel context. The auto-parallel context that ``init_distributed`` sets
for the graph path is reset, so nothing depends on it. MindSpore 2.11's notes sunset static-graph distributed
parallel; this path is the one that does not depend on it.
"""
import mindspore as ms
from mindspore import nn

from ..utils.distributed import DistInfo
from ..utils.logger import get_logger

logger = get_logger(__name__)

__all__ = ["use_pynative_data_parallel", "jit_compile_step"]


def use_pynative_data_parallel(dist: DistInfo) -> None:
    """Leave graph-mode auto-parallel: the step's DistributedGradReducer alone averages the gradients."""
    if ms.get_context("mode") != ms.PYNATIVE_MODE:
        raise RuntimeError("dp_mode pynative needs PyNative mode: set_context() sets it from the config")
    if dist.initialized:
        ms.reset_auto_parallel_context()
    logger.info("data parallel over %d rank(s) in PyNative mode: step compiled by mindspore.jit, gradients averaged "
                "by nn.DistributedGradReducer", dist.group_size)


def jit_compile_step(step: nn.Cell, jit_level: str) -> nn.Cell:
    """Compile ``step``'s construct with ``mindspore.jit(jit_level=...)``; the cell keeps its parameters and names."""
    step.construct = ms.jit(step.construct, jit_level=jit_level)
    return step
