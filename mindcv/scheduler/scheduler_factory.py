"""create_scheduler: the per-step learning-rate list of a MindCV recipe (warm-up, then the main curve)."""
import numbers
from typing import List, Optional, Sequence

from ..choices import SCHEDULERS
from ..utils.logger import get_logger

from . import dynamic_lr

__all__ = ["create_scheduler", "SCHEDULERS"]

_logger = get_logger(__name__)


def _check_int(name: str, value, minimum: int) -> int:
    """``value`` as an int >= ``minimum``, or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"create_scheduler: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_float(name: str, value, minimum: float = 0.0) -> float:
    """``value`` as a float >= ``minimum``, or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < minimum:
        raise ValueError(f"create_scheduler: {name} must be a number >= {minimum}, got {value!r}")
    return float(value)


def _check_milestones(milestones: Optional[Sequence[int]]) -> List[int]:
    """Milestone epochs as a list of non-negative ints (None means none)."""
    if milestones is None:
        return []
    if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Sequence):
        raise ValueError(f"create_scheduler: milestones must be a list of epochs, got {milestones!r}")
    return [_check_int("milestones[]", m, 0) for m in milestones]


def _warmup(lr: float, warmup_factor: float, warmup_epochs: int, steps_per_epoch: int,
            lr_epoch_stair: bool) -> List[float]:
    """Linear warm-up from ``lr * warmup_factor`` towards ``lr`` (empty when no warm-up epochs)."""
    if warmup_epochs == 0:
        return []
    if warmup_factor == 0 and lr_epoch_stair:
        _logger.warning("warmup_factor is 0 with lr_epoch_stair: the whole first epoch runs at lr 0 "
                        "(0.01 is a common warmup_factor)")
    ramp = dynamic_lr.linear_lr if lr_epoch_stair else dynamic_lr.linear_refined_lr
    return ramp(warmup_factor, 1.0, warmup_epochs, lr=lr, steps_per_epoch=steps_per_epoch, epochs=warmup_epochs)


def _main_phase(scheduler: str, steps_per_epoch: int, epochs: int, lr: float, min_lr: float,
                decay_epochs: int, decay_rate: float, milestones: List[int], num_cycles: int,
                cycle_decay: float, lr_epoch_stair: bool) -> List[float]:
    """The curve after warm-up, ``epochs`` epochs long (epochs counted from the end of warm-up)."""
    kw = dict(steps_per_epoch=steps_per_epoch, epochs=epochs)
    if scheduler in ("cosine_decay", "warmup_cosine_decay"):
        fn = dynamic_lr.cosine_decay_lr if lr_epoch_stair else dynamic_lr.cosine_decay_refined_lr
        return fn(decay_epochs, min_lr, eta_max=lr, num_cycles=num_cycles, cycle_decay=cycle_decay, **kw)
    if scheduler == "exponential_decay":
        fn = dynamic_lr.exponential_lr if lr_epoch_stair else dynamic_lr.exponential_refined_lr
        return fn(decay_rate, lr=lr, **kw)
    if scheduler == "polynomial_decay":
        fn = dynamic_lr.polynomial_lr if lr_epoch_stair else dynamic_lr.polynomial_refined_lr
        return fn(epochs, decay_rate, lr=lr, **kw)
    if scheduler == "step_decay":
        return dynamic_lr.step_lr(decay_epochs, decay_rate, lr=lr, **kw)
    if scheduler == "multi_step_decay":
        return dynamic_lr.multi_step_lr(milestones, decay_rate, lr=lr, **kw)
    if scheduler == "one_cycle":
        return dynamic_lr.one_cycle_lr(lr, final_div_factor=(lr / 25.0) / min_lr, **kw)
    if scheduler == "cyclic":
        up = int(steps_per_epoch * epochs / num_cycles / 2)
        if up < 1:
            raise ValueError(f"create_scheduler: cyclic needs at least 2 steps per cycle, got "
                             f"{steps_per_epoch * epochs} steps for num_cycles={num_cycles}")
        return dynamic_lr.cyclic_lr(min_lr, lr, up, **kw)
    return [lr] * (steps_per_epoch * epochs)  # constant


