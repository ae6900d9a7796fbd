"""create_optimizer: weight-decay filters, update rules against numpy, loss scale, errors."""
import importlib.util
import os
import sys

import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor, nn

from mindcv.optim import OPTIMIZERS, WEIGHT_DECAY_FILTERS, AdamW, create_optimizer, optimizer_loss_scale


class Tiny(nn.Cell):
    """conv (with bias) + BN + dense: the parameter kinds the filters tell apart."""

    def __init__(self, skip=()):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, has_bias=True)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Dense(4, 2)
        self.skip = tuple(skip)

    def construct(self, x):
        return self.fc(self.bn(self.conv(x)).mean((2, 3)))

    def no_weight_decay(self):
        return self.skip


@pytest.fixture(autouse=True)
def pynative():
    """Run in PyNative mode; give the next test the mode this one found."""
    previous = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    yield
    ms.set_context(mode=previous)


def make_net(skip=()) -> Tiny:
    """A Tiny with reproducible random parameters."""
    net = Tiny(skip)
    rng = np.random.default_rng(0)
    for p in net.trainable_params():
        p.set_data(Tensor(rng.standard_normal(p.shape).astype(np.float32)))
    return net


def snapshot(net) -> dict:
    """Parameter values by name."""
    return {p.name: p.asnumpy().copy() for p in net.trainable_params()}


def step(optimizer, grads: dict, scale: float = 1.0) -> None:
    """One optimizer step with the given (name -> array) gradients, multiplied by ``scale``."""
    optimizer(tuple(Tensor((grads[p.name] * scale).astype(np.float32)) for p in optimizer.parameters))


def zero_grads(net) -> dict:
    """All-zero gradients."""
    return {p.name: np.zeros(p.shape, np.float32) for p in net.trainable_params()}


def random_grads(net, seed: int) -> dict:
    """Reproducible random gradients."""
    rng = np.random.default_rng(seed)
    return {p.name: rng.standard_normal(p.shape).astype(np.float32) for p in net.trainable_params()}


# --- weight-decay filters: which parameters actually decay -------------------------------------------

NAMES = ["conv.weight", "conv.bias", "bn.gamma", "bn.beta", "fc.weight", "fc.bias"]
NORM = {"bn.gamma", "bn.beta"}
BIAS = {"conv.bias", "fc.bias"}


@pytest.mark.parametrize("filt, spared", [("disable", set()), ("auto", NORM), ("norm_and_bias", NORM | BIAS)])
def test_weight_decay_filters_by_behaviour(filt, spared):
    """With zero gradients only weight decay moves a parameter: p <- p - lr * wd * p exactly where decayed."""
    net = make_net()
    assert sorted(p.name for p in net.trainable_params()) == sorted(NAMES)
    before = snapshot(net)
    lr, wd = 0.5, 0.1
    optimizer = create_optimizer(net, opt="momentum", lr=lr, weight_decay=wd, weight_decay_filter=filt)
    step(optimizer, zero_grads(net))
    after = snapshot(net)
    decayed = {name for name in NAMES if not np.array_equal(before[name], after[name])}
    assert decayed == set(NAMES) - spared
    for name in decayed:
        np.testing.assert_allclose(after[name], before[name] * (1 - lr * wd), rtol=1e-6)


def test_model_no_weight_decay_list_is_honoured():
    net = make_net(skip=("conv.weight",))
    before = snapshot(net)
    optimizer = create_optimizer(net, opt="momentum", lr=0.5, weight_decay=0.1, weight_decay_filter="norm_and_bias")
    step(optimizer, zero_grads(net))
    after = snapshot(net)
    assert {n for n in NAMES if not np.array_equal(before[n], after[n])} == {"fc.weight"}


@pytest.mark.parametrize("cell, flags", [(nn.Dense(3, 2, has_bias=False), (True,)),
                                         (nn.BatchNorm1d(3), (False, False))])
