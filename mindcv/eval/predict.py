"""Classifying image files: collect them, preprocess each with the recipe's eval transforms (an image that cannot
be decoded is reported, not fatal), and take the top-k classes of the model's softmax.

MindSpore is imported only where it is used (its transforms, a MindSpore model): with an ONNX file and the NumPy
eval transforms of ``light_transform`` infer.py runs without starting it."""
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .base import EvalError, Weights
from .light_data import IMAGE_EXTENSIONS, data_module, image_files_recursive
from .light_transform import light_eval_transform

__all__ = ["Prediction", "collect_images", "preprocess", "classify", "format_prediction", "eval_transform",
           "as_json"]


@dataclass
class Prediction:
    """The top-k classes of one image."""

    image: str
    classes: List[int]
    probabilities: List[float]


def collect_images(paths: Sequence[str]) -> List[str]:
    """The image files named, folders searched recursively (sorted); a missing path or an empty folder is an error."""
    files: List[str] = []
    for path in paths:
        if os.path.isdir(path):
            found = image_files_recursive(path)
            if not found:
                raise EvalError(f"folder {path} holds no image files (looked for {', '.join(IMAGE_EXTENSIONS)})")
            files.extend(found)
        elif os.path.exists(path):  # a file; one that is not a regular file is refused when read
            files.append(path)
        else:
            raise EvalError(f"image or folder not found: {path}")
    return files


def preprocess(path: str, transform) -> Tuple[Optional[Any], str]:
    """(CHW float32 array, "") for a decodable image, (None, reason) for one that cannot be read or decoded."""
    data, reason = data_module("image_check").read_image_file(path)  # before MindSpore's decoder: damaged
    # headers, decompression bombs, devices and FIFOs
    if reason:
        return None, reason
    try:
        return transform(np.frombuffer(data, dtype=np.uint8)), ""
    except RuntimeError as err:
        detail = "image decode failed" if "decode" in str(err).lower() else str(err).strip().splitlines()[-1]
        return None, f"cannot decode the image ({detail})"


def softmax(logits):
    """Row-wise softmax in float64."""
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _logits(model, images: np.ndarray) -> np.ndarray:
    """The model's logits for a batch: exported models take arrays, MindSpore cells take Tensors."""
    if getattr(model, "takes_arrays", False):
        return np.asarray(model(images))
    from mindspore import Tensor  # function-local: only a MindSpore model needs it

    return model(Tensor(images)).asnumpy()


def classify(model, arrays: List[Any], batch_size: int, topk: int) -> List[Tuple[List[int], List[float]]]:
    """Top-k (classes, probabilities) of each preprocessed image; batches padded to one size (one graph)."""
    results = []
    for start in range(0, len(arrays), batch_size):
        chunk = np.stack(arrays[start:start + batch_size])
        count = chunk.shape[0]
        if count < batch_size:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - count, axis=0)])
        probs = softmax(_logits(model, chunk))[:count]
        for row in probs:
            order = np.argsort(-row, kind="stable")[:topk]
            results.append(([int(i) for i in order], [float(row[i]) for i in order]))
    return results


def format_prediction(prediction: Prediction, names: List[str]) -> str:
    """The image path, then one line per class: rank, probability, name and label index."""
    lines = [prediction.image]
    for rank, (index, prob) in enumerate(zip(prediction.classes, prediction.probabilities), 1):
        lines.append(f"  {rank}. {100.0 * prob:6.2f} %  {names[index]}  (class {index})")
    return "\n".join(lines)


def eval_transform(args, light: bool = False) -> Callable:
    """The recipe's eval transforms as one callable on encoded image bytes. ``light``: the NumPy transforms (equal
    to MindSpore's, without starting it) when they cover the interpolation; otherwise MindSpore's."""
    if light:
        transform = light_eval_transform(args.image_resize, args.crop_pct, args.interpolation, args.mean, args.std)
        if transform is not None:
            return transform
    from mindspore.dataset.transforms import Compose  # function-local: the light path runs without MindSpore

    from ..data import create_transforms

    try:
        return Compose(create_transforms(args.dataset, image_resize=args.image_resize, is_training=False,
                                         interpolation=args.interpolation, crop_pct=args.crop_pct,
                                         mean=list(args.mean), std=list(args.std)))
    except ValueError as err:
        raise EvalError(f"cannot build the eval transforms: {err}") from err


def as_json(predictions: List[Prediction], failures: List[Dict[str, str]], names: List[str], weights: Weights,
            source: str) -> Dict[str, Any]:
    """Predictions and failures as a JSON-able dict."""
    return {
        "checkpoint": weights.path, "format": weights.format, "ema": weights.ema, "num_classes": weights.num_classes,
        "class_names_from": source,
        "predictions": [{"image": p.image, "top": [{"class": c, "name": names[c], "probability": q}
                                                   for c, q in zip(p.classes, p.probabilities)]}
                        for p in predictions],
        "errors": failures,
    }
