"""The eval transforms (decode, resize the short side, centre crop, normalise, CHW) in NumPy and Pillow, equal to
the last bit to MindSpore's ``vision.Decode / Resize / CenterCrop / Normalize / HWC2CHW`` for ``bilinear`` and
``bicubic``, so infer.py can run an ONNX file without starting MindSpore (about 2.5 s of a one-image run).

MindSpore's CPU resize is OpenCV's ``cv::resize`` on 8-bit images, reproduced here: source coordinates
``(dst + 0.5) * (1 / (dst_size / src_size)) - 0.5`` in float32, interpolation weights rounded to 11-bit fixed
point, a horizontal pass in integers, then a vertical pass as OpenCV's vectorised kernels do it (bilinear:
integer shifts; bicubic: a float32 multiply-add chain, rounded to nearest even). Pillow decodes JPEG, PNG
and BMP with the same libjpeg-turbo / zlib results as MindSpore's decoder (tests/eval compare the two)."""
import io
import math
from typing import Callable, Optional, Sequence, Tuple

import numpy as np

__all__ = ["LIGHT_INTERPOLATIONS", "light_eval_transform", "resize_short_side", "resize_uint8"]

LIGHT_INTERPOLATIONS = ("bilinear", "linear", "bicubic", "cubic")
_COEF_SCALE = 2048  # OpenCV's INTER_RESIZE_COEF_SCALE (11 fractional bits)
_F32 = np.float32


def _source_positions(src: int, dst: int) -> Tuple[np.ndarray, np.ndarray]:
    """Integer source index and float32 fraction of every output position (OpenCV's float arithmetic)."""
    scale = 1.0 / (dst / src)
    position = ((np.arange(dst) + 0.5) * scale - 0.5).astype(_F32)
    index = np.floor(position).astype(np.int64)
    return index, (position - index.astype(_F32)).astype(_F32)


def _fixed(weights: np.ndarray) -> np.ndarray:
    """Float weights to OpenCV's 11-bit fixed point (``saturate_cast<short>`` rounds to nearest even)."""
    return np.rint(weights * _F32(_COEF_SCALE)).astype(np.int64)


def _linear_taps(src: int, dst: int, clamp_fraction: bool) -> Tuple[np.ndarray, np.ndarray]:
    """(indices [dst, 2], fixed-point weights [dst, 2]). Horizontally OpenCV moves an out-of-range position onto
    the edge pixel with weight 1; vertically it keeps the fraction and repeats the edge row."""
    index, frac = _source_positions(src, dst)
    if clamp_fraction:
        low, high = index < 0, index >= src - 1
        frac = np.where(low | high, _F32(0), frac).astype(_F32)
        index = np.where(low, 0, np.where(high, src - 1, index))
    weights = np.stack([(_F32(1) - frac).astype(_F32), frac], axis=1)
    taps = np.clip(index[:, None] + np.arange(2)[None, :], 0, src - 1)
    return taps, _fixed(weights)


def _cubic_taps(src: int, dst: int) -> Tuple[np.ndarray, np.ndarray]:
    """(indices [dst, 4], fixed-point weights [dst, 4]) of OpenCV's bicubic kernel (A = -0.75), edges repeated."""
    index, x = _source_positions(src, dst)
    a, one = _F32(-0.75), _F32(1)
    x1 = (x + one).astype(_F32)
    c0 = ((a * x1 - _F32(5) * a) * x1 + _F32(8) * a) * x1 - _F32(4) * a
    c1 = ((a + _F32(2)) * x - (a + _F32(3))) * x * x + one
    y = (one - x).astype(_F32)
    c2 = ((a + _F32(2)) * y - (a + _F32(3))) * y * y + one
    c3 = one - c0 - c1 - c2
    weights = np.stack([c0, c1, c2, c3], axis=1).astype(_F32)
    taps = np.clip(index[:, None] + np.arange(-1, 3)[None, :], 0, src - 1)
    return taps, _fixed(weights)


