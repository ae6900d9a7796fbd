"""create_loss against numpy: hard and soft targets, smoothing, reductions, aux logits, BCE."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor

from mindcv.loss import LOSSES, create_loss

N, C = 5, 7


@pytest.fixture(autouse=True)
def pynative():
    """Run in PyNative mode; give the next test the mode this one found."""
    previous = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    yield
    ms.set_context(mode=previous)


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((N, C)).astype(np.float32) * 2
    labels = rng.integers(0, C, N)
    soft = rng.random((N, C)).astype(np.float32)
    soft /= soft.sum(axis=1, keepdims=True)
    return logits, labels, soft


def np_log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def np_ce(z: np.ndarray, targets: np.ndarray, smoothing: float) -> np.ndarray:
    """Per-sample cross entropy against probability targets smoothed once."""
    smoothed = targets * (1 - smoothing) + smoothing / z.shape[1]
    return -(smoothed * np_log_softmax(z)).sum(axis=1)


def np_bce(z: np.ndarray, targets: np.ndarray, smoothing: float) -> np.ndarray:
    """Element-wise sigmoid binary cross entropy against smoothed targets."""
    t = targets * (1 - smoothing) + smoothing / z.shape[1]
    return np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))


def value(loss, logits, labels) -> float:
    """Run a loss cell on numpy inputs (int labels as int32)."""
    labels = Tensor(labels.astype(np.int32)) if labels.dtype.kind in "iu" else Tensor(labels)
    return float(loss(Tensor(logits) if isinstance(logits, np.ndarray) else logits, labels).asnumpy())


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_ce_hard_labels(data, smoothing, reduction):
    logits, labels, _ = data
    per_sample = np_ce(logits, np.eye(C)[labels], smoothing)
    expected = per_sample.mean() if reduction == "mean" else per_sample.sum()
    got = value(create_loss("CE", reduction=reduction, label_smoothing=smoothing), logits, labels)
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_ce_soft_targets_smoothed_once(data, smoothing):
    logits, _, soft = data
    got = value(create_loss("CE", label_smoothing=smoothing), logits, soft)
    assert got == pytest.approx(np_ce(logits, soft, smoothing).mean(), rel=1e-5)


def test_ce_mixup_targets_equal_mixed_losses(data):
    """Unsmoothed mixup targets lam*a + (1-lam)*b give lam*CE(a) + (1-lam)*CE(b), smoothing included."""
    logits, labels, _ = data
    other = (labels + 3) % C
    lam, smoothing = 0.3, 0.1
    mixed = (lam * np.eye(C)[labels] + (1 - lam) * np.eye(C)[other]).astype(np.float32)
    loss = create_loss("CE", label_smoothing=smoothing)
    assert value(loss, logits, mixed) == pytest.approx(
        lam * value(loss, logits, labels) + (1 - lam) * value(loss, logits, other), rel=1e-5)


def test_ce_int64_labels_and_fp16_logits(data):
    logits, labels, _ = data
    loss = create_loss("CE")
    out = loss(Tensor(logits.astype(np.float16)), Tensor(labels.astype(np.int64)))
    assert out.dtype == ms.float32
    expected = np_ce(logits.astype(np.float16).astype(np.float32), np.eye(C)[labels], 0.0).mean()
    assert float(out.asnumpy()) == pytest.approx(expected, rel=1e-4)


def test_ce_aux_logits(data):
    logits, labels, _ = data
    aux = logits[:, ::-1].copy()
    main_only = np_ce(logits, np.eye(C)[labels], 0.1).mean()
    aux_only = np_ce(aux, np.eye(C)[labels], 0.1).mean()
    with_aux = create_loss("CE", label_smoothing=0.1, aux_factor=0.4)
    assert value(with_aux, (Tensor(logits), Tensor(aux)), labels) == pytest.approx(main_only + 0.4 * aux_only,
                                                                                   rel=1e-5)
    without = create_loss("CE", label_smoothing=0.1)
    assert value(without, (Tensor(logits), Tensor(aux)), labels) == pytest.approx(main_only, rel=1e-5)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_bce_hard_and_soft(data, smoothing):
    logits, labels, soft = data
    loss = create_loss("bce", label_smoothing=smoothing)
    assert value(loss, logits, labels) == pytest.approx(np_bce(logits, np.eye(C)[labels], smoothing).mean(),
                                                        rel=1e-5)
    assert value(loss, logits, soft) == pytest.approx(np_bce(logits, soft, smoothing).mean(), rel=1e-5)


def test_ce_in_graph_mode(data):
    logits, labels, soft = data
    ms.set_context(mode=ms.GRAPH_MODE)
    loss = create_loss("CE", label_smoothing=0.1)
    assert value(loss, logits, labels) == pytest.approx(np_ce(logits, np.eye(C)[labels], 0.1).mean(), rel=1e-5)
    assert value(loss, logits, soft) == pytest.approx(np_ce(logits, soft, 0.1).mean(), rel=1e-5)


@pytest.mark.parametrize("kwargs, phrase", [
    (dict(name="focal"), "allowed: " + ", ".join(LOSSES)),
    (dict(label_smoothing=1.0), "label_smoothing must be in [0, 1)"),
    (dict(reduction="avg"), "reduction must be one of"),
    (dict(aux_factor=-1.0), "aux_factor must be >= 0"),
])
def test_bad_arguments(kwargs, phrase):
    with pytest.raises(ValueError) as exc:
        create_loss(**kwargs)
    assert phrase in str(exc.value)
