"""AdamW as MindCV trains with it: bias-corrected Adam plus decoupled weight decay, loss-scale aware.

MindSpore's own ``nn.AdamWeightDecay`` skips Adam's bias correction, so it is not the same optimizer.
Update per parameter ``p`` with gradient ``g`` (already divided by the loss scale), at step ``t``::

    m = b1 * m + (1 - b1) * g;    v = b2 * v + (1 - b2) * g * g
    p = p - lr * ( (m / (1 - b1^t)) / (eps + sqrt(v / (1 - b2^t))) + wd * p )

State names (``adam_m.*``, ``adam_v.*``, ``beta1_power``, ``beta2_power``) are MindCV's, so optimizer
checkpoints carry over.
"""
from typing import List, Union

import mindspore as ms
from mindspore import Parameter, jit, ops
from mindspore.common.initializer import initializer

from .base import HandWrittenOptimizer, write_back

__all__ = ["AdamW"]

_adamw_step = ops.MultitypeFuncGraph("adamw_step")


@_adamw_step.register("Tuple", "Tensor", "Tensor", "Tensor", "Tensor", "Tensor", "Tensor", "Bool")
def _adamw_param_step(hyper, lr, weight_decay, param, m, v, grad, decay):
    """Update one parameter and its two moments in place."""
    beta1, beta2, eps, correction1, correction2 = hyper
    p32 = param.astype(ms.float32)
    g32 = grad.astype(ms.float32)
    next_m = beta1 * m.astype(ms.float32) + (1.0 - beta1) * g32
    next_v = beta2 * v.astype(ms.float32) + (1.0 - beta2) * ops.square(g32)
    update = (next_m / correction1) / (eps + ops.sqrt(next_v / correction2))
    if decay:
        update = update + weight_decay * p32
    next_p = p32 - lr * update
    return write_back((param, m, v), (next_p, next_m, next_v))


class AdamW(HandWrittenOptimizer):
    """Adam with bias correction and decoupled weight decay (Loshchilov & Hutter), MindCV's variant."""

    def __init__(self, params: Union[List[Parameter], List[dict]], learning_rate=1e-3, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
                 loss_scale: float = 1.0) -> None:
        super().__init__("AdamW", learning_rate, params, weight_decay, loss_scale, beta1=beta1, beta2=beta2, eps=eps)
        self.moments1 = self._parameters.clone(prefix="adam_m", init="zeros")
        self.moments2 = self._parameters.clone(prefix="adam_v", init="zeros")
        self.beta1_power = Parameter(initializer(1, [1], ms.float32), name="beta1_power")
        self.beta2_power = Parameter(initializer(1, [1], ms.float32), name="beta2_power")

    @jit(backend="ms_backend")  # one compiled step in PyNative too, as MindSpore's own optimizers do
    def construct(self, gradients):
        """Apply one AdamW step to every parameter."""
        gradients, lr, weight_decay, step = self.begin_step(gradients)
        beta1_power = self.beta1_power * self.beta1
        beta2_power = self.beta2_power * self.beta2
        ops.assign(self.beta1_power, beta1_power)
        ops.assign(self.beta2_power, beta2_power)
        hyper = (self.beta1, self.beta2, self.eps, 1.0 - beta1_power, 1.0 - beta2_power)
        done = self.map_update(_adamw_step, hyper, lr, weight_decay, self._parameters, self.moments1, self.moments2,
                               gradients, self.decay_flags)
        return ops.depend(done, step)  # the step counter's update, used (an unused one is reported at compile)
