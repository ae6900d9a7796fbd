"""BatchNorm2d running as native operators on CPU (training and inference).

MindSpore 2.10 runs BatchNorm on CPU through oneDNN's plain-layout ``ncsp_bnorm`` kernels: about a
quarter of MixNet-S's time on an AVX-512 machine, forward and backward. Here (``csrc/batchnorm_native.cc``):

- inference: one pass, ``x * scale + shift`` with ``scale = gamma / sqrt(moving_variance + eps)`` and
  ``shift = beta - moving_mean * scale`` computed per channel inside the operator;
- training: per channel, the batch statistics, the normalised output and the new moving averages (as
  MindSpore's BatchNorm: ``moving = momentum * moving + (1 - momentum) * batch``, the variance unbiased)
  in one operator, the averages assigned in the graph, and a backward operator giving dx, d gamma and
  d beta. Each per-channel result is an output of its own (no slicing nodes): graph size costs compile
  time, and in MindSpore 2.10 a few hundred KB of memory per node for the whole run.

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

    backward = native.op("bn_train_bwd", lambda x, dy, gamma, stats, cfg: [tuple(x), tuple(gamma), tuple(gamma)],
                         outputs=3)

    def train_bprop(x, gamma, beta, mean, var, cfg, out, dout):
        dx, d_gamma, d_beta = backward(x, dout[0], gamma, out[1], cfg)
        zeros = ops.zeros_like(mean)
        return dx, d_gamma, d_beta, zeros, zeros, ops.zeros_like(cfg)

    infer = native.op("bn_infer", lambda x, gamma, beta, mean, var, eps: tuple(x), infer_bprop)

    def train_shapes(x, gamma, beta, mean, var, cfg):  # y, batch statistics, new moving mean and variance
        return [tuple(x), (2, x[1]), (x[1],), (x[1],)]

    forward = native.op("bn_train_fwd", train_shapes, train_bprop, outputs=4)
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
            # [eps, weight of the running value] (nn.BatchNorm2d keeps 1 - momentum, the batch's weight)
            self.train_config = Tensor(np.array([self.eps, 1.0 - self.momentum], np.float32))

    def construct(self, x: Tensor) -> Tensor:
        if not self.native or x.dtype != mstype.float32 or x.ndim != 4:
            return super().construct(x)
        if not self.training:
            return self.infer_op(x, self.gamma, self.beta, self.moving_mean, self.moving_variance, self.eps_tensor)
        out = self.train_op(x, self.gamma, self.beta, self.moving_mean, self.moving_variance, self.train_config)
        # the moving averages' updates are dependencies of the output: a bare assign's result is unused, and
        # MindSpore then reports each one as "side effect nodes eliminated by mistake" at every compile
        y = ops.depend(out[0], ops.assign(self.moving_mean, out[2]))
        return ops.depend(y, ops.assign(self.moving_variance, out[3]))
