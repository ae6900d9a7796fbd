"""Global average pooling over the spatial axes of an NCHW tensor."""
import mindspore as ms
from mindspore import Tensor, nn, ops

POOL_IMPLS = ("auto", "mean", "matmul")


class GlobalAvgPooling(nn.Cell):
    """Mean over H and W; ``keep_dims`` keeps an N x C x 1 x 1 shape.

    ``impl``: ``mean`` (ReduceMean over H, W) or ``matmul`` (each sample's (C, H*W) view times a constant
    1/(H*W) column: one batched GEMM). ``auto`` is ``matmul`` on CPU, where MindSpore 2.10's ReduceMean over
    two axes took 16 % of MixNet-S's inference step (5-18 ms per squeeze-excite at 224 px, batch 16,
    against < 1 ms as a GEMM), and ``mean`` elsewhere. Both give the mean up to float rounding.
    """

    def __init__(self, keep_dims: bool = False, impl: str = "auto") -> None:
        super().__init__()
        if impl not in POOL_IMPLS:
            raise ValueError(f"impl={impl!r} is not known; use one of {POOL_IMPLS}")
        if impl == "auto":
            impl = "matmul" if str(ms.get_context("device_target")).upper() == "CPU" else "mean"
        self.keep_dims = keep_dims
        self.impl = impl

    def construct(self, x: Tensor) -> Tensor:
        if self.impl == "mean":
            return ops.mean(x, axis=(2, 3), keep_dims=self.keep_dims)
        n, c, h, w = x.shape
        # one (C, H*W) x (H*W, 1) product per sample: each sample's mean then does not depend on the batch
        # size (one (N*C, H*W) GEMM is blocked by N*C, which changed results by ~1e-5 between batch sizes)
        column = ops.broadcast_to(ops.ones((1, h * w, 1), x.dtype) / (h * w), (n, h * w, 1))
        out = ops.bmm(x.reshape(n, c, h * w), column)
        return out.reshape(n, c, 1, 1) if self.keep_dims else out.reshape(n, c)
