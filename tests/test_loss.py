"""create_loss against numpy: hard and soft targets, smoothing, reductions, aux logits, BCE."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor

from mindcv.loss import LOSSES, create_loss
from tests.mindcv_peer import load_peer_package

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


# --- asymmetric loss (Ridnik et al. 2021) and JSD cross entropy (Hendrycks et al. 2020): the papers' formulas ---

def np_softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(np_log_softmax(z))


def np_asl_single(z, targets, smoothing, gamma_pos=1.0, gamma_neg=4.0):
    """Per sample: the target class weighted (1 - p)^gamma_pos, the others p^gamma_neg (for one-hot targets)."""
    p = np_softmax(z)
    weight = (1 - p * targets - (1 - p) * (1 - targets)) ** (gamma_pos * targets + gamma_neg * (1 - targets))
    smoothed = targets * (1 - smoothing) + smoothing / z.shape[1]
    return -(smoothed * weight * np_log_softmax(z)).sum(axis=1)


def np_asl_multi(z, targets, gamma_pos=1.0, gamma_neg=4.0, clip=0.05, eps=1e-8):
    """Summed over batch and classes: positives (1 - q)^gamma_pos log q, negatives with q shifted by clip."""
    q = 1 / (1 + np.exp(-z))
    q_neg = np.minimum(1 - q + clip, 1.0)
    pos = targets * (1 - q) ** gamma_pos * np.log(np.maximum(q, eps))
    neg = (1 - targets) * (1 - q_neg) ** gamma_neg * np.log(np.maximum(q_neg, eps))
    return -(pos + neg).sum()


def np_jsd(z, labels, splits, smoothing, alpha=12.0):
    """CE of the first split + alpha * the mean KL of each split's softmax to their (clipped) mixture."""
    size = z.shape[0] // splits
    chunks = [z[i * size:(i + 1) * size] for i in range(splits)]
    targets = np.eye(z.shape[1])[labels[:size]] if labels.ndim == 1 else labels[:size]
    ce = np_ce(chunks[0], targets, smoothing).mean()
    probs = [np_softmax(c) for c in chunks]
    log_m = np.log(np.clip(np.mean(probs, axis=0), 1e-7, 1))
    kl = [(p * (np.log(p) - log_m)).sum() / size for p in probs]
    return ce + alpha * sum(kl) / splits


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_asl_single_label_matches_the_paper(data, smoothing):
    logits, labels, soft = data
    loss = create_loss("ASL_single_label", label_smoothing=smoothing)
    hard = np.eye(C)[labels]
    assert value(loss, logits, labels) == pytest.approx(np_asl_single(logits, hard, smoothing).mean(), rel=1e-5)
    assert value(loss, logits, hard.astype(np.float32)) == pytest.approx(value(loss, logits, labels), rel=1e-6)
    assert value(loss, logits, soft) == pytest.approx(np_asl_single(logits, soft, smoothing).mean(), rel=1e-5)
    summed = create_loss("asl_single_label", label_smoothing=smoothing, reduction="sum")
    assert value(summed, logits, labels) == pytest.approx(np_asl_single(logits, hard, smoothing).sum(), rel=1e-5)
    # the focusing: a confident right answer costs far less than under cross entropy
    assert value(loss, logits, labels) < value(create_loss("CE", label_smoothing=smoothing), logits, labels)


def test_asl_multi_label_matches_the_paper(data):
    logits, labels, _ = data
    rng = np.random.default_rng(4)
    multi = (rng.random((N, C)) < 0.3).astype(np.float32)
    loss = create_loss("asl_multi_label", label_smoothing=0.1)  # MindCV's multi-label ASL takes no smoothing
    assert value(loss, logits, multi) == pytest.approx(np_asl_multi(logits, multi), rel=1e-5)
    assert value(loss, logits, labels) == pytest.approx(np_asl_multi(logits, np.eye(C)[labels]), rel=1e-5)


@pytest.mark.parametrize("splits", [2, 3])
def test_jsd_matches_augmix(splits):
    rng = np.random.default_rng(5)
    size = 4
    logits = (rng.standard_normal((size * splits, C)) * 2).astype(np.float32)
    labels = np.tile(rng.integers(0, C, size), splits)
    loss = create_loss("jsd", label_smoothing=0.1, num_splits=splits)
    assert value(loss, logits, labels) == pytest.approx(np_jsd(logits, labels, splits, 0.1), rel=1e-5)
    soft = np.tile(rng.dirichlet(np.ones(C), size).astype(np.float32), (splits, 1))
    assert value(loss, logits, soft) == pytest.approx(np_jsd(logits, soft, splits, 0.1), rel=1e-5)
    # views that agree exactly leave only the clean split's cross entropy
    same = np.tile(logits[:size], (splits, 1))
    ce = create_loss("CE", label_smoothing=0.1)
    assert value(loss, same, labels) == pytest.approx(value(ce, logits[:size], labels[:size]), rel=1e-5)


def test_new_losses_train_in_graph_mode(data):
    """The three compile inside a graph (the train step's) and give the same values there."""
    logits, labels, _ = data
    ms.set_context(mode=ms.GRAPH_MODE)
    twice = np.concatenate([logits, logits[::-1]])
    jsd = create_loss("jsd", num_splits=2, label_smoothing=0.0)
    assert value(jsd, twice, np.tile(labels, 2)) == pytest.approx(np_jsd(twice, np.tile(labels, 2), 2, 0.0), rel=1e-5)
    asl = create_loss("asl_single_label", label_smoothing=0.1)
    assert value(asl, logits, labels) == pytest.approx(np_asl_single(logits, np.eye(C)[labels], 0.1).mean(),
                                                        rel=1e-5)
    grads = ms.grad(create_loss("asl_multi_label"))(Tensor(logits), Tensor(np.eye(C, dtype=np.float32)[labels]))
    assert np.all(np.isfinite(grads.asnumpy())) and np.abs(grads.asnumpy()).sum() > 0


def test_asymmetric_losses_agree_with_mindcv(data):
    """(MindCV 0.3.0's jsd cannot be compared: on MindSpore 2.10 it fails in ops.split, whose signature changed.)"""
    logits, labels, _ = data
    peer = load_peer_package("loss", "loss_factory.py")
    multi = (np.random.default_rng(6).random((N, C)) < 0.3).astype(np.float32)
    for name, y in (("asl_single_label", labels), ("asl_multi_label", multi)):
        theirs = peer.create_loss(name, label_smoothing=0.1)
        assert value(create_loss(name, label_smoothing=0.1), logits, y) == pytest.approx(value(theirs, logits, y),
                                                                                          rel=1e-5)


def test_jsd_rejects_a_batch_that_does_not_split():
    with pytest.raises(ValueError, match="does not split into 3 views"):
        value(create_loss("jsd"), np.zeros((4, C), np.float32), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="num_splits .aug_splits. must be an int >= 2"):
        create_loss("jsd", num_splits=1)


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
