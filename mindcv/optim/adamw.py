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
from mindspore import Parameter, Tensor, jit, nn, ops
from mindspore.common.initializer import initializer

__all__ = ["AdamW"]

_adamw_step = ops.MultitypeFuncGraph("adamw_step")


@_adamw_step.register("Tensor", "Tensor", "Tensor", "Tensor", "Tensor", "Tensor", "Tensor",
                      "Tensor", "Tensor", "Tensor", "Tensor", "Bool")
def _adamw_param_step(beta1, beta2, eps, correction1, correction2, lr, weight_decay,
                      param, m, v, grad, decay):
    """Update one parameter and its two moments in place."""
    p32 = param.astype(ms.float32)
    g32 = grad.astype(ms.float32)
    next_m = beta1 * m.astype(ms.float32) + (1.0 - beta1) * g32
    next_v = beta2 * v.astype(ms.float32) + (1.0 - beta2) * ops.square(g32)
    update = (next_m / correction1) / (eps + ops.sqrt(next_v / correction2))
    if decay:
        update = update + weight_decay * p32
    next_p = p32 - lr * update
    done = ops.assign(param, next_p.astype(param.dtype))
    done = ops.depend(done, ops.assign(m, next_m.astype(m.dtype)))
    done = ops.depend(done, ops.assign(v, next_v.astype(v.dtype)))
    return done


class AdamW(nn.Optimizer):
    """Adam with bias correction and decoupled weight decay (Loshchilov & Hutter), MindCV's variant."""

    def __init__(self, params: Union[List[Parameter], List[dict]], learning_rate=1e-3, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
                 loss_scale: float = 1.0) -> None:
        # the base class gets no loss scale: it would multiply the (decoupled) weight decay by it
        super().__init__(learning_rate, params, weight_decay)
        for name, value, low, high in (("beta1", beta1, 0.0, 1.0), ("beta2", beta2, 0.0, 1.0)):
            if not low <= value < high:
                raise ValueError(f"AdamW: {name} must be in [{low}, {high}), got {value!r}")
        if eps <= 0 or loss_scale <= 0:
            raise ValueError(f"AdamW: eps and loss_scale must be > 0, got eps={eps!r}, loss_scale={loss_scale!r}")
        self.beta1 = Tensor(beta1, ms.float32)
        self.beta2 = Tensor(beta2, ms.float32)
        self.eps = Tensor(eps, ms.float32)
        self.moments1 = self._parameters.clone(prefix="adam_m", init="zeros")
        self.moments2 = self._parameters.clone(prefix="adam_v", init="zeros")
        self.beta1_power = Parameter(initializer(1, [1], ms.float32), name="beta1_power")
        self.beta2_power = Parameter(initializer(1, [1], ms.float32), name="beta2_power")
        self.unscale = float(loss_scale) != 1.0
        self.inv_loss_scale = Tensor(1.0 / float(loss_scale), ms.float32)

    @jit(backend="ms_backend")  # one compiled step in PyNative too, as MindSpore's own optimizers do
    def construct(self, gradients):
        """Apply one AdamW step to every parameter."""
        if self.unscale:
            gradients = self.hyper_map(ops.partial(ops.mul, self.inv_loss_scale), gradients)
        lr = self.get_lr()
        weight_decay = self.get_weight_decay()
        self.assignadd(self.global_step, self.global_step_increase_tensor)
        beta1_power = self.beta1_power * self.beta1
        beta2_power = self.beta2_power * self.beta2
        ops.assign(self.beta1_power, beta1_power)
        ops.assign(self.beta2_power, beta2_power)
        c1, c2 = 1.0 - beta1_power, 1.0 - beta2_power
        b1, b2, eps = self.beta1, self.beta2, self.eps
        params, m, v, flags = self._parameters, self.moments1, self.moments2, self.decay_flags
        if self.is_group_lr:
            step = ops.partial(_adamw_step, b1, b2, eps, c1, c2)
            return self.hyper_map(step, lr, weight_decay, params, m, v, gradients, flags)
        if self.is_group:
            step = ops.partial(_adamw_step, b1, b2, eps, c1, c2, lr)
            return self.hyper_map(step, weight_decay, params, m, v, gradients, flags)
        step = ops.partial(_adamw_step, b1, b2, eps, c1, c2, lr, weight_decay)
        return self.hyper_map(step, params, m, v, gradients, flags)
