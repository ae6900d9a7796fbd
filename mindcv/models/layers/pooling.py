"""Global average pooling over the spatial axes of an NCHW tensor."""
from mindspore import Tensor, nn, ops


class GlobalAvgPooling(nn.Cell):
    """Mean over H and W; ``keep_dims`` keeps an N x C x 1 x 1 shape."""

    def __init__(self, keep_dims: bool = False) -> None:
        super().__init__()
        self.keep_dims = keep_dims

    def construct(self, x: Tensor) -> Tensor:
        return ops.mean(x, axis=(2, 3), keep_dims=self.keep_dims)
