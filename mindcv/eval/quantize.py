"""int8 post-training static quantization of an exported ONNX classifier with onnxruntime's quantization tools,
and the measurement that says whether it is good enough: accuracy of the float and int8 files on the validation
split, their top-1 agreement, sizes and speeds.

The float file is first brought to opset 13 (per-channel DequantizeLinear needs it; MindSpore exports opset 11)
with a dynamic batch axis and short node names, then pre-processed by onnxruntime (BatchNorm folded into the
preceding convolution where one precedes it), then quantized in QDQ form: the inputs and weights of every
convolution and of the classifier in int8 (weights per output channel, activations uint8), everything between
them (BatchNorm after a split convolution, swish, squeeze-excite gates, residual sums) in float. Calibration on
images of the training split; ``average_minmax`` (default) takes the mean of each batch's min / max, which on
MixNet-S beat the global min / max (outliers), entropy and percentiles (docs/performance.md has the measurements).
``keep_float`` names groups whose convolutions stay in float too: ``stem`` (the first convolution), ``se`` (both
1x1 convolutions of every squeeze-excite branch), ``classifier`` (the final fully connected layer)."""
import os
import shutil
import tempfile
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..data import FolderIndex
from ..engine import make_eval_loader_factory
from ..utils.distributed import DistInfo
from .base import QUANT_CALIBRATIONS, QUANT_FLOAT_GROUPS, EvalError
from .exported import onnx_props
from .index import build_val_index, evenly_spaced
from .onnx_runner import OnnxModel, append_onnx_metadata, import_quantization_tools

__all__ = ["KEEP_FLOAT_GROUPS", "CALIBRATION_METHODS", "quantize_int8", "compare_topk", "time_model", "float_nodes",
           "measure", "calibration_images", "quantize_and_measure"]

KEEP_FLOAT_GROUPS = QUANT_FLOAT_GROUPS
CALIBRATION_METHODS = QUANT_CALIBRATIONS
PERCENTILE = 99.9
_GROUP_WEIGHTS = {"stem": ("stem_conv",), "se": ("conv_reduce", "conv_expand"), "classifier": ("classifier",)}
QUANT_OPSET = 13


def _prepare(onnx, source: str, target: str) -> None:
    """``source`` at opset >= 13 with dynamic batch axes on its input and output, saved to ``target``."""
    model = onnx.load(source)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < QUANT_OPSET:
        from onnx import version_converter

        model = version_converter.convert_version(model, QUANT_OPSET)
    for value in list(model.graph.input[:1]) + list(model.graph.output[:1]):
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].dim_param = "batch"
    del model.metadata_props[:]  # the caller writes the int8 file's own metadata
    _short_names(model.graph)
    fold_concat_batchnorms(model.graph)
    onnx.save(model, target)


def compact_names(graph) -> None:
    """Short names for everything quantization added or renamed: nodes lose their names (optional in ONNX), tensors
    and initializers become base-36 numbers, shape annotations (value_info) go. Kept: the graph's input and output
    and the weights and biases a convolution or the classifier reads in float (``keep_float``: their names say
    which layer they are). The QDQ graph repeats every long name in three to five nodes and initializers: about
    0.2 MB (0.02x of the float file) of a 3.3 MB int8 mixnet_s."""
    kept = {v.name for v in graph.input} | {v.name for v in graph.output}
    floats = {init.name for init in graph.initializer if init.data_type == 1}  # FLOAT
    for node in graph.node:
        if node.op_type in ("Conv", "Gemm", "MatMul"):
            kept.update(name for name in node.input[1:] if name in floats)
    renamed: Dict[str, str] = {}

    def short(name: str) -> str:
        if not name or name in kept:
            return name
        if name not in renamed:
            number, digits = len(renamed), ""
            while True:
                number, rest = divmod(number, 36)
                digits = "0123456789abcdefghijklmnopqrstuvwxyz"[rest] + digits
                if number == 0:
                    break
            renamed[name] = "_" + digits
        return renamed[name]

    for node in graph.node:
        node.name = ""
        node.doc_string = ""
        node.input[:] = [short(name) for name in node.input]
        node.output[:] = [short(name) for name in node.output]
    for init in graph.initializer:
        init.name = short(init.name)
    del graph.value_info[:]


