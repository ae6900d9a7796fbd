"""Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"), with decoupled weight decay.

Update per parameter ``p`` with gradient ``g`` (already divided by the loss scale)::

    c = b1 * m + (1 - b1) * g
    p = p - lr * (sign(c) + wd * p)
    m = b2 * m + (1 - b2) * g

Defaults b1 = 0.9, b2 = 0.99 (the paper's and MindCV's). Lion's steps all have size lr per coordinate, so
it wants a learning rate 3-10x smaller and a weight decay 3-10x larger than AdamW. The state is named
``lion_m.*`` as in MindCV.
"""
from typing import List, Union

import mindspore as ms
from mindspore import Parameter, jit, ops

from .base import HandWrittenOptimizer, write_back

__all__ = ["Lion"]

_lion_step = ops.MultitypeFuncGraph("lion_step")


@_lion_step.register("Tuple", "Tensor", "Tensor", "Tensor", "Tensor", "Tensor", "Bool")
def _lion_param_step(hyper, lr, weight_decay, param, m, grad, decay):
    """Update one parameter and its momentum in place."""
    beta1, beta2 = hyper
    p32 = param.astype(ms.float32)
    g32 = grad.astype(ms.float32)
    m32 = m.astype(ms.float32)
    update = ops.sign(beta1 * m32 + (1.0 - beta1) * g32)
    if decay:
        update = update + weight_decay * p32
    next_m = beta2 * m32 + (1.0 - beta2) * g32
    return write_back((param, m), (p32 - lr * update, next_m))


class Lion(HandWrittenOptimizer):
    """Lion: the sign of an interpolated momentum, with decoupled weight decay."""

    def __init__(self, params: Union[List[Parameter], List[dict]], learning_rate=2e-4, beta1: float = 0.9,
                 beta2: float = 0.99, weight_decay: float = 0.0, loss_scale: float = 1.0) -> None:
        super().__init__("Lion", learning_rate, params, weight_decay, loss_scale, beta1=beta1, beta2=beta2)
        self.moments = self._parameters.clone(prefix="lion_m", init="zeros")

    @jit(backend="ms_backend")  # one compiled step in PyNative too, as MindSpore's own optimizers do
    def construct(self, gradients):
        """Apply one Lion step to every parameter."""
        gradients, lr, weight_decay, step = self.begin_step(gradients)
        done = self.map_update(_lion_step, (self.beta1, self.beta2), lr, weight_decay, self._parameters,
                               self.moments, gradients, self.decay_flags)
        return ops.depend(done, step)  # the step counter's update, used (an unused one is reported at compile)
