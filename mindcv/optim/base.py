"""What our hand-written optimizers (AdamW, Lion, NAdam, Adan) share: checks, loss-scale removal, the step
counter and the per-parameter map over MindSpore's parameter groups.

Each optimizer writes one ``MultitypeFuncGraph`` that updates a single parameter, registered with the
signature ``(hyper, lr, weight_decay, param, *state, grad, decay_flag)`` where ``hyper`` is a tuple of
hyper-parameters (MindSpore 2.10's graph compiler rejects ``ops.partial(f, *hyper, ...)``); :meth:`map_update` applies it
to every parameter whatever the grouping (one lr and weight decay, per-group weight decay, per-group lr).
"""
import mindspore as ms
from mindspore import Tensor, nn, ops

__all__ = ["HandWrittenOptimizer", "write_back"]


def write_back(targets: tuple, values: tuple) -> Tensor:
    """Assign each float32 value to its parameter or state (in that one's dtype); returns a value that depends
    on every assignment."""
    done = ops.assign(targets[0], values[0].astype(targets[0].dtype))
    for i in range(1, len(targets)):
        done = ops.depend(done, ops.assign(targets[i], values[i].astype(targets[i].dtype)))
    return done


class HandWrittenOptimizer(nn.Optimizer):
    """An ``nn.Optimizer`` that removes a fixed loss scale from the gradients itself.

    The base class is given no loss scale: it would multiply a decoupled weight decay by it. Keyword
    ``hyper`` values become float32 Tensor attributes of the same name, checked first: names starting with
    ``beta`` must lie in [0, 1), ``eps`` must be > 0.
    """

    def __init__(self, name: str, learning_rate, params, weight_decay: float, loss_scale: float,
                 **hyper: float) -> None:
        super().__init__(learning_rate, params, weight_decay)
        for key, value in hyper.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name}: {key} must be a number, got {value!r}")
            if key.startswith("beta") and not 0.0 <= value < 1.0:
                raise ValueError(f"{name}: {key} must be in [0.0, 1.0), got {value!r}")
            if key == "eps" and value <= 0:
                raise ValueError(f"{name}: eps must be > 0, got {value!r}")
            setattr(self, key, Tensor(value, ms.float32))
        if loss_scale <= 0:
            raise ValueError(f"{name}: loss_scale must be > 0, got {loss_scale!r}")
        self.unscale = float(loss_scale) != 1.0
        self.inv_loss_scale = Tensor(1.0 / float(loss_scale), ms.float32)

    def unscaled(self, gradients):
        """The gradients divided by the loss scale (unchanged when it is 1)."""
        if self.unscale:
            return self.hyper_map(ops.partial(ops.mul, self.inv_loss_scale), gradients)
        return gradients

    def begin_step(self, gradients) -> tuple:
        """(unscaled gradients, lr, weight decay, number of this update from 1 as float32); advances
        ``global_step`` after reading the learning rate of this update."""
        gradients = self.unscaled(gradients)
        lr = self.get_lr()
        weight_decay = self.get_weight_decay()
        step = ops.assign_add(self.global_step, self.global_step_increase_tensor)
        return gradients, lr, weight_decay, ops.cast(step, ms.float32).reshape(())

    def map_update(self, update, hyper: tuple, lr, weight_decay, *columns):
        """Apply the one-parameter ``update`` to every parameter: ``hyper`` is its first argument (a tuple of
        hyper-parameters); columns are the parameters, each state, the gradients and the decay flags."""
        if self.is_group_lr:
            return self.hyper_map(ops.partial(update, hyper), lr, weight_decay, *columns)
        if self.is_group:
            return self.hyper_map(ops.partial(update, hyper, lr), weight_decay, *columns)
        return self.hyper_map(ops.partial(update, hyper, lr, weight_decay), *columns)