def test_norm_and_bias_when_one_group_is_empty(cell, flags):
    """A model with nothing to spare (or nothing to decay) still gets an optimizer."""
    optimizer = create_optimizer(cell, opt="momentum", weight_decay=0.1, weight_decay_filter="norm_and_bias")
    assert tuple(bool(f) for f in optimizer.decay_flags) == flags


def test_disable_keeps_parameter_order():
    net = make_net()
    optimizer = create_optimizer(net, opt="momentum", weight_decay=0.1, weight_decay_filter="norm_and_bias")
    assert [p.name for p in optimizer.parameters] == [p.name for p in net.trainable_params()]


# --- update rules ------------------------------------------------------------------------------------

@pytest.mark.parametrize("opt, nesterov", [("momentum", False), ("sgd", False), ("sgd", True)])
def test_momentum_two_steps_match_numpy_with_loss_scale_and_lr_list(opt, nesterov):
    """v <- mu*v + g' (g' = g + wd*p) ; p <- p - lr_t * v (nesterov: p - lr_t * (g' + mu*v)); gradients x scale."""
    net = make_net()
    p = snapshot(net)
    lrs, mu, wd, scale = [0.1, 0.05], 0.9, 0.01, 128.0
    optimizer = create_optimizer(net, opt=opt, lr=lrs, momentum=mu, weight_decay=wd, nesterov=nesterov,
                                 loss_scale=scale)
    v = {n: np.zeros_like(a) for n, a in p.items()}
    for t, seed in enumerate((1, 2)):
        grads = random_grads(net, seed)
        step(optimizer, grads, scale)
        for n in p:
            g = grads[n] + wd * p[n]
            v[n] = mu * v[n] + g
            p[n] = p[n] - lrs[t] * ((g + mu * v[n]) if nesterov else v[n])
    for n, a in snapshot(net).items():
        np.testing.assert_allclose(a, p[n], rtol=1e-5, atol=1e-6)


def test_adamw_two_steps_match_numpy():
    """Bias-corrected Adam plus decoupled weight decay (MindCV's AdamW), with a loss scale."""
    net = make_net()
    p = snapshot(net)
    lr, wd, b1, b2, eps, scale = 0.01, 0.05, 0.9, 0.999, 1e-8, 16.0
    optimizer = create_optimizer(net, opt="adamw", lr=lr, weight_decay=wd, loss_scale=scale)
    assert isinstance(optimizer, AdamW)
    m = {n: np.zeros_like(a) for n, a in p.items()}
    v = {n: np.zeros_like(a) for n, a in p.items()}
    for t, seed in enumerate((1, 2), start=1):
        grads = random_grads(net, seed)
        step(optimizer, grads, scale)
        for n in p:
            m[n] = b1 * m[n] + (1 - b1) * grads[n]
            v[n] = b2 * v[n] + (1 - b2) * grads[n] ** 2
            update = (m[n] / (1 - b1 ** t)) / (eps + np.sqrt(v[n] / (1 - b2 ** t)))
            p[n] = p[n] - lr * (update + wd * p[n])
    for n, a in snapshot(net).items():
        np.testing.assert_allclose(a, p[n], rtol=1e-5, atol=1e-6)
    assert {q.name.split(".")[0] for q in optimizer.get_parameters()} >= {"adam_m", "adam_v", "beta1_power"}


@pytest.mark.parametrize("opt, cls", [("sgd", nn.SGD), ("adam", nn.Adam), ("rmsprop", nn.RMSProp),
                                      ("adagrad", nn.Adagrad), ("MOMENTUM", nn.Momentum)])
def test_other_optimizers_build_and_step(opt, cls):
    net = make_net()
    before = snapshot(net)
    optimizer = create_optimizer(net, opt=opt, lr=0.01, weight_decay=1e-4)
    assert isinstance(optimizer, cls)
    step(optimizer, random_grads(net, 1))
    after = snapshot(net)
    assert all(not np.array_equal(before[n], after[n]) for n in NAMES)


# --- loss scale rule ---------------------------------------------------------------------------------

