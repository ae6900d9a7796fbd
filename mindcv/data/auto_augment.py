"""timm / MindCV ``auto_augment`` strings, parsed and mapped onto MindSpore's native (C++) ops.

Grammar: ``<policy>[-<key><value>]...`` with sections in any order.

=====================  ============================================================================
policy                 native op it maps onto
=====================  ============================================================================
``randaug``            ``vision.RandAugment`` (torchvision's RandAugment, ``num_magnitude_bins=11``)
``autoaug``            ``vision.AutoAugment(AutoAugmentPolicy.IMAGENET)`` (the paper's ImageNet policy)
``autoaugr``           same as ``autoaug`` (timm's variant differs only in Posterize's direction)
``trivialaugwide``     ``vision.TrivialAugmentWide(num_magnitude_bins=31)``
=====================  ============================================================================

``randaug`` sections and how they map (timm semantics on the left):

* ``m<float>`` magnitude on timm's 0-10 scale (default 10) -> RandAugment magnitude bin ``m`` of 11
  bins (bin 10 = the op's maximum, as timm's level 10), clipped to [0, 10] like timm.
* ``n<int>`` ops per image (default 2). timm applies each chosen op with probability 0.5, so the
  number of ops applied is Binomial(n, 0.5): realised exactly as a ``RandomChoice`` between
  ``RandAugment(num_ops=k)`` for k = 0..n, each listed C(n, k) times.
* ``mstd<float>`` std of Gaussian noise on the magnitude (default 0.5, as MindCV; > 100 means
  uniform on [0, m]). No native equivalent: the magnitude is drawn per image (timm: per op) from
  the noise distribution rounded to integer bins, clipped to [0, mmax], and realised as a
  ``RandomChoice`` over RandAugment instances with replicated entries (probabilities quantised to
  1/40). E.g. m9-mstd0.5 -> bins 8 / 9 / 10 with probabilities 0.15 / 0.70 / 0.15.
* ``mmax<float>`` upper clip of the magnitude (default 10); values above 10 have no native
  equivalent and are rejected.
* ``inc<0|1>`` timm's "increasing" op variants. Native RandAugment always uses torchvision's ops,
  whose severity grows with magnitude (timm's inc1 behaviour); with inc0 timm's Posterize,
  Solarize, Color, Contrast, Brightness and Sharpness follow other tables, which have no native
  equivalent, so inc0 and inc1 map to the same op (logged).
* ``w<int>`` op choice weights (timm's weight set 0). No native equivalent: ops are chosen
  uniformly (logged).
* op set: torchvision's 14 ops (Identity, ShearX/Y, TranslateX/Y, Rotate, Brightness, Color,
  Contrast, Sharpness, Posterize, Solarize, AutoContrast, Equalize); timm's has Invert where this
  has Identity.

``autoaug``/``autoaugr`` accept ``mstd`` but the native policy has fixed magnitudes (logged);
``trivialaugwide`` accepts ``m31`` only (the native op samples bins 0-30 uniformly, as timm's
default). Fill colour and interpolation come from the recipe (ImageNet mean, e.g. bicubic).
Anything else (an unknown policy such as ``augmix`` or ``3a``, an unknown or malformed section)
raises ``ValueError`` naming the string.
"""
import math
from typing import List, Sequence, Tuple

from mindspore.dataset import transforms, vision
from mindspore.dataset.vision import Inter

# the grammar lives in choices (no MindSpore) so that config.py checks the option when it is parsed
from ..choices import AUGMENT_LEVEL_MAX as _LEVEL_MAX
from ..choices import AUTO_AUGMENT_POLICIES, AutoAugmentSpec, parse_auto_augment
from ..choices import TRIVIALAUG_BINS as _TA_BINS
from ..utils.logger import get_logger

__all__ = ["AutoAugmentSpec", "parse_auto_augment", "create_auto_augment", "magnitude_distribution",
           "SUPPORTED_POLICIES"]

_logger = get_logger(__name__)

SUPPORTED_POLICIES = AUTO_AUGMENT_POLICIES
_RA_BINS = _LEVEL_MAX + 1
_CHOICE_RESOLUTION = 40  # probabilities of the magnitude mixture are quantised to 1/40
# interpolations the native augment ops accept; the others map to their nearest kin
_AUGMENT_INTERPOLATION = {Inter.PILCUBIC: Inter.BICUBIC, Inter.ANTIALIAS: Inter.BILINEAR}


def _normal_cdf(x: float, mean: float, std: float) -> float:
    """P(X <= x) for X ~ N(mean, std)."""
    return 0.5 * (1.0 + math.erf((x - mean) / (std * math.sqrt(2.0))))


