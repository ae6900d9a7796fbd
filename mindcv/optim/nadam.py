"""NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam") as MindCV and PyTorch implement it: Adam
with a Nesterov look-ahead on the first moment, a momentum warm-up schedule, and L2 weight decay.

Update per parameter ``p`` at step ``t`` (1 for the first update), ``g`` the gradient divided by the loss
scale, ``psi`` the schedule decay::

    g = g + wd * p                                       (coupled L2 decay, decayed parameters only)
    mu_t = b1 * (1 - 0.5 * 0.96^(t * psi));   mu_{t+1} likewise;   P_t = mu_1 * ... * mu_t
    m = b1 * m + (1 - b1) * g;   v = b2 * v + (1 - b2) * g^2
    p = p - lr * ( mu_{t+1} * m / (1 - P_t * mu_{t+1}) + (1 - mu_t) * g / (1 - P_t) ) / (sqrt(v / (1 - b2^t)) + eps)

Defaults b1 = 0.9, b2 = 0.999, eps = 1e-8, psi = 4e-3 (MindCV's). State names ``nadam_m.*``, ``nadam_v.*``,
``mu_schedule`` (P_t) and ``beta2_power`` are MindCV's. Unlike MindCV 0.3.0, ``t`` counts every update from 1
(MindCV's counter starts at 2 with a learning-rate schedule and never advances with a constant rate) and a
fixed loss scale is divided out of the gradients (MindCV's NAdam leaves it in).
"""
from typing import List, Union

import mindspore as ms
from mindspore import Parameter, Tensor, jit, ops
from mindspore.common.initializer import initializer

from .base import HandWrittenOptimizer, write_back

__all__ = ["NAdam"]

_nadam_step = ops.MultitypeFuncGraph("nadam_step")


@_nadam_step.register("Tuple", "Tensor", "Tensor", "Tensor", "Tensor", "Tensor", "Tensor", "Bool")
def _nadam_param_step(hyper, lr, weight_decay, param, m, v, grad, decay):
    """Update one parameter and its two moments in place."""
    beta1, beta2, eps, mu, mu_next, product, product_next, correction2 = hyper
    p32 = param.astype(ms.float32)
    g32 = grad.astype(ms.float32)
    if decay:
        g32 = g32 + weight_decay * p32
    next_m = beta1 * m.astype(ms.float32) + (1.0 - beta1) * g32
    next_v = beta2 * v.astype(ms.float32) + (1.0 - beta2) * ops.square(g32)
    m_hat = mu_next * next_m / (1.0 - product_next) + (1.0 - mu) * g32 / (1.0 - product)
    next_p = p32 - lr * m_hat / (ops.sqrt(next_v / correction2) + eps)
    return write_back((param, m, v), (next_p, next_m, next_v))


class NAdam(HandWrittenOptimizer):
    """Adam with Nesterov momentum and Dozat's momentum schedule; weight decay is L2 (added to the gradient)."""

    def __init__(self, params: Union[List[Parameter], List[dict]], learning_rate=2e-3, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0, loss_scale: float = 1.0,
                 schedule_decay: float = 4e-3) -> None:
        if schedule_decay < 0:
            raise ValueError(f"NAdam: schedule_decay must be >= 0, got {schedule_decay!r}")
        super().__init__("NAdam", learning_rate, params, weight_decay, loss_scale, beta1=beta1, beta2=beta2, eps=eps,
                         schedule_decay=schedule_decay)
        self.moments1 = self._parameters.clone(prefix="nadam_m", init="zeros")
        self.moments2 = self._parameters.clone(prefix="nadam_v", init="zeros")
        self.mu_schedule = Parameter(initializer(1, [1], ms.float32), name="mu_schedule")
        self.beta2_power = Parameter(initializer(1, [1], ms.float32), name="beta2_power")

    def _mu(self, step: Tensor) -> Tensor:
        """Dozat's momentum at ``step``: b1 * (1 - 0.5 * 0.96^(step * schedule_decay))."""
        return self.beta1 * (1.0 - 0.5 * ops.pow(0.96, step * self.schedule_decay))

    @jit(backend="ms_backend")  # one compiled step in PyNative too, as MindSpore's own optimizers do
    def construct(self, gradients):
        """Apply one NAdam step to every parameter."""
        gradients, lr, weight_decay, step = self.begin_step(gradients)
        mu, mu_next = self._mu(step), self._mu(step + 1.0)
        product = self.mu_schedule * mu
        beta2_power = self.beta2_power * self.beta2
        ops.assign(self.mu_schedule, product)
        ops.assign(self.beta2_power, beta2_power)
        hyper = (self.beta1, self.beta2, self.eps, mu, mu_next, product, product * mu_next, 1.0 - beta2_power)
        return self.map_update(_nadam_step, hyper, lr, weight_decay, self._parameters, self.moments1,
                               self.moments2, gradients, self.decay_flags)
