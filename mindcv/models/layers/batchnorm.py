"""BatchNorm2d running as native operators on CPU (training and inference).

MindSpore 2.10 runs BatchNorm on CPU through oneDNN's plain-layout ``ncsp_bnorm`` kernels: about a
quarter of MixNet-S's time on an AVX-512 machine, forward and backward. Here (``csrc/batchnorm_native.cc``):

- inference: one pass, ``x * scale + shift`` with ``scale = gamma / sqrt(moving_variance + eps)`` and
  ``shift = beta - moving_mean * scale`` computed per channel inside the operator;
- training: per channel, the batch statistics and the normalised output in one operator (returning the
  batch mean and biased variance), the moving averages updated in the graph exactly as MindSpore's
  BatchNorm does (``moving = momentum * moving + (1 - momentum) * batch``, the variance unbiased), and a
  backward operator giving dx, d gamma and d beta.

Other devices, other dtypes (e.g. float16 under mixed precision) and ``use_batch_statistics`` set
explicitly run ``nn.BatchNorm2d`` unchanged; so does everything when the native library is unavailable.
"""
import functools

import numpy as np

from mindspore import Tensor, nn, ops
from mindspore import dtype as mstype

from . import native


@functools.lru_cache(maxsize=None)
def batchnorm_ops() -> tuple:
    """(inference, training forward, training backward) native operators."""

    def infer_bprop(x, gamma, beta, mean, var, eps, out, dout):
        inv = ops.rsqrt(var + eps)
        xhat = (x - mean.reshape(1, -1, 1, 1)) * inv.reshape(1, -1, 1, 1)
        zeros = ops.zeros_like(mean)
        return (dout * (gamma * inv).reshape(1, -1, 1, 1), (dout * xhat).sum(axis=(0, 2, 3)),
                dout.sum(axis=(0, 2, 3)), zeros, zeros, ops.zeros_like(eps))

    backward = native.op("bn_train_bwd", lambda x, dy, gamma, stats, eps: [tuple(x), tuple(stats)], outputs=2)

    def train_bprop(x, gamma, beta, eps, out, dout):
        dx, grads = backward(x, dout[0], gamma, out[1], eps)
        return dx, grads[0], grads[1], ops.zeros_like(eps)

    infer = native.op("bn_infer", lambda x, gamma, beta, mean, var, eps: tuple(x), infer_bprop)
    forward = native.op("bn_train_fwd", lambda x, gamma, beta, eps: [tuple(x), (2, x[1])], train_bprop, outputs=2)
    return infer, forward, backward


class BatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` (same arguments, parameters and semantics) running native operators on CPU for
    float32 NCHW input; ``self.native`` says whether they are used. ``fast=False`` keeps MindSpore's own
    BatchNorm (e.g. for MindCV's exact graph)."""

    def __init__(self, *args, fast: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.native = fast and native.use_native() and self.use_batch_statistics is None and self.format == "NCHW"
        if self.native:
            self.infer_op, self.train_op, _ = batchnorm_ops()
            self.eps_tensor = Tensor(np.array([self.eps], np.float32))
            self.decay = 1.0 - float(self.momentum)  # nn.BatchNorm2d keeps 1 - momentum (the batch weight)

    def construct(self, x: Tensor) -> Tensor:
        if not self.native or x.dtype != mstype.float32 or x.ndim != 4:
            return super().construct(x)
        if not self.training:
            return self.infer_op(x, self.gamma, self.beta, self.moving_mean, self.moving_variance, self.eps_tensor)
        y, stats = self.train_op(x, self.gamma, self.beta, self.eps_tensor)
        mean, var = ops.stop_gradient(stats[0]), ops.stop_gradient(stats[1])
        count = x.shape[0] * x.shape[2] * x.shape[3]
        unbiased = var * (count / max(count - 1, 1))
        ops.assign(self.moving_mean, self.moving_mean * self.decay + mean * (1.0 - self.decay))
        ops.assign(self.moving_variance, self.moving_variance * self.decay + unbiased * (1.0 - self.decay))
        return y
