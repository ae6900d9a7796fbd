"""One training step as a graph: loss scaling (fixed or dynamic), gradient mean over ranks,
overflow check, gradient clipping, gradient accumulation and model EMA.

Everything that must survive a resume is a Parameter of this cell, so saving the cell saves it:
the network, the optimizer state (``moments.*``, ``global_step``, ...), ``scale_sense``, the EMA
weights (``ema.*`` and ``updates``, MindCV's names) and accumulated gradients.
"""
from typing import Tuple

import mindspore as ms
from mindspore import Parameter, ParameterTuple, Tensor, nn, ops

_ema_update = ops.MultitypeFuncGraph("ema_update")
_accumulate = ops.MultitypeFuncGraph("accumulate")
_scale = ops.MultitypeFuncGraph("scale")


@_ema_update.register("Tensor", "Tensor", "Tensor")
def _ema_update_one(decay: Tensor, ema: Parameter, weight: Parameter) -> Tensor:
    """ema <- decay * ema + (1 - decay) * weight."""
    return ops.assign(ema, ema * decay + ops.cast(weight, ema.dtype) * (1.0 - decay))


@_accumulate.register("Tensor", "Tensor")
def _accumulate_one(acc: Parameter, grad: Tensor) -> Tensor:
    return ops.assign_add(acc, grad)


_zero = ops.MultitypeFuncGraph("zero")


@_zero.register("Tensor")
def _zero_one(acc: Parameter) -> Tensor:
    return ops.assign(acc, ops.zeros_like(acc))


@_scale.register("Tensor", "Tensor")
def _scale_one(factor: Tensor, grad: Tensor) -> Tensor:
    return grad * ops.cast(factor, grad.dtype)


class NetWithLoss(nn.Cell):
    """Network followed by the loss, computed in float32 whatever precision the network runs in."""

    def __init__(self, network: nn.Cell, loss_fn: nn.Cell) -> None:
        super().__init__(auto_prefix=False)
        self.network = network
        self.loss_fn = loss_fn

    def construct(self, x: Tensor, label: Tensor) -> Tuple[Tensor, Tensor]:
        """(loss, how many of the batch's top-1 predictions are right) - the count carries no gradient."""
        logits = ops.cast(self.network(x), ms.float32)
        target = label if label.ndim == 1 else ops.argmax(label, -1)  # soft targets (mixup/cutmix): their argmax
        correct = ops.stop_gradient(ops.cast(ops.argmax(logits, -1) == ops.cast(target, ms.int32), ms.float32).sum())
        return self.loss_fn(logits, label), correct


