"""Adan (Xie et al. 2022, "Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep Models").

The paper's Algorithm 1 with its authors' released implementation's conventions: moments start at zero with
Adam-style bias correction, and the betas are written as the weights of the old values (the paper's
1 - beta). Update per parameter ``p`` at step ``t`` (1 for the first), ``g`` the gradient divided by the
loss scale and ``d = g - g_prev`` (0 at the first step)::

    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * d
    n = b3 * n + (1 - b3) * (g + b2 * d)^2
    u = ( m / (1 - b1^t) + b2 * v / (1 - b2^t) ) / ( sqrt(n / (1 - b3^t)) + eps )
    p = (p - lr * u) / (1 + lr * wd)          (the paper's proximal weight decay; decayed parameters only)

Defaults b1 = 0.98, b2 = 0.92, b3 = 0.99, eps = 1e-8 (the paper's and MindCV's). State names ``moment1.*``,
``moment2.*``, ``moment3.*`` and ``prev_gradient.*`` are MindCV's. MindCV 0.3.0's Adan differs: it applies
its betas the other way round (m = (1 - b1) * m + b1 * g, so with b1 = 0.98 the momentum keeps 2 % of the
past), has no bias correction, and drops the weight decay of parameter groups.
"""
from typing import List, Union

import mindspore as ms
from mindspore import Parameter, jit, ops

from .base import HandWrittenOptimizer, write_back

__all__ = ["Adan"]

_adan_step = ops.MultitypeFuncGraph("adan_step")


@_adan_step.register("Tuple", "Tensor", "Tensor", "Tensor", "Tensor", "Tensor", "Tensor", "Tensor",
                     "Tensor", "Bool")
def _adan_param_step(hyper, lr, weight_decay, param, m, v, n, prev_grad, grad, decay):
    """Update one parameter, its three moments and the remembered gradient in place."""
    beta1, beta2, beta3, eps, correction1, correction2, correction3, not_first = hyper
    p32 = param.astype(ms.float32)
    g32 = grad.astype(ms.float32)
    diff = (g32 - prev_grad.astype(ms.float32)) * not_first
    next_m = beta1 * m.astype(ms.float32) + (1.0 - beta1) * g32
    next_v = beta2 * v.astype(ms.float32) + (1.0 - beta2) * diff
    next_n = beta3 * n.astype(ms.float32) + (1.0 - beta3) * ops.square(g32 + beta2 * diff)
    update = (next_m / correction1 + beta2 * next_v / correction2) / (ops.sqrt(next_n / correction3) + eps)
    next_p = p32 - lr * update
    if decay:
        next_p = next_p / (1.0 + lr * weight_decay)
    return write_back((param, m, v, n, prev_grad), (next_p, next_m, next_v, next_n, g32))


class Adan(HandWrittenOptimizer):
    """Adaptive Nesterov momentum: Adam-like moments of the gradient and of its change between steps."""

    def __init__(self, params: Union[List[Parameter], List[dict]], learning_rate=1e-3, beta1: float = 0.98,
                 beta2: float = 0.92, beta3: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 loss_scale: float = 1.0) -> None:
        super().__init__("Adan", learning_rate, params, weight_decay, loss_scale, beta1=beta1, beta2=beta2,
                         beta3=beta3, eps=eps)
        self.moment1 = self._parameters.clone(prefix="moment1", init="zeros")
        self.moment2 = self._parameters.clone(prefix="moment2", init="zeros")
        self.moment3 = self._parameters.clone(prefix="moment3", init="zeros")
        self.prev_gradient = self._parameters.clone(prefix="prev_gradient", init="zeros")

    @jit(backend="ms_backend")  # one compiled step in PyNative too, as MindSpore's own optimizers do
    def construct(self, gradients):
        """Apply one Adan step to every parameter."""
        gradients, lr, weight_decay, step = self.begin_step(gradients)
        not_first = ops.cast(step > 1.0, ms.float32)
        hyper = (self.beta1, self.beta2, self.beta3, self.eps, 1.0 - ops.pow(self.beta1, step),
                 1.0 - ops.pow(self.beta2, step), 1.0 - ops.pow(self.beta3, step), not_first)
        return self.map_update(_adan_step, hyper, lr, weight_decay, self._parameters, self.moment1, self.moment2,
                               self.moment3, self.prev_gradient, gradients, self.decay_flags)
