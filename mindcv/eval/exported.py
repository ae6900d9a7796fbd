"""Exported models as the weights to evaluate: an ONNX file (run by onnxruntime) or a MINDIR file (run by
MindSpore's ``nn.GraphCell``), chosen by the file's extension.

The preprocessing an export was made with travels with the file (ONNX: ``metadata_props``; MINDIR: the side file
``<file>.json``), with the model name, the number of classes and the class names, so validate.py and infer.py
need only ``--ckpt_path FILE``. An option set on the command line or in the -c file that contradicts the file is
refused (the graph was traced for one input size; other transforms would change its accuracy silently); an
option left at its default takes the file's value. This module imports MindSpore only to run a MINDIR file."""
import argparse
import json
import math
import os
from typing import Any, Dict, List, Optional

import numpy as np

from ..utils.io import write_json_atomic
from ..utils.logger import get_logger
from .base import EVAL_OPTIONS, EvalError, Weights
from .onnx_runner import OnnxModel, run_in_batches

logger = get_logger(__name__)

__all__ = ["EXPORT_SUFFIXES", "exported_format", "side_file", "export_metadata", "onnx_props", "write_side_file",
           "resolve_exported", "apply_exported_settings", "open_exported", "ExportedEvalStep", "MindirModel"]

EXPORT_SUFFIXES = {".onnx": "ONNX", ".mindir": "MINDIR"}
METADATA_VERSION = 1
# metadata keys that are not preprocessing: what the file holds and where it came from
_DESCRIPTIVE = ("model_name", "num_classes", "in_channels", "class_names", "input_shape", "dynamic_batch",
                "checkpoint", "checkpoint_sha256", "ema", "quantization")


def exported_format(path: str) -> Optional[str]:
    """``ONNX`` / ``MINDIR`` when ``path`` names an exported file (by its extension, any case), else None."""
    return EXPORT_SUFFIXES.get(os.path.splitext(str(path or ""))[1].lower())


def side_file(path: str) -> str:
    """The JSON file beside a MINDIR that holds its preprocessing metadata."""
    return path + ".json"


def export_metadata(args, num_classes: int, class_names: Optional[List[str]], input_shape, dynamic_batch: bool,
                    checkpoint: str, sha256: str, ema: bool, quantization: str = "none") -> Dict[str, Any]:
    """What an exported file records about itself: its preprocessing (the eval transforms) and its model."""
    meta: Dict[str, Any] = {"mindcv_export": METADATA_VERSION, "model_name": args.model, "num_classes": num_classes,
                            "in_channels": args.in_channels, "image_resize": args.image_resize,
                            "crop_pct": args.crop_pct, "interpolation": args.interpolation,
                            "mean": [float(v) for v in args.mean], "std": [float(v) for v in args.std],
                            "input_shape": [int(v) for v in input_shape], "dynamic_batch": bool(dynamic_batch),
                            "checkpoint": os.path.basename(checkpoint), "checkpoint_sha256": sha256,
                            "ema": bool(ema), "quantization": quantization}
    if class_names:
        meta["class_names"] = list(class_names)
    return meta


def onnx_props(meta: Dict[str, Any]) -> Dict[str, str]:
    """The metadata as ONNX ``metadata_props``: one key per field, each value JSON text."""
    return {key: json.dumps(value) for key, value in meta.items()}


def _decode_props(props: Dict[str, str]) -> Dict[str, Any]:
    """``metadata_props`` back to values (a value that is not JSON is kept as text)."""
    out = {}
    for key, text in props.items():
        try:
            out[key] = json.loads(text)
        except ValueError:
            out[key] = text
    return out


def write_side_file(path: str, meta: Dict[str, Any]) -> str:
    """Write the MINDIR's metadata to ``<path>.json`` (atomically, readable like the MINDIR beside it)."""
    written = write_json_atomic(side_file(path), meta)
    os.chmod(written, os.stat(path).st_mode & 0o777)
    return written


