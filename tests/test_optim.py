"""create_optimizer: weight-decay filters, update rules against numpy, loss scale, errors."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor, nn

from mindcv.optim import (OPTIMIZERS, WEIGHT_DECAY_FILTERS, Adan, AdamW, Lion, NAdam, create_optimizer,
                          optimizer_loss_scale)
from tests.mindcv_peer import load_peer_package


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


# The papers' update rules in numpy, one parameter at a time. ``state`` is a dict the rule keeps its moments
# in; ``t`` counts updates from 1; ``decay`` says whether the weight-decay filter lets this parameter decay.

def np_lion(p, g, state, t, lr, wd, decay, b1=0.9, b2=0.99):
    """Chen et al. 2023, Algorithm 2: sign of the interpolated momentum, decoupled weight decay."""
    m = state.get("m", np.zeros_like(p))
    update = np.sign(b1 * m + (1 - b1) * g) + (wd * p if decay else 0.0)
    state["m"] = b2 * m + (1 - b2) * g
    return p - lr * update


def np_nadam(p, g, state, t, lr, wd, decay, b1=0.9, b2=0.999, eps=1e-8, psi=4e-3):
    """Dozat 2016 (as MindCV / PyTorch): L2 decay into g, momentum schedule mu_t, Nesterov look-ahead."""
    g = g + wd * p if decay else g
    mu = lambda k: b1 * (1 - 0.5 * 0.96 ** (k * psi))  # noqa: E731
    product = np.prod([mu(k) for k in range(1, t + 1)])
    m = b1 * state.get("m", np.zeros_like(p)) + (1 - b1) * g
    v = b2 * state.get("v", np.zeros_like(p)) + (1 - b2) * g * g
    state.update(m=m, v=v)
    m_hat = mu(t + 1) * m / (1 - product * mu(t + 1)) + (1 - mu(t)) * g / (1 - product)
    return p - lr * m_hat / (np.sqrt(v / (1 - b2 ** t)) + eps)


def np_adan(p, g, state, t, lr, wd, decay, b1=0.98, b2=0.92, b3=0.99, eps=1e-8):
    """Xie et al. 2022, Algorithm 1 (betas as the authors' code writes them, moments bias-corrected)."""
    d = g - state["g"] if t > 1 else np.zeros_like(g)
    m = b1 * state.get("m", np.zeros_like(p)) + (1 - b1) * g
    v = b2 * state.get("v", np.zeros_like(p)) + (1 - b2) * d
    n = b3 * state.get("n", np.zeros_like(p)) + (1 - b3) * (g + b2 * d) ** 2
    state.update(m=m, v=v, n=n, g=g)
    u = (m / (1 - b1 ** t) + b2 * v / (1 - b2 ** t)) / (np.sqrt(n / (1 - b3 ** t)) + eps)
    return (p - lr * u) / (1 + lr * wd) if decay else p - lr * u


def np_nesterov(p, g, state, t, lr, wd, decay, mu=0.9):
    """Momentum SGD with Nesterov momentum and L2 decay: v = mu*v + g'; p -= lr * (g' + mu*v)."""
    g = g + wd * p if decay else g
    state["v"] = mu * state.get("v", np.zeros_like(p)) + g
    return p - lr * (g + mu * state["v"])


NEW_RULES = {"lion": (np_lion, Lion, "lion_m"), "nadam": (np_nadam, NAdam, "nadam_m"),
             "adan": (np_adan, Adan, "moment3"), "nesterov": (np_nesterov, nn.SGD, "accum")}
# hyper-parameters away from the defaults where these make a rule's details invisible in three steps (Lion's
# sign hides a small momentum; NAdam's default schedule moves mu by 1e-4 per step): (optimizer's, rule's)
SENSITIVE = {"lion": (dict(beta1=0.99, beta2=0.5), dict(b1=0.99, b2=0.5)),
             "nadam": (dict(schedule_decay=0.5), dict(psi=0.5)),
             "adan": (dict(beta1=0.5, beta2=0.6, beta3=0.7), dict(b1=0.5, b2=0.6, b3=0.7)),
             "nesterov": (dict(momentum=0.5), dict(mu=0.5))}


@pytest.mark.parametrize("opt", sorted(NEW_RULES))
def test_new_optimizers_three_steps_match_the_papers(opt):
    """Three updates with a per-step lr, weight decay filtered by norm_and_bias, and a loss scale to remove."""
    rule, cls, state_prefix = NEW_RULES[opt]
    opt_kwargs, rule_kwargs = SENSITIVE[opt]
    net = make_net()
    p = snapshot(net)
    lrs, wd, scale = [0.01, 0.02, 0.005], 0.3, 32.0
    optimizer = create_optimizer(net, opt=opt, lr=lrs, weight_decay=wd, weight_decay_filter="norm_and_bias",
                                 loss_scale=scale, **opt_kwargs)
    assert isinstance(optimizer, cls)
    states = {n: {} for n in p}
    for t, seed in enumerate((1, 2, 3), start=1):
        grads = random_grads(net, seed)
        step(optimizer, grads, scale)
        for n in p:
            p[n] = rule(p[n].astype(np.float64), grads[n], states[n], t, lrs[t - 1], wd, n not in NORM | BIAS,
                        **rule_kwargs)
        for n, a in snapshot(net).items():
            np.testing.assert_allclose(a, p[n], rtol=2e-5, atol=2e-6, err_msg=f"{opt} step {t} {n}")
    assert any(q.name.startswith(state_prefix + ".") for q in optimizer.get_parameters())
    assert int(optimizer.global_step.asnumpy()[0]) == 3


def test_new_optimizers_with_one_constant_lr_and_mindspore_auto_filter():
    """Ungrouped parameters (weight_decay_filter auto), a float lr and the default hyper-parameters."""
    for opt, (rule, _, _) in NEW_RULES.items():
        net = make_net()
        p = snapshot(net)
        optimizer = create_optimizer(net, opt=opt, lr=0.01, weight_decay=0.2, weight_decay_filter="auto")
        states = {n: {} for n in p}
        for t, seed in enumerate((4, 5), start=1):
            grads = random_grads(net, seed)
            step(optimizer, grads)
            for n in p:
                p[n] = rule(p[n].astype(np.float64), grads[n], states[n], t, 0.01, 0.2, n not in NORM)
        for n, a in snapshot(net).items():
            np.testing.assert_allclose(a, p[n], rtol=2e-5, atol=2e-6, err_msg=f"{opt} {n}")


def test_nesterov_alias_is_momentum_with_use_nesterov(monkeypatch):
    """On Ascend/GPU the alias is MindSpore's Momentum with use_nesterov (ignored by its CPU kernel, hence SGD
    with nesterov there, checked against the rule above); plain momentum is not Nesterov."""
    from mindcv.optim import optim_factory

    real = optim_factory.ms.get_context
    monkeypatch.setattr(optim_factory.ms, "get_context",
                        lambda key: "Ascend" if key == "device_target" else real(key))
    ascend = create_optimizer(make_net(), opt="nesterov", lr=0.1, momentum=0.8)
    assert type(ascend) is nn.Momentum and ascend.use_nesterov and float(ascend.momentum.asnumpy()) == \
        pytest.approx(0.8)
    assert not create_optimizer(make_net(), opt="momentum", lr=0.1).use_nesterov
    monkeypatch.undo()
    results = []
    for kwargs in (dict(opt="nesterov"), dict(opt="sgd", nesterov=True)):
        net = make_net()
        optimizer = create_optimizer(net, lr=0.1, weight_decay=0.01, **kwargs)
        for seed in (1, 2):
            step(optimizer, random_grads(net, seed))
        results.append(snapshot(net))
    for name in NAMES:
        np.testing.assert_array_equal(results[0][name], results[1][name])


@pytest.mark.parametrize("opt, kwargs, phrase", [
    ("lion", dict(beta1=1.0), "Lion: beta1 must be in [0.0, 1.0)"),
    ("nadam", dict(schedule_decay=-1.0), "schedule_decay must be >= 0"),
    ("adan", dict(beta3=-0.1), "Adan: beta3 must be in [0.0, 1.0)"),
])
def test_new_optimizers_reject_bad_hyper_parameters(opt, kwargs, phrase):
    with pytest.raises(ValueError) as exc:
        create_optimizer(make_net(), opt=opt, **kwargs)
    assert phrase in str(exc.value)
    with pytest.raises(ValueError, match="loss_scale must be > 0"):
        NEW_RULES[opt][1](make_net().trainable_params(), loss_scale=0.0)


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


@pytest.mark.parametrize("opt", ["lion", "nadam", "adan"])
def test_new_optimizer_state_resumes_exactly(opt, tmp_path):
    """Saved after one update and restored into a fresh optimizer, the second update is the same as without
    the interruption (moments, step count, NAdam's mu product, Adan's previous gradient)."""
    net = make_net()
    optimizer = create_optimizer(net, opt=opt, lr=[0.01, 0.02], weight_decay=0.1)
    step(optimizer, random_grads(net, 1))
    path = str(tmp_path / "optim.ckpt")
    ms.save_checkpoint([{"name": p.name, "data": p} for p in list(optimizer.get_parameters()) + list(
        net.trainable_params())], path)
    step(optimizer, random_grads(net, 2))
    resumed_net = make_net()
    ms.load_param_into_net(resumed_net, ms.load_checkpoint(path))
    resumed = create_optimizer(resumed_net, opt=opt, lr=[0.01, 0.02], weight_decay=0.1, checkpoint_path=path)
    step(resumed, random_grads(resumed_net, 2))
    for name, value in snapshot(net).items():
        np.testing.assert_array_equal(snapshot(resumed_net)[name], value)


@pytest.mark.parametrize("kwargs, error, phrase", [
    (dict(opt="lbfgs"), ValueError, "allowed: " + ", ".join(OPTIMIZERS)),
    (dict(opt="nesterov", momentum=0.0), ValueError, "needs momentum > 0"),
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


@pytest.mark.parametrize("opt", ["momentum", "adamw"])
@pytest.mark.parametrize("filt", WEIGHT_DECAY_FILTERS)
def test_parity_with_mindcv(opt, filt):
    peer = load_peer_package("optim", "optim_factory.py")
    results = []
    for factory in (create_optimizer, peer.create_optimizer):
        net = make_net()
        optimizer = factory(net, opt=opt, lr=[0.1, 0.05], weight_decay=0.1, weight_decay_filter=filt, loss_scale=8.0)
        for seed in (1, 2):
            step(optimizer, random_grads(net, seed), 8.0)
        results.append(snapshot(net))
    for name in NAMES:
        np.testing.assert_array_equal(results[0][name], results[1][name])
