"""create_scheduler against closed-form values of MindCV's schedules."""
import importlib.util
import math
import os
import sys

import pytest

from mindcv.scheduler import SCHEDULERS, create_scheduler

SPE = 4  # steps per epoch


def cosine(t: float, lr: float, min_lr: float, decay: float) -> float:
    """Cosine from lr (t=0) to min_lr (t=decay)."""
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * t / decay))


def test_warmup_then_constant():
    lr, factor, warm = 0.4, 0.1, 3
    lrs = create_scheduler(SPE, "constant", lr=lr, warmup_epochs=warm, warmup_factor=factor, num_epochs=5)
    assert len(lrs) == 5 * SPE
    for i in range(warm * SPE):  # linear, moving every step, from lr*factor towards lr
        assert lrs[i] == pytest.approx(lr * factor + (lr - lr * factor) * i / (warm * SPE))
    assert lrs[0] == pytest.approx(lr * factor)
    assert lrs[warm * SPE - 1] < lr
    assert lrs[warm * SPE:] == [lr] * (2 * SPE)


def test_cosine_decay_key_points():
    lr, min_lr, warm, decay, epochs = 0.2, 1e-5, 2, 6, 10
    lrs = create_scheduler(SPE, "cosine_decay", lr=lr, min_lr=min_lr, warmup_epochs=warm, decay_epochs=decay,
                           num_epochs=epochs)
    assert len(lrs) == epochs * SPE
    assert lrs[0] == 0.0  # warmup_factor 0
    start = warm * SPE
    assert lrs[start] == pytest.approx(lr)  # end of warm-up: the peak
    assert lrs[start + decay * SPE // 2] == pytest.approx((lr + min_lr) / 2)  # cosine midpoint
    for k in range(decay * SPE):
        assert lrs[start + k] == pytest.approx(cosine(k / SPE, lr, min_lr, decay))
    # MindCV: after warm-up + decay epochs the rate stays at min_lr until the end
    assert lrs[start + decay * SPE:] == [min_lr] * ((epochs - warm - decay) * SPE)


def test_cosine_decay_epoch_stair():
    lr, min_lr, decay = 1.0, 0.0, 4
    lrs = create_scheduler(SPE, "cosine_decay", lr=lr, min_lr=min_lr, warmup_epochs=0, decay_epochs=decay,
                           num_epochs=decay, lr_epoch_stair=True)
    for epoch in range(decay):
        assert lrs[epoch * SPE:(epoch + 1) * SPE] == [pytest.approx(cosine(epoch, lr, min_lr, decay))] * SPE


def test_cosine_cycles_decay_the_peak():
    lr, min_lr, decay = 1.0, 0.1, 3
    lrs = create_scheduler(SPE, "cosine_decay", lr=lr, min_lr=min_lr, warmup_epochs=0, decay_epochs=decay,
                           num_epochs=2 * decay, num_cycles=2, cycle_decay=0.5)
    assert lrs[0] == pytest.approx(lr)
    assert lrs[decay * SPE] == pytest.approx(0.5 * lr)  # second cycle restarts at half the peak
    assert lrs[decay * SPE + 1] == pytest.approx(cosine(1 / SPE, 0.5 * lr, min_lr, decay))


def test_mindcv_mixnet_s_schedule():
    """lr 0.2 -> 1e-5, 15 warm-up + 585 cosine epochs (configs/mixnet/mixnet_s_ascend.yaml)."""
    spe = 10
    lrs = create_scheduler(spe, "cosine_decay", lr=0.2, min_lr=1e-5, warmup_epochs=15, decay_epochs=585,
                           num_epochs=600)
    assert len(lrs) == 600 * spe
    assert lrs[15 * spe] == pytest.approx(0.2)
    assert lrs[-1] == pytest.approx(cosine((585 * spe - 1) / spe, 0.2, 1e-5, 585))
    assert min(lrs[15 * spe:]) >= 1e-5


def test_step_and_multi_step_count_epochs_after_warmup():
    lr, rate, warm = 1.0, 0.5, 2
    step = create_scheduler(SPE, "step_decay", lr=lr, warmup_epochs=warm, decay_epochs=3, decay_rate=rate,
                            num_epochs=warm + 9)
    multi = create_scheduler(SPE, "multi_step_decay", lr=lr, warmup_epochs=warm, decay_rate=rate,
                             milestones=[5, 2], num_epochs=warm + 7)
    for epoch in range(9):
        assert step[(warm + epoch) * SPE] == pytest.approx(lr * rate ** (epoch // 3))
    for epoch in range(7):
        passed = sum(epoch >= m for m in (2, 5))
        assert multi[(warm + epoch) * SPE + SPE - 1] == pytest.approx(lr * rate ** passed)


def test_exponential_and_polynomial():
    expo = create_scheduler(SPE, "exponential_decay", lr=1.0, warmup_epochs=0, decay_rate=0.8, num_epochs=3)
    assert expo[5] == pytest.approx(0.8 ** (5 / SPE))
    poly = create_scheduler(SPE, "polynomial_decay", lr=1.0, warmup_epochs=1, decay_rate=2.0, num_epochs=5)
    assert poly[SPE + 6] == pytest.approx((1 - (6 / SPE) / 4) ** 2)


def test_warmup_longer_than_training_is_cut_to_training():
    lrs = create_scheduler(SPE, "cosine_decay", lr=1.0, warmup_epochs=3, num_epochs=1)
    assert len(lrs) == SPE and lrs[-1] == pytest.approx((SPE - 1) / (3 * SPE))


def test_one_cycle_and_cyclic_shapes():
    one = create_scheduler(10, "one_cycle", lr=1.0, min_lr=1e-4, warmup_epochs=0, num_epochs=10)
    assert one[0] == pytest.approx(1.0 / 25) and max(one) == pytest.approx(1.0)
    assert one[-1] == pytest.approx(1e-4)
    cyc = create_scheduler(10, "cyclic", lr=1.0, min_lr=0.1, warmup_epochs=0, num_epochs=4, num_cycles=2)
    assert cyc[0] == pytest.approx(0.1) and cyc[10] == pytest.approx(1.0) and cyc[20] == pytest.approx(0.1)


@pytest.mark.parametrize("kwargs, phrase", [
    (dict(scheduler="cosine"), "allowed: " + ", ".join(SCHEDULERS)),
    (dict(steps_per_epoch=0), "steps_per_epoch must be an integer >= 1"),
    (dict(num_epochs=2.5), "num_epochs must be an integer"),
    (dict(lr=-1.0), "lr must be a number >= 0"),
    (dict(scheduler="one_cycle", warmup_epochs=2), "warmup_epochs=0"),
    (dict(scheduler="step_decay", decay_epochs=0), "decay_epochs >= 1"),
    (dict(milestones="30,60"), "milestones must be a list"),
])
def test_bad_arguments(kwargs, phrase):
    args = dict(steps_per_epoch=SPE, num_epochs=5)
    args.update(kwargs)
    with pytest.raises(ValueError) as exc:
        create_scheduler(**args)
    assert phrase in str(exc.value)


def _peer_scheduler():
    """MindCV 0.3.0's scheduler package, loaded under another name from $MINDCV_PEER_PATH/mindcv/scheduler."""
    peer = os.environ.get("MINDCV_PEER_PATH", os.path.expanduser("~/.cache/mixnet-ms/peers/mindcv-0.3.0"))
    folder = os.path.join(peer, "mindcv", "scheduler")
    if not os.path.isfile(os.path.join(folder, "scheduler_factory.py")):
        pytest.skip(f"MindCV 0.3.0 peer not found at {peer} (set MINDCV_PEER_PATH; .ci/run installs it)")
    spec = importlib.util.spec_from_file_location("peer_mindcv_scheduler", os.path.join(folder, "__init__.py"),
                                                  submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("scheduler", ["constant", "cosine_decay", "exponential_decay", "polynomial_decay",
                                       "step_decay", "multi_step_decay"])
@pytest.mark.parametrize("stair", [False, True])
def test_parity_with_mindcv(scheduler, stair):
    peer = _peer_scheduler()
    kwargs = dict(steps_per_epoch=3, scheduler=scheduler, lr=0.2, min_lr=1e-5, warmup_epochs=2, warmup_factor=0.01,
                  decay_epochs=4, decay_rate=0.7, milestones=[2, 4], num_epochs=9, num_cycles=2, cycle_decay=0.5,
                  lr_epoch_stair=stair)
    assert create_scheduler(**kwargs) == peer.create_scheduler(**kwargs)  # bit-identical floats