class TrainStep(nn.Cell):
    """A training step that returns ``(loss, overflow, loss_scale, correct)``, ``correct`` being how many of the
    batch's top-1 predictions match the (arg-max of the) labels.

    Args:
        network, loss_fn, optimizer: the model, its loss and the optimizer over its trainable parameters.
        loss_scale: initial (dynamic) or fixed loss scale. loss_scale_type: ``fixed`` or ``dynamic``.
        scale_factor, scale_window: dynamic loss scale growth factor and window.
        drop_overflow_update: skip the update when gradients overflow (always so with dynamic scaling).
        ema, ema_decay: keep an exponential moving average of all parameters (BN statistics included),
            with MindCV's warm-up of the decay: decay * (1 - exp(-updates / 2000)).
        clip_grad, clip_value: clip gradients to a global norm.
        gradient_accumulation_steps: update every N steps with the mean gradient of N steps.
        group_size: ranks in data parallel (gradients are averaged over them when > 1).
    """

    def __init__(
        self,
        network: nn.Cell,
        loss_fn: nn.Cell,
        optimizer: nn.Optimizer,
        loss_scale: float = 1.0,
        loss_scale_type: str = "fixed",
        scale_factor: float = 2.0,
        scale_window: int = 2000,
        drop_overflow_update: bool = False,
        ema: bool = False,
        ema_decay: float = 0.9999,
        clip_grad: bool = False,
        clip_value: float = 15.0,
        gradient_accumulation_steps: int = 1,
        group_size: int = 1,
    ) -> None:
        super().__init__(auto_prefix=False)
        if loss_scale_type not in ("fixed", "dynamic"):
            raise ValueError(f"loss_scale_type={loss_scale_type!r} is not known; use 'fixed' or 'dynamic'")
        if gradient_accumulation_steps < 1:
            raise ValueError(f"gradient_accumulation_steps must be >= 1, got {gradient_accumulation_steps}")
        self.net_with_loss = NetWithLoss(network, loss_fn)
        self.optimizer = optimizer
        self.weights = optimizer.parameters
        self.grad_fn = ops.GradOperation(get_by_list=True, sens_param=True)
        self.hyper_map = ops.HyperMap()
        self.scale_sense = Parameter(Tensor(loss_scale, ms.float32), name="scale_sense")
        self.dynamic = loss_scale_type == "dynamic"
        self.scale_updater = (nn.DynamicLossScaleUpdateCell(loss_scale, scale_factor, scale_window)
                              if self.dynamic else None)
        self.check_overflow = self.dynamic or drop_overflow_update
        self.skip_on_overflow = self.dynamic or drop_overflow_update
        self.reducer = (nn.DistributedGradReducer(self.weights, mean=True, degree=group_size)
                        if group_size > 1 else None)
        self.clip_grad = clip_grad
        self.clip_value = float(clip_value)
        self.accum_steps = int(gradient_accumulation_steps)
        if self.accum_steps > 1:
            self.accum_grads = self.weights.clone(prefix="accum_grad", init="zeros")
            self.accum_counter = Parameter(Tensor(0, ms.int32), name="accum_counter")
            self.accum_scale = Tensor(1.0 / self.accum_steps, ms.float32)
        self.ema = ema
        if ema:
            self.weights_all = ParameterTuple(list(network.get_parameters()))
            self.ema_weights = self.weights_all.clone(prefix="ema", init="same")
            self.updates = Parameter(Tensor(0.0, ms.float32), name="updates")
            self.ema_decay = float(ema_decay)

    def _ema_step(self) -> Tensor:
        updates = ops.assign_add(self.updates, ops.ones((), ms.float32))
        decay = self.ema_decay * (1.0 - ops.exp(-updates / 2000.0))
        return self.hyper_map(ops.partial(_ema_update, decay), self.ema_weights, self.weights_all)

    def _apply(self, grads: Tuple[Tensor, ...]) -> Tensor:
        """Clip, update, EMA; returns a value that depends on all of them."""
        if self.clip_grad:
            grads = ops.clip_by_global_norm(grads, self.clip_value)
        done = self.optimizer(grads)
        if self.ema:
            done = ops.depend(done, self._ema_step())
        return done

    def construct(self, x: Tensor, label: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        scale = self.scale_sense * 1.0  # the value used for this step, before a dynamic update
        loss, correct = self.net_with_loss(x, label)
        sens = ops.fill(loss.dtype, loss.shape, 1.0) * ops.cast(scale, loss.dtype)
        grads = self.grad_fn(self.net_with_loss, self.weights)(x, label, (sens, ops.zeros_like(correct)))
        if self.reducer is not None:
            grads = self.reducer(grads)
        grads = self.hyper_map(ops.partial(_scale, 1.0 / scale), grads)
        overflow = ops.zeros((), ms.bool_)
        if self.check_overflow:
            overflow = ops.logical_not(ms.amp.all_finite(grads))
        if self.dynamic:
            overflow = self.scale_updater(self.scale_sense, overflow)
        if self.accum_steps > 1:
            loss = ops.depend(loss, self.hyper_map(_accumulate, self.accum_grads, grads))
            counter = ops.assign_add(self.accum_counter, ops.ones((), ms.int32))
            if counter % self.accum_steps == 0:
                mean_grads = self.hyper_map(ops.partial(_scale, self.accum_scale), self.accum_grads)
                if self.skip_on_overflow:
                    if not overflow:
                        loss = ops.depend(loss, self._apply(mean_grads))
                else:
                    loss = ops.depend(loss, self._apply(mean_grads))
                loss = ops.depend(loss, self.hyper_map(_zero, self.accum_grads))
        elif self.skip_on_overflow:
            if not overflow:
                loss = ops.depend(loss, self._apply(grads))
        else:
            loss = ops.depend(loss, self._apply(grads))
        return loss, overflow, scale, correct