def magnitude_distribution(magnitude: float, std: float, upper: float) -> List[Tuple[int, float]]:
    """(integer level, probability) of timm's noisy magnitude clip(N(m, std), 0, upper), rounded to levels."""
    magnitude = min(max(magnitude, 0.0), upper)
    top = int(math.floor(upper))
    if std == 0:
        low = int(math.floor(magnitude))
        frac = magnitude - low
        pairs = [(low, 1.0 - frac)] + ([(low + 1, frac)] if frac > 0 and low + 1 <= top else [])
    elif math.isinf(std):  # uniform on [0, magnitude]
        if magnitude == 0:
            return [(0, 1.0)]
        edges = [min(max(k - 0.5, 0.0), magnitude) for k in range(top + 2)]
        pairs = [(k, (edges[k + 1] - edges[k]) / magnitude) for k in range(top + 1)]
    else:
        pairs = []
        for k in range(top + 1):
            lo = -math.inf if k == 0 else k - 0.5
            hi = math.inf if k == top else k + 0.5
            pairs.append((k, _normal_cdf(hi, magnitude, std) - _normal_cdf(lo, magnitude, std)))
    return [(k, p) for k, p in pairs if p > 1e-12]


def _quantise(weights: Sequence[float], total: int) -> List[int]:
    """Integer counts summing to total, proportional to weights (largest remainder)."""
    scaled = [w * total / sum(weights) for w in weights]
    counts = [int(math.floor(s)) for s in scaled]
    order = sorted(range(len(scaled)), key=lambda i: scaled[i] - counts[i], reverse=True)
    for i in order[:total - sum(counts)]:
        counts[i] += 1
    return counts


def _replicated_choice(ops: Sequence, weights: Sequence[float], total: int):
    """A native RandomChoice picking ops[i] with probability ~weights[i] (entries replicated)."""
    counts = _quantise(weights, total)
    entries = [op for op, c in zip(ops, counts) for _ in range(c)]
    distinct = {id(op) for op in entries}
    return entries[0] if len(distinct) == 1 else transforms.RandomChoice(entries)


def _native_interpolation(interpolation: Inter) -> Inter:
    """The interpolation to give the native augment ops (they reject PILCUBIC and ANTIALIAS)."""
    return _AUGMENT_INTERPOLATION.get(interpolation, interpolation)


def _rand_augment(spec: AutoAugmentSpec, interpolation: Inter, fill: Tuple[int, int, int]):
    """Native RandAugment mixture reproducing timm's op count and magnitude distributions."""
    levels = magnitude_distribution(spec.magnitude, spec.magnitude_std, spec.magnitude_max)
    by_count = []
    for k in range(spec.num_layers + 1):
        if k == 0:  # no op applied: the magnitude does not matter
            by_count.append(vision.RandAugment(0, 0, _RA_BINS, interpolation, fill))
            continue
        ops = [vision.RandAugment(k, level, _RA_BINS, interpolation, fill) for level, _ in levels]
        by_count.append(_replicated_choice(ops, [p for _, p in levels], _CHOICE_RESOLUTION))
    binomial = [math.comb(spec.num_layers, k) for k in range(spec.num_layers + 1)]
    return _replicated_choice(by_count, binomial, sum(binomial))


def _log_approximations(spec: AutoAugmentSpec, config: str) -> None:
    """Say once which parts of the string have no native equivalent."""
    notes = []
    if spec.policy == "randaug":
        if not spec.increasing:
            notes.append("inc0: native RandAugment uses the increasing-severity op tables (timm inc1)")
        if spec.weight_idx is not None:
            notes.append("w0: native RandAugment chooses ops uniformly (op weights ignored)")
        notes.append("Identity replaces timm's Invert; magnitude noise is drawn per image, not per op")
    elif spec.policy in ("autoaug", "autoaugr") and spec.magnitude_std > 0:
        notes.append("mstd: native AutoAugment uses the policy's fixed magnitudes")
    if notes:
        _logger.info(f"auto_augment={config!r} mapped onto MindSpore's native ops; " + "; ".join(notes))


def create_auto_augment(config: str, interpolation: Inter = Inter.BICUBIC,
                        fill_value: Tuple[int, int, int] = (124, 116, 104)):
    """One native (C++) operation implementing the auto_augment string on HWC uint8 images."""
    spec = parse_auto_augment(config)
    interpolation = _native_interpolation(interpolation)
    fill = tuple(int(min(255, max(0, round(v)))) for v in fill_value)
    _log_approximations(spec, config)
    if spec.policy == "randaug":
        return _rand_augment(spec, interpolation, fill)
    if spec.policy == "trivialaugwide":
        return vision.TrivialAugmentWide(_TA_BINS, interpolation, fill)
    return vision.AutoAugment(vision.AutoAugmentPolicy.IMAGENET, interpolation, fill)