@pytest.mark.parametrize("scale_type, drop, custom, expected", [
    ("fixed", False, False, 256.0),  # Model + FixedLossScaleManager(drop_overflow_update=False)
    ("fixed", True, False, 1.0),
    ("dynamic", True, False, 1.0),
    ("auto", False, False, 1.0),
    ("fixed", False, True, 1.0),  # a custom train step unscales itself
])
def test_optimizer_loss_scale_rule(scale_type, drop, custom, expected):
    assert optimizer_loss_scale(scale_type, 256, drop, custom) == expected


# --- state and errors ------------------------------------------------------------------------------------

def test_optimizer_state_round_trip(tmp_path):
    net = make_net()
    optimizer = create_optimizer(net, opt="momentum", lr=0.1)
    step(optimizer, random_grads(net, 1))
    path = str(tmp_path / "optim.ckpt")
    ms.save_checkpoint(optimizer, path)
    fresh = create_optimizer(make_net(), opt="momentum", lr=0.1, checkpoint_path=path)
    assert int(fresh.global_step.asnumpy()[0]) == 1
    np.testing.assert_array_equal(fresh.moments[0].asnumpy(), optimizer.moments[0].asnumpy())


@pytest.mark.parametrize("kwargs, error, phrase", [
    (dict(opt="lion"), ValueError, "allowed: " + ", ".join(OPTIMIZERS)),
    (dict(weight_decay_filter="bn"), ValueError, "allowed: " + ", ".join(WEIGHT_DECAY_FILTERS)),
    (dict(lr=[0.1, -0.1]), ValueError, "finite and >= 0"),
    (dict(lr=[]), ValueError, "non-empty 1-D"),
    (dict(weight_decay=-1), ValueError, "weight_decay and momentum must be >= 0"),
    (dict(loss_scale=0), ValueError, "loss_scale must be > 0"),
    (dict(opt="lamb"), ValueError, "no CPU kernel for lamb"),
    (dict(opt="momentum", nesterov=True), ValueError, "ignores use_nesterov"),
    (dict(opt="adamw", betas=(0.9, 0.9)), TypeError, "bad extra argument"),
    (dict(checkpoint_path="/no/such/optim.ckpt"), FileNotFoundError, "/no/such/optim.ckpt"),
])
def test_bad_arguments(kwargs, error, phrase):
    with pytest.raises(error) as exc:
        create_optimizer(make_net(), **kwargs)
    assert phrase in str(exc.value)


def test_no_parameters():
    with pytest.raises(ValueError, match="no parameters"):
        create_optimizer([], opt="momentum")
    frozen = make_net()
    for p in frozen.trainable_params():
        p.requires_grad = False
    with pytest.raises(ValueError, match="no parameters"):
        create_optimizer(frozen, opt="momentum")


def _peer_optim():
    """MindCV 0.3.0's optim package, loaded under another name from $MINDCV_PEER_PATH/mindcv/optim."""
    peer = os.environ.get("MINDCV_PEER_PATH", os.path.expanduser("~/.cache/mixnet-ms/peers/mindcv-0.3.0"))
    folder = os.path.join(peer, "mindcv", "optim")
    if not os.path.isfile(os.path.join(folder, "optim_factory.py")):
        pytest.skip(f"MindCV 0.3.0 peer not found at {peer} (set MINDCV_PEER_PATH; .ci/run installs it)")
    spec = importlib.util.spec_from_file_location("peer_mindcv_optim", os.path.join(folder, "__init__.py"),
                                                  submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("opt", ["momentum", "adamw"])
@pytest.mark.parametrize("filt", WEIGHT_DECAY_FILTERS)
def test_parity_with_mindcv(opt, filt):
    peer = _peer_optim()
    results = []
    for factory in (create_optimizer, peer.create_optimizer):
        net = make_net()
        optimizer = factory(net, opt=opt, lr=[0.1, 0.05], weight_decay=0.1, weight_decay_filter=filt, loss_scale=8.0)
        for seed in (1, 2):
            step(optimizer, random_grads(net, seed), 8.0)
        results.append(snapshot(net))
    for name in NAMES:
        np.testing.assert_array_equal(results[0][name], results[1][name])