def _read_side_file(path: str) -> Dict[str, Any]:
    """The MINDIR's side file, {} when there is none."""
    side = side_file(path)
    if not os.path.isfile(side):
        return {}
    try:
        with open(side, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as err:
        raise EvalError(f"cannot read {side}, the preprocessing of {os.path.basename(path)}: {err}; export it "
                        f"again or delete the file to give the options yourself") from err
    if not isinstance(data, dict):
        raise EvalError(f"{side} should hold a JSON object (the export's preprocessing); export it again")
    return data


def _mindir_shapes(path: str) -> tuple:
    """(input shape, output shape) of a MINDIR file, read from its graph (dims of -1 are dynamic)."""
    import mindspore as ms  # function-local: only a MINDIR needs MindSpore here (the ONNX path runs without it)

    try:
        proto = ms.load_mindir(path)
    except (RuntimeError, ValueError, OSError) as err:
        raise EvalError(f"MindSpore cannot read {path} as a MINDIR file: {str(err).strip().splitlines()[0]}") from err
    graph = proto.graph
    inputs = [list(t.dims) for i in graph.input for t in i.tensor]
    outputs = [list(t.dims) for o in graph.output for t in o.tensor]
    if len(inputs) != 1 or len(inputs[0]) != 4 or not outputs:
        raise EvalError(f"{path} is not an image classifier: expected one NCHW input, found shapes {inputs}")
    return inputs[0], outputs[0]


def _check_file(path: str) -> str:
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(path):
        raise EvalError(f"exported model not found: {path} (--ckpt_path)")
    return path


def resolve_exported(args) -> Weights:
    """The exported file of --ckpt_path, opened far enough to know its classes and recorded preprocessing."""
    if args.pretrained:
        raise EvalError("give either --ckpt_path FILE or --pretrained True, not both")
    if args.ema:
        raise EvalError("--ema True selects a checkpoint's EMA weights; an exported file holds one set of weights "
                        "(export with --ema True to deploy the EMA weights): omit --ema")
    path = _check_file(args.ckpt_path)
    fmt = exported_format(path)
    handle = None
    if fmt == "ONNX":
        handle = OnnxModel(path, threads=getattr(args, "ort_threads", 0) or 0)
        meta, input_shape, output_shape = _decode_props(handle.metadata), handle.input_shape, handle.output_shape
    else:
        meta = _read_side_file(path)
        input_shape, output_shape = _mindir_shapes(path)
    num_classes = meta.get("num_classes")
    if not isinstance(num_classes, int):
        last = output_shape[-1] if output_shape else None
        if not isinstance(last, int) or last <= 0:
            raise EvalError(f"{path} records no num_classes and its output shape {output_shape} does not say: "
                            f"export it again with export.py")
        num_classes = last
    if args.num_classes is not None and args.num_classes != num_classes:
        raise EvalError(f"--num_classes {args.num_classes} but {path} has {num_classes} outputs; omit --num_classes")
    if not meta:
        logger.info("%s carries no export metadata (not written by export.py): the eval transforms come from the "
                    "options (image_resize, crop_pct, interpolation, mean, std)", path)
    settings = {key: meta[key] for key in EVAL_OPTIONS + ("model_name", "in_channels") if key in meta}
    size = input_shape[2] if len(input_shape) == 4 else None
    if "image_resize" not in settings and isinstance(size, int) and size > 0:
        settings["image_resize"] = size  # a traced graph fixes its input size
    file_meta = {"model_name": meta.get("model_name", ""), **{k: meta[k] for k in _DESCRIPTIVE if k in meta}}
    if isinstance(meta.get("class_names"), list):
        file_meta["class_names"] = json.dumps(meta["class_names"])  # as checkpoints store it
    return Weights(path, "exported", {}, file_meta, num_classes, False, False, format=fmt, settings=settings,
                   handle=handle)


def _same(a, b) -> bool:
    """Option values equal (numbers to float precision, lists element-wise)."""
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        a, b = list(a or ()), list(b or ())
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    return str(a).lower() == str(b).lower()


def apply_exported_settings(args: argparse.Namespace, weights: Weights) -> argparse.Namespace:
    """A copy of ``args`` with the file's recorded preprocessing and model; an explicitly set option that
    contradicts the file is an error naming both values."""
    explicit = set(getattr(args, "explicit_options", ()))
    name = os.path.basename(weights.path)
    changed = {}
    for key, value in weights.settings.items():
        option = "model" if key == "model_name" else key
        current = getattr(args, option)
        if _same(current, value):
            continue
        if option in explicit:
            raise EvalError(f"--{option} {current} contradicts {name}, exported with {option} {value}: omit "
                            f"--{option} (the file's own value is used), or export again with the value you want")
        changed[option] = value
    if changed:
        logger.info("settings recorded in %s: %s", name,
                    ", ".join(f"{k} {[round(x, 3) for x in v] if isinstance(v, list) else v}"
                              for k, v in changed.items()))
        args = argparse.Namespace(**{**vars(args), **changed})
    if getattr(args, "val_amp_level", "O0") != "O0":
        logger.info("--val_amp_level %s does not apply to an exported file (it runs at its own precision)",
                    args.val_amp_level)
    return args


class MindirModel:
    """A MINDIR classifier run by ``nn.GraphCell``: ``model(images)`` maps a float32 NCHW array to the logits
    (in chunks of the file's batch size, the last one padded)."""

    takes_arrays = True

    def __init__(self, path: str) -> None:
        import mindspore as ms  # function-local: only a MINDIR needs MindSpore here
        from mindspore import nn

        self.input_shape, _ = _mindir_shapes(path)
        self.graph = nn.GraphCell(ms.load(path))
        self.tensor = ms.Tensor
        batch = self.input_shape[0]
        self.fixed_batch = batch if batch > 0 else None

    def __call__(self, images) -> np.ndarray:
        images = np.ascontiguousarray(images.asnumpy() if hasattr(images, "asnumpy") else images, np.float32)
        return run_in_batches(lambda chunk: self.graph(self.tensor(chunk)).asnumpy(), images, self.fixed_batch)


def open_exported(weights: Weights):
    """The runnable model of an exported file: images (float32 NCHW array) -> logits (array)."""
    if weights.format == "ONNX":
        return weights.handle if weights.handle is not None else OnnxModel(weights.path)
    return MindirModel(weights.path)


class _Host:
    """A host array with the ``asnumpy()`` of a MindSpore Tensor (what ``engine.evaluate`` reads)."""

    __slots__ = ("value",)

    def __init__(self, value) -> None:
        self.value = np.asarray(value)

    def asnumpy(self) -> np.ndarray:
        return self.value


class ExportedEvalStep:
    """``engine.EvalStep`` for an exported model, computed on the host: per batch the summed cross-entropy, the
    top-1 and top-k hits, the number of real samples (``mask``) and the top-k classes."""

    def __init__(self, model, num_classes: int, topk: int = 5) -> None:
        self.model = model
        self.k = min(topk, num_classes)

    def set_train(self, mode: bool = True) -> "ExportedEvalStep":
        return self

    def __call__(self, image, label, mask):
        logits = np.asarray(self.model(image), np.float64)
        label = np.asarray(label.asnumpy()).reshape(-1).astype(np.int64)
        mask = np.asarray(mask.asnumpy(), np.float64)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = float((-log_probs[np.arange(len(label)), label] * mask).sum())
        top = np.argsort(-logits, axis=1, kind="stable")[:, :self.k]
        hits = (top == label[:, None]) * mask[:, None]
        return (_Host(loss), _Host(hits[:, 0].sum()), _Host(hits.sum()), _Host(mask.sum()),
                _Host(top.astype(np.int32)))