def fold_concat_batchnorms(graph) -> int:
    """Fold each BatchNormalization whose input is a Concat of convolutions (MixConv and the grouped 1x1 convs in
    MindCV's split graph) into those convolutions, as onnxruntime's pre-processing does for a BatchNorm right
    after one convolution; returns how many were folded. Otherwise each such BatchNorm stays in float in the int8
    file, four parameters per channel (0.02x of the float file for mixnet_s) and a pass over its activations."""
    from onnx import numpy_helper

    producers = {out: node for node in graph.node for out in node.output}
    consumers: Dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    weights = {init.name: init for init in graph.initializer}
    folded = 0
    for bn in [n for n in graph.node if n.op_type == "BatchNormalization"]:
        concat = producers.get(bn.input[0])
        if concat is None or concat.op_type != "Concat" or consumers.get(concat.output[0]) != 1 or \
                not all(name in weights for name in bn.input[1:5]) or len(bn.output) != 1:
            continue
        convs = [producers.get(name) for name in concat.input]
        if any(c is None or c.op_type != "Conv" or consumers.get(c.output[0]) != 1 or c.input[1] not in weights
               or (len(c.input) > 2 and c.input[2] not in weights) for c in convs):
            continue
        if any(a.name == "axis" and a.i != 1 for a in concat.attribute):
            continue
        eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
        gamma, beta, mean, var = (numpy_helper.to_array(weights[name]).astype(np.float64) for name in bn.input[1:5])
        scale = gamma / np.sqrt(var + eps)
        shift = beta - mean * scale
        start = 0
        for conv in convs:
            w = numpy_helper.to_array(weights[conv.input[1]]).astype(np.float64)
            part = slice(start, start + w.shape[0])
            start += w.shape[0]
            bias = numpy_helper.to_array(weights[conv.input[2]]).astype(np.float64) if len(conv.input) > 2 else 0.0
            weights[conv.input[1]].CopyFrom(numpy_helper.from_array(
                (w * scale[part].reshape(-1, *([1] * (w.ndim - 1)))).astype(np.float32), conv.input[1]))
            bias_name = conv.input[1] + "_bn_bias"
            new_bias = numpy_helper.from_array((bias * scale[part] + shift[part]).astype(np.float32), bias_name)
            graph.initializer.append(new_bias)
            weights[bias_name] = new_bias
            if len(conv.input) > 2:
                conv.input[2] = bias_name
            else:
                conv.input.append(bias_name)
        if start != len(scale):
            raise ValueError(f"BatchNorm {bn.name} has {len(scale)} channels, its convolutions {start}")
        concat.output[0] = bn.output[0]
        graph.node.remove(bn)
        folded += 1
    used = {name for node in graph.node for name in node.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)
    return folded


def _short_names(graph) -> None:
    """Short names for the nodes and intermediate tensors: MindSpore names them after their scope (80-character
    names such as ``10-Default/layers-SequentialCell/...``), which quantization copies into every Q/DQ node:
    about 0.4 MB of a 3.4 MB int8 mixnet_s. Graph inputs, outputs and weights keep their names."""
    kept = {v.name for v in graph.input} | {v.name for v in graph.output} | {i.name for i in graph.initializer}
    renamed = {}
    for index, node in enumerate(graph.node):
        node.name = f"{node.op_type}_{index}"
        for position, name in enumerate(node.output):
            if name not in kept:
                renamed[name] = node.output[position] = f"t{index}_{position}"
    for node in graph.node:
        for position, name in enumerate(node.input):
            if name in renamed:
                node.input[position] = renamed[name]
    for value in graph.value_info:
        if value.name in renamed:
            value.name = renamed[value.name]


