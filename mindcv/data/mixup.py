"""Mixup and CutMix on whole batches, with one-hot (label-smoothed) soft targets, as MindCV applies them.

Per batch: with probability ``prob`` the batch is mixed, else it is left as is. When both alphas
are positive, CutMix is chosen with probability ``switch_prob``, else Mixup. The partner of image
i is image N-1-i (the batch reversed). Mixup: x = lam * x + (1 - lam) * reversed(x), lam ~
Beta(mixup_alpha, mixup_alpha). CutMix: a box of area ~(1 - lam) of the image, lam ~
Beta(cutmix_alpha, cutmix_alpha), is pasted from the partner and lam is corrected to the pasted
box's true area. Targets: lam * onehot(y) + (1 - lam) * onehot(reversed(y)), where onehot puts
1 - smoothing + smoothing / C on the class and smoothing / C elsewhere, so every row sums to 1.
"""
import threading
from typing import Optional, Tuple

import numpy as np

__all__ = ["Mixup", "mixup_target", "one_hot"]


def one_hot(labels: np.ndarray, num_classes: int, on_value: float = 1.0, off_value: float = 0.0) -> np.ndarray:
    """float32 (N, num_classes) one-hot rows of integer labels, with a clear error for out-of-range labels."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"label {int(labels.max() if labels.max() >= num_classes else labels.min())} is outside "
                         f"[0, num_classes={num_classes}): set num_classes to the dataset's class count")
    out = np.full((labels.size, num_classes), off_value, dtype=np.float32)
    out[np.arange(labels.size), labels] = on_value
    return out


def mixup_target(labels: np.ndarray, num_classes: int, lam: float = 1.0, smoothing: float = 0.0) -> np.ndarray:
    """Soft targets lam * onehot(y) + (1 - lam) * onehot(reversed(y)) with label smoothing folded in."""
    off_value = smoothing / num_classes
    on_value = 1.0 - smoothing + off_value
    y1 = one_hot(labels, num_classes, on_value, off_value)
    y2 = y1[::-1]
    return (y1 * lam + y2 * (1.0 - lam)).astype(np.float32)


class Mixup:
    """Batch-wise Mixup / CutMix callable for ``dataset.map(operations=..., input_columns=[image, label])``."""

    def __init__(
        self,
        mixup_alpha: float = 1.0,
        cutmix_alpha: float = 0.0,
        prob: float = 1.0,
        switch_prob: float = 0.5,
        label_smoothing: float = 0.1,
        num_classes: int = 1000,
        correct_lam: bool = True,
        seed: Optional[int] = None,
    ) -> None:
        if mixup_alpha < 0 or cutmix_alpha < 0 or mixup_alpha + cutmix_alpha <= 0:
            raise ValueError(f"Mixup needs mixup_alpha >= 0 and cutmix_alpha >= 0, one of them > 0; got "
                             f"mixup={mixup_alpha!r}, cutmix={cutmix_alpha!r}")
        for name, value in (("prob (cutmix_prob)", prob), ("switch_prob", switch_prob)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Mixup {name} must be in [0, 1], got {value!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        self.mixup_alpha = float(mixup_alpha)
        self.cutmix_alpha = float(cutmix_alpha)
        self.mix_prob = float(prob)
        self.switch_prob = float(switch_prob)
        self.label_smoothing = float(label_smoothing)
        self.num_classes = int(num_classes)
        self.correct_lam = correct_lam
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()  # the map may call from several worker threads

    def _draw(self) -> Tuple[float, bool]:
        """(lam, use_cutmix) for one batch; lam 1.0 means no mixing."""
        with self._lock:
            if self._rng.random() >= self.mix_prob:
                return 1.0, False
            use_cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha <= 0 or self._rng.random() < self.switch_prob)
            alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
            return float(self._rng.beta(alpha, alpha)), use_cutmix

    def _cutmix_box(self, height: int, width: int, lam: float) -> Tuple[int, int, int, int]:
        """A random box (top, bottom, left, right) of about (1 - lam) of the image, clipped to it."""
        cut = np.sqrt(1.0 - lam)
        cut_h, cut_w = int(height * cut), int(width * cut)
        with self._lock:
            cy, cx = int(self._rng.integers(0, height)), int(self._rng.integers(0, width))
        top, bottom = np.clip([cy - cut_h // 2, cy + cut_h // 2], 0, height)
        left, right = np.clip([cx - cut_w // 2, cx + cut_w // 2], 0, width)
        return int(top), int(bottom), int(left), int(right)

    def __call__(self, images: np.ndarray, labels: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Mix an NCHW float batch; return it with float32 (N, num_classes) soft targets."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4:
            raise ValueError(f"Mixup expects a batch of NCHW images, got shape {images.shape}")
        lam, use_cutmix = self._draw()
        if lam < 1.0:
            if use_cutmix:
                top, bottom, left, right = self._cutmix_box(images.shape[2], images.shape[3], lam)
                patch = images[::-1, :, top:bottom, left:right].copy()
                images = images.copy()
                images[:, :, top:bottom, left:right] = patch
                if self.correct_lam:
                    lam = 1.0 - (bottom - top) * (right - left) / float(images.shape[2] * images.shape[3])
            else:
                images = images * np.float32(lam) + images[::-1] * np.float32(1.0 - lam)
        return images, mixup_target(labels, self.num_classes, lam, self.label_smoothing)