def resize_uint8(image: np.ndarray, height: int, width: int, interpolation: str) -> np.ndarray:
    """An HWC uint8 image resized to (height, width) exactly as MindSpore's CPU ``vision.Resize`` does it."""
    cubic = interpolation in ("bicubic", "cubic")
    if cubic:
        (rows, row_w), (cols, col_w) = _cubic_taps(image.shape[0], height), _cubic_taps(image.shape[1], width)
    else:
        rows, row_w = _linear_taps(image.shape[0], height, clamp_fraction=False)
        cols, col_w = _linear_taps(image.shape[1], width, clamp_fraction=True)
    pixels = image.astype(np.int64)
    horizontal = sum(pixels[:, cols[:, k]] * col_w[None, :, k, None] for k in range(cols.shape[1]))
    if cubic:  # float32: S_k * (beta_k / 2048^2) added from the last tap, each product and sum rounded
        scale = _F32(1.0 / (_COEF_SCALE * _COEF_SCALE))
        betas = (row_w.astype(_F32) * scale).astype(_F32)
        acc = np.zeros(horizontal[rows[:, 0]].shape, _F32)
        for k in (3, 2, 1, 0):
            acc = (horizontal[rows[:, k]].astype(_F32) * betas[:, k, None, None] + acc).astype(_F32)
        out = np.rint(acc)
    else:  # integers: ((b0 * (S0 >> 4)) >> 16) + ((b1 * (S1 >> 4)) >> 16) + 2) >> 2
        b0, b1 = row_w[:, 0, None, None], row_w[:, 1, None, None]
        out = (((b0 * (horizontal[rows[:, 0]] >> 4)) >> 16) + ((b1 * (horizontal[rows[:, 1]] >> 4)) >> 16) + 2) >> 2
    return np.clip(out, 0, 255).astype(np.uint8)


def resize_short_side(image: np.ndarray, size: int, interpolation: str) -> np.ndarray:
    """The short side resized to ``size``, the long side to floor(long * size / short) (MindSpore's Resize(int))."""
    height, width = image.shape[:2]
    if height <= width:
        target = (size, int(math.floor(width * size / height)))
    else:
        target = (int(math.floor(height * size / width)), size)
    if target == (height, width):
        return image
    return resize_uint8(image, target[0], target[1], interpolation)


def _decode(data: np.ndarray) -> np.ndarray:
    """Encoded bytes to an HWC uint8 RGB array (RuntimeError naming a decode failure, as MindSpore's Decode)."""
    from PIL import Image  # a declared dependency (requirements.txt); imported on first use

    try:
        with Image.open(io.BytesIO(data.tobytes())) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as err:
        raise RuntimeError(f"image decode failed: {err}") from err


def light_eval_transform(image_resize: int, crop_pct: float, interpolation: str, mean: Sequence[float],
                         std: Sequence[float]) -> Optional[Callable[[np.ndarray], np.ndarray]]:
    """The eval transforms as one callable on encoded image bytes (uint8 array) returning CHW float32, or None
    when ``interpolation`` is one this module does not reproduce (the caller then uses MindSpore's)."""
    if str(interpolation).lower() not in LIGHT_INTERPOLATIONS:
        return None
    mean32, std32 = np.asarray(mean, _F32), np.asarray(std, _F32)
    crop = int(image_resize)
    resize_size = int(math.floor(crop / crop_pct))  # as transforms_factory.eval_resize_size
    mode = str(interpolation).lower()

    def transform(data: np.ndarray) -> np.ndarray:
        image = resize_short_side(_decode(data), resize_size, mode)
        top, left = (image.shape[0] - crop) // 2, (image.shape[1] - crop) // 2
        image = image[top:top + crop, left:left + crop]
        return np.ascontiguousarray(((image.astype(_F32) - mean32) / std32).transpose(2, 0, 1))

    return transform