def _check_combination(scheduler: str, warmup_epochs: int, decay_epochs: int, min_lr: float,
                       lr_epoch_stair: bool) -> None:
    """Reject argument combinations a scheduler cannot honour."""
    if scheduler not in SCHEDULERS:
        raise ValueError(f"create_scheduler: unknown scheduler {scheduler!r}; allowed: {', '.join(SCHEDULERS)}")
    if scheduler in ("one_cycle", "cyclic") and (lr_epoch_stair or warmup_epochs > 0):
        raise ValueError(f"create_scheduler: scheduler {scheduler!r} has its own ramp-up: set warmup_epochs=0 "
                         f"and lr_epoch_stair=False (got warmup_epochs={warmup_epochs}, "
                         f"lr_epoch_stair={lr_epoch_stair})")
    if scheduler == "one_cycle" and min_lr <= 0:
        raise ValueError(f"create_scheduler: one_cycle needs min_lr > 0, got {min_lr!r}")
    if scheduler == "step_decay" and decay_epochs < 1:
        raise ValueError(f"create_scheduler: step_decay needs decay_epochs >= 1, got {decay_epochs!r}")


def create_scheduler(
    steps_per_epoch: int,
    scheduler: str = "constant",
    lr: float = 0.01,
    min_lr: float = 1e-6,
    warmup_epochs: int = 3,
    warmup_factor: float = 0.0,
    decay_epochs: int = 10,
    decay_rate: float = 0.9,
    milestones: Optional[Sequence[int]] = None,
    num_epochs: int = 200,
    num_cycles: int = 1,
    cycle_decay: float = 1.0,
    lr_epoch_stair: bool = False,
) -> List[float]:
    """Learning rate of every step of training (``steps_per_epoch * num_epochs`` floats), as MindCV computes it.

    The first ``warmup_epochs`` ramp linearly from ``lr * warmup_factor`` towards ``lr``; the remaining
    ``num_epochs - warmup_epochs`` follow ``scheduler``, with its epochs counted from the end of warm-up
    (so ``milestones`` and ``decay_epochs`` are relative to it). ``cosine_decay`` falls from ``lr`` to
    ``min_lr`` over ``decay_epochs`` (times ``num_cycles``, each peak ``cycle_decay`` times the last) and
    then stays at ``min_lr``. ``lr_epoch_stair`` holds the rate constant within each epoch.
    """
    steps_per_epoch = _check_int("steps_per_epoch", steps_per_epoch, 1)
    num_epochs = _check_int("num_epochs", num_epochs, 1)
    warmup_epochs = _check_int("warmup_epochs", warmup_epochs, 0)
    decay_epochs = _check_int("decay_epochs", decay_epochs, 0)
    num_cycles = _check_int("num_cycles", num_cycles, 1)
    lr, min_lr = _check_float("lr", lr), _check_float("min_lr", min_lr)
    warmup_factor = _check_float("warmup_factor", warmup_factor)
    decay_rate, cycle_decay = _check_float("decay_rate", decay_rate), _check_float("cycle_decay", cycle_decay)
    milestones = _check_milestones(milestones)
    _check_combination(scheduler, warmup_epochs, decay_epochs, min_lr, lr_epoch_stair)

    if scheduler in ("cosine_decay", "warmup_cosine_decay") and warmup_epochs + decay_epochs > num_epochs:
        _logger.warning("warmup_epochs + decay_epochs (%d + %d) > num_epochs (%d): the cosine is cut off "
                        "before it reaches min_lr", warmup_epochs, decay_epochs, num_epochs)
    if warmup_epochs > num_epochs:
        _logger.warning("warmup_epochs (%d) > num_epochs (%d): training ends during warm-up",
                        warmup_epochs, num_epochs)
    lrs = _warmup(lr, warmup_factor, warmup_epochs, steps_per_epoch, lr_epoch_stair)
    main_epochs = num_epochs - warmup_epochs
    if main_epochs > 0:
        lrs += _main_phase(scheduler, steps_per_epoch, main_epochs, lr, min_lr, decay_epochs, decay_rate,
                           milestones, num_cycles, cycle_decay, lr_epoch_stair)
    return lrs[: steps_per_epoch * num_epochs]