def float_nodes(model, groups: Sequence[str]) -> List[str]:
    """Names of the convolution / classifier nodes of ``groups`` (see the module docstring), found through their
    weights' names, which keep the checkpoint's parameter names (``stem_conv.*``, ``*.conv_reduce.*`` and
    ``*.conv_expand.*`` of squeeze-excite, ``classifier.*``), also after BatchNorm folding renamed them."""
    weights = {init.name for init in model.graph.initializer}
    marks = [mark for group in groups for mark in _GROUP_WEIGHTS[group]]
    return sorted(node.name for node in model.graph.node if node.op_type in ("Conv", "Gemm", "MatMul")
                  and any(name in weights and any(mark in name for mark in marks) for name in node.input))


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over equal-sized batches of an image array."""

    def __init__(self, input_name: str, images: np.ndarray, batch: int) -> None:
        usable = (len(images) // batch) * batch or len(images)  # equal batches: the histogram collectors need them
        self.batches = iter([{input_name: images[i:i + batch]} for i in range(0, usable, batch)])

    def get_next(self):
        return next(self.batches, None)

    def rewind(self) -> None:  # not needed: each calibration reads the data once
        pass


def quantize_int8(float_path: str, out_path: str, calibration: np.ndarray, keep_float: Sequence[str] = (),
                  method: str = "average_minmax", op_types: Sequence[str] = ("Conv", "Gemm"), batch: int = 32,
                  metadata_props: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """Write the int8 QDQ model of the ONNX file ``float_path`` to ``out_path`` (atomically, with
    ``metadata_props``); returns what was done (nodes kept in float, calibration images and method)."""
    onnx, quantization = import_quantization_tools()
    unknown = sorted(set(keep_float) - set(KEEP_FLOAT_GROUPS))
    if unknown:
        raise EvalError(f"unknown float group(s) {unknown} (--quant_keep_float); choose from "
                        f"{', '.join(KEEP_FLOAT_GROUPS)} or none")
    if method not in CALIBRATION_METHODS:
        raise EvalError(f"unknown calibration method {method!r}; choose from {', '.join(CALIBRATION_METHODS)}")
    if len(calibration) == 0:
        raise EvalError("no calibration images: the training split is empty (--calib_samples, --train_split)")
    work = tempfile.mkdtemp(prefix=".quantize-", dir=os.path.dirname(os.path.abspath(out_path)))
    try:
        prepared, processed, quantized = (os.path.join(work, name) for name in ("op13.onnx", "pre.onnx", "q.onnx"))
        _prepare(onnx, float_path, prepared)
        quantization.quant_pre_process(prepared, processed, skip_symbolic_shape=True)
        excluded = float_nodes(onnx.load(processed), keep_float)
        input_name = onnx.load(processed).graph.input[0].name
        methods = {"average_minmax": quantization.CalibrationMethod.MinMax,
                   "minmax": quantization.CalibrationMethod.MinMax,
                   "entropy": quantization.CalibrationMethod.Entropy,
                   "percentile": quantization.CalibrationMethod.Percentile}
        quantization.quantize_static(
            processed, quantized, _Reader(input_name, np.asarray(calibration, np.float32), batch),
            quant_format=quantization.QuantFormat.QDQ, per_channel=True,
            activation_type=quantization.QuantType.QUInt8, weight_type=quantization.QuantType.QInt8,
            nodes_to_exclude=excluded, calibrate_method=methods[method], op_types_to_quantize=list(op_types) or None,
            extra_options={"CalibPercentile": PERCENTILE, "CalibMovingAverage": method == "average_minmax"})
        model = onnx.load(quantized)
        compact_names(model.graph)
        onnx.save(model, quantized)
        if metadata_props:
            append_onnx_metadata(quantized, metadata_props)
        os.replace(quantized, out_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"keep_float": list(keep_float), "float_nodes": len(excluded), "calib_samples": int(len(calibration)),
            "calibration": method, "quantized_ops": list(op_types) or "all",
            "scheme": "QDQ, weights int8 per channel, activations uint8 per tensor"}


def time_model(model, images: np.ndarray, repeats: int = 3) -> float:
    """Images per second of ``model`` on ``images`` (the best of ``repeats`` runs after one warm-up)."""
    model(images)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model(images)
        best = min(best, time.perf_counter() - start)
    return len(images) / best


def compare_topk(float_top: np.ndarray, int8_top: np.ndarray, labels: np.ndarray) -> Dict[str, float]:
    """Top-1 / top-k (%) of both models from their top-k classes [n, k] on the labelled images, and the share (%)
    of images whose top-1 class the two agree on."""
    def accuracy(top: np.ndarray, k: int) -> float:
        return float(100.0 * np.mean((top[:, :k] == labels[:, None]).any(axis=1)))

    k = float_top.shape[1]
    return {"float_top1": accuracy(float_top, 1), "float_top5": accuracy(float_top, k),
            "int8_top1": accuracy(int8_top, 1), "int8_top5": accuracy(int8_top, k),
            "top1_agreement": float(100.0 * np.mean(float_top[:, 0] == int8_top[:, 0])), "num_samples": len(labels)}


def _topk(logits: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-logits, axis=1, kind="stable")[:, :k]


def measure(float_model, int8_model, batches: Iterable[Tuple[np.ndarray, np.ndarray]], k: int) -> Dict[str, Any]:
    """Both models over labelled batches: accuracies, top-1 agreement and the images/s of each (on the first
    batch, best of three after a warm-up, the two timed alternately in one process)."""
    tops: List[List[np.ndarray]] = [[], []]
    labels, speeds = [], None
    for images, batch_labels in batches:
        if speeds is None:
            speeds = {"float_images_per_sec": time_model(float_model, images),
                      "int8_images_per_sec": time_model(int8_model, images), "timed_batch": int(len(images))}
        for store, model in zip(tops, (float_model, int8_model)):
            store.append(_topk(np.asarray(model(images)), k))
        labels.append(np.asarray(batch_labels).reshape(-1))
    if not labels:
        raise EvalError("the validation split is empty: nothing to compare the int8 model on")
    result = compare_topk(np.concatenate(tops[0]), np.concatenate(tops[1]), np.concatenate(labels))
    return {**result, **speeds, "speedup": speeds["int8_images_per_sec"] / speeds["float_images_per_sec"]}


def _batches(args, index, num_classes: int) -> Iterable[Tuple[np.ndarray, np.ndarray]]:
    """(images, labels) arrays of ``index`` through the eval loader (validate.py's preprocessing)."""
    for images, labels in make_eval_loader_factory(args, index, DistInfo(), num_classes)():
        yield images.asnumpy(), labels.asnumpy()


def calibration_images(args, count: int, num_classes: int) -> np.ndarray:
    """``count`` evenly spaced images of the training split, preprocessed with the eval transforms."""
    index = evenly_spaced(FolderIndex.scan(args.dataset, args.data_dir, args.train_split), count)
    return np.concatenate([images for images, _ in _batches(args, index, num_classes)])


def quantize_and_measure(args, weights, float_path: str, out_path: str, metadata: Dict[str, Any],
                         class_names: Optional[List[str]]) -> Dict[str, Any]:
    """The int8 file of ``float_path`` at ``out_path`` (calibrated on --calib_samples training images, with
    ``metadata``), and its comparison with the float file on the validation split (--num_samples of it)."""
    calibration = calibration_images(args, args.calib_samples, weights.num_classes)
    keep = [g for g in args.quant_keep_float.split(",") if g and g != "none"]
    info = quantize_int8(float_path, out_path, calibration, keep_float=keep, method=args.quant_calibration,
                         metadata_props=onnx_props(dict(metadata, quantization="int8")))
    index = build_val_index(args, weights.num_classes, class_names)
    result = measure(OnnxModel(float_path), OnnxModel(out_path), _batches(args, index, weights.num_classes),
                     min(5, weights.num_classes))
    sizes = {"float_bytes": os.path.getsize(float_path), "int8_bytes": os.path.getsize(out_path)}
    return {**info, **result, **sizes, "size_ratio": sizes["int8_bytes"] / sizes["float_bytes"]}
