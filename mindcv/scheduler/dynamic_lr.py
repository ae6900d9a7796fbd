"""Per-step learning-rate curves, the same values MindCV's schedulers produce.

Every function returns a list with one float per optimisation step. ``steps_per_epoch`` and
``epochs`` fix the length (``steps_per_epoch * epochs``). The ``*_refined`` variants move the
rate at every step (the epoch position is ``step / steps_per_epoch``); the plain ones hold it for
a whole epoch (the position is ``floor(step / steps_per_epoch)``), like PyTorch's epoch schedulers.
"""
import math
from bisect import bisect_right
from typing import Callable, List, Optional, Sequence


def _epoch_positions(steps_per_epoch: int, epochs: int, stair: bool) -> List[float]:
    """Epoch position of every step: fractional, or the whole epoch index when ``stair``."""
    n = steps_per_epoch * epochs
    if stair:
        return [float(i // steps_per_epoch) for i in range(n)]
    return [i / steps_per_epoch for i in range(n)]


def _linear(start_factor: float, end_factor: float, total_iters: int, lr: float,
            steps_per_epoch: int, epochs: int, stair: bool) -> List[float]:
    """Linear ramp from ``lr * start_factor`` to ``lr * end_factor`` over ``total_iters`` epochs."""
    lo, hi = lr * start_factor, lr * end_factor
    return [lo + min(e, total_iters) / total_iters * (hi - lo)
            for e in _epoch_positions(steps_per_epoch, epochs, stair)]


def linear_lr(start_factor: float, end_factor: float, total_iters: int, *, lr: float,
              steps_per_epoch: int, epochs: int) -> List[float]:
    """Linear ramp, updated once per epoch."""
    return _linear(start_factor, end_factor, total_iters, lr, steps_per_epoch, epochs, True)


def linear_refined_lr(start_factor: float, end_factor: float, total_iters: int, *, lr: float,
                      steps_per_epoch: int, epochs: int) -> List[float]:
    """Linear ramp, updated every step."""
    return _linear(start_factor, end_factor, total_iters, lr, steps_per_epoch, epochs, False)


def exponential_lr(gamma: float, *, lr: float, steps_per_epoch: int, epochs: int) -> List[float]:
    """``lr * gamma ** epoch``, updated once per epoch."""
    return [lr * gamma ** int(e) for e in _epoch_positions(steps_per_epoch, epochs, True)]


def exponential_refined_lr(gamma: float, *, lr: float, steps_per_epoch: int, epochs: int) -> List[float]:
    """``lr * gamma ** (step / steps_per_epoch)``, updated every step."""
    return [lr * gamma ** e for e in _epoch_positions(steps_per_epoch, epochs, False)]


def _polynomial(total_iters: int, power: float, lr: float, steps_per_epoch: int, epochs: int,
                stair: bool) -> List[float]:
    """``lr * (1 - min(epoch, total_iters) / total_iters) ** power``."""
    return [lr * (1.0 - min(e, total_iters) / total_iters) ** power
            for e in _epoch_positions(steps_per_epoch, epochs, stair)]


def polynomial_lr(total_iters: int, power: float, *, lr: float, steps_per_epoch: int,
                  epochs: int) -> List[float]:
    """Polynomial decay to zero, updated once per epoch."""
    return _polynomial(total_iters, power, lr, steps_per_epoch, epochs, True)


def polynomial_refined_lr(total_iters: int, power: float, *, lr: float, steps_per_epoch: int,
                          epochs: int) -> List[float]:
    """Polynomial decay to zero, updated every step."""
    return _polynomial(total_iters, power, lr, steps_per_epoch, epochs, False)


def step_lr(step_size: int, gamma: float, *, lr: float, steps_per_epoch: int, epochs: int) -> List[float]:
    """Multiply by ``gamma`` every ``step_size`` epochs."""
    return [lr * gamma ** (int(e) // step_size) for e in _epoch_positions(steps_per_epoch, epochs, True)]


def multi_step_lr(milestones: Sequence[int], gamma: float, *, lr: float, steps_per_epoch: int,
                  epochs: int) -> List[float]:
    """Multiply by ``gamma`` at each milestone epoch (the epochs counted from the start of this phase)."""
    marks = sorted(milestones)
    return [lr * gamma ** bisect_right(marks, int(e)) for e in _epoch_positions(steps_per_epoch, epochs, True)]


def _cosine(decay_epochs: int, eta_min: float, eta_max: float, steps_per_epoch: int, epochs: int,
            num_cycles: int, cycle_decay: float, stair: bool) -> List[float]:
    """Cosine from the cycle's peak to ``eta_min`` over ``decay_epochs``, repeated; then ``eta_min``."""
    total = steps_per_epoch * epochs
    lrs: List[float] = []
    cycle_positions = _epoch_positions(steps_per_epoch, decay_epochs, stair)
    for cycle in range(num_cycles):
        peak = eta_max * cycle_decay ** cycle
        half = 0.5 * (peak - eta_min)
        for e in cycle_positions:
            if len(lrs) >= total:
                break
            lrs.append(eta_min + half * (1.0 + math.cos(math.pi * min(e, decay_epochs) / decay_epochs)))
    if epochs > num_cycles * decay_epochs:  # MindCV: the rest of training stays at the floor
        lrs.extend([eta_min] * ((epochs - num_cycles * decay_epochs) * steps_per_epoch))
    return lrs


def cosine_decay_lr(decay_epochs: int, eta_min: float, *, eta_max: float, steps_per_epoch: int, epochs: int,
                    num_cycles: int = 1, cycle_decay: float = 1.0) -> List[float]:
    """Cosine decay, updated once per epoch."""
    return _cosine(decay_epochs, eta_min, eta_max, steps_per_epoch, epochs, num_cycles, cycle_decay, True)


def cosine_decay_refined_lr(decay_epochs: int, eta_min: float, *, eta_max: float, steps_per_epoch: int,
                            epochs: int, num_cycles: int = 1, cycle_decay: float = 1.0) -> List[float]:
    """Cosine decay, updated every step."""
    return _cosine(decay_epochs, eta_min, eta_max, steps_per_epoch, epochs, num_cycles, cycle_decay, False)


def _anneal_cos(start: float, end: float, frac: float) -> float:
    """Half-cosine interpolation from ``start`` (frac 0) to ``end`` (frac 1)."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * frac) + 1.0)


def _anneal_linear(start: float, end: float, frac: float) -> float:
    """Straight-line interpolation from ``start`` (frac 0) to ``end`` (frac 1)."""
    return start + (end - start) * frac


def one_cycle_lr(max_lr: float, pct_start: float = 0.3, anneal_strategy: str = "cos", div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False, *, steps_per_epoch: int,
                 epochs: int) -> List[float]:
    """1cycle policy (Smith & Topin): up from ``max_lr / div_factor`` to ``max_lr``, then down to the floor."""
    anneal: Callable[[float, float, float], float]
    if anneal_strategy == "cos":
        anneal = _anneal_cos
    elif anneal_strategy == "linear":
        anneal = _anneal_linear
    else:
        raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
    start = max_lr / div_factor
    floor = start / final_div_factor
    n = steps_per_epoch * epochs
    up_end = pct_start * n - 1.0
    down_end = 2.0 * pct_start * n - 2.0
    last = n - 1.0
    lrs = []
    for i in range(n):
        if i <= up_end:
            lrs.append(anneal(start, max_lr, i / up_end))
        elif three_phase and i <= down_end:
            lrs.append(anneal(max_lr, start, (i - up_end) / (down_end - up_end)))
        elif three_phase:
            lrs.append(anneal(start, floor, (i - down_end) / (last - down_end)))
        else:
            lrs.append(anneal(max_lr, floor, (i - up_end) / (last - up_end)))
    return lrs


def cyclic_lr(base_lr: float, max_lr: float, step_size_up: int = 2000, step_size_down: Optional[int] = None,
              mode: str = "triangular", gamma: float = 1.0, *, steps_per_epoch: int, epochs: int) -> List[float]:
    """Cyclical learning rate (Smith): triangles between ``base_lr`` and ``max_lr``."""
    up = float(step_size_up)
    down = float(step_size_down) if step_size_down is not None else up
    period = up + down
    rise = up / period
    if mode == "triangular":
        def scale(cycle: int, _step: int) -> float:
            return 1.0
    elif mode == "triangular2":
        def scale(cycle: int, _step: int) -> float:
            return 1.0 / 2.0 ** (cycle - 1)
    elif mode == "exp_range":
        def scale(_cycle: int, step: int) -> float:
            return gamma ** step
    else:
        raise ValueError(f"mode must be 'triangular', 'triangular2' or 'exp_range', got {mode!r}")
    lrs = []
    for i in range(steps_per_epoch * epochs):
        cycle = math.floor(1 + i / period)
        x = 1.0 + i / period - cycle
        height = x / rise if x <= rise else (x - 1.0) / (rise - 1.0)
        lrs.append(base_lr + (max_lr - base_lr) * height * scale(cycle, i))
    return lrs
