"""Exporting a model to MINDIR or ONNX: an atomic write of the file, then a check that it gives the model's logits."""
import os
import shutil
import tempfile
from typing import Any, Dict, Optional

import numpy as np

import mindspore as ms
from mindspore import Tensor, nn

from ..utils.logger import get_logger
from .base import EvalError
from .exported import onnx_props, write_side_file
from .onnx_runner import OnnxModel, append_onnx_metadata, import_onnxruntime

logger = get_logger(__name__)

__all__ = ["SUFFIXES", "VERIFY_RTOL", "export_path", "sample_input", "export_atomic", "verify", "export_impl",
           "float_staging_path"]

SUFFIXES = {"MINDIR": ".mindir", "ONNX": ".onnx"}
ONNX_INPUT, ONNX_OUTPUT = "image", "logits"  # names of the ONNX graph's input and output
VERIFY_RTOL = 1e-4  # --verify accepts |exported - model| <= VERIFY_RTOL * max(1, max |model logit|)


def export_path(args) -> str:
    """Absolute output path with the format's suffix (default ./<model>.<suffix>, ./<model>_int8.onnx for int8)."""
    suffix = SUFFIXES[args.file_format]
    stem = f"{args.model}_int8" if getattr(args, "quantize", "none") == "int8" else args.model
    path = os.path.abspath(os.path.expanduser(args.export_file or f"{stem}{suffix}"))
    if os.path.isdir(path):
        raise EvalError(f"--export_file {path} is a directory; give a file name such as {path}/{args.model}{suffix}")
    return path if path.lower().endswith(suffix) else path + suffix


def sample_input(args):
    """A fixed random input of the exported shape (the same on every run, for reproducible checks)."""
    shape = (args.export_batch_size, args.in_channels, args.image_resize, args.image_resize)
    return Tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32))


def _write(model, sample, stem: str, file_format: str, dynamic_batch: bool) -> None:
    """MINDIR through ``mindspore.export``; ONNX through ``mindspore.onnx.export``, which MindSpore 2.10 names as
    the replacement of ``export(file_format='ONNX')`` and which can leave the batch axis dynamic."""
    if file_format == "ONNX":
        axes = {ONNX_INPUT: {0: "batch"}} if dynamic_batch else None
        ms.onnx.export(model, sample, file_name=stem, input_names=[ONNX_INPUT], output_names=[ONNX_OUTPUT],
                       dynamic_axes=axes)
    else:
        ms.export(model, sample, file_name=stem, file_format=file_format)


def export_atomic(model, sample, path: str, file_format: str, dynamic_batch: bool = False,
                  metadata: Optional[Dict[str, Any]] = None) -> str:
    """Export into a private temporary folder beside ``path``, then one rename into place. ``metadata`` (the
    preprocessing and model, see ``exported.export_metadata``) goes into an ONNX file's metadata_props, or into
    the side file ``<path>.json`` of a MINDIR."""
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".export-", dir=directory)
    except OSError as err:
        raise EvalError(f"cannot write to {directory}: {err.strerror or err}; choose another --export_file") from err
    try:
        _write(model, sample, os.path.join(staging, "model"), file_format, dynamic_batch)
        produced = os.path.join(staging, "model" + SUFFIXES[file_format])
        if not os.path.isfile(produced):
            raise EvalError(f"mindspore.export wrote no {file_format} file (found: {os.listdir(staging)})")
        os.chmod(produced, 0o666 & ~_umask())  # MindSpore makes it owner-read-only; give it normal permissions
        if metadata and file_format == "ONNX":
            append_onnx_metadata(produced, onnx_props(metadata))
        os.replace(produced, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if metadata and file_format == "MINDIR":
        write_side_file(path, metadata)
    return path


def _umask() -> int:
    """The process umask (read without changing it for long)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def run_exported(path: str, file_format: str, sample) -> Optional[Any]:
    """Logits of the exported file on ``sample`` (None for ONNX when onnxruntime is not installed)."""
    if file_format == "MINDIR":
        return nn.GraphCell(ms.load(path))(sample).asnumpy()
    try:
        import_onnxruntime()
    except EvalError:
        logger.warning("onnxruntime is not installed, so the ONNX file was not checked (pip install onnxruntime)")
        return None
    return OnnxModel(path)(sample.asnumpy())


def verify(model, path: str, file_format: str, sample) -> Optional[float]:
    """Max |logit difference| between the exported file and the model; an error above the tolerance."""
    exported = run_exported(path, file_format, sample)
    if exported is None:
        return None
    expected = model(sample).asnumpy()
    if exported.shape != expected.shape:
        raise EvalError(f"the exported {file_format} file returns shape {exported.shape}, the model {expected.shape}")
    diff = float(np.abs(exported.astype(np.float64) - expected).max())
    tolerance = VERIFY_RTOL * max(1.0, float(np.abs(expected).max()))
    if not diff <= tolerance:
        raise EvalError(f"the exported {file_format} file's logits differ from the model's by up to {diff:.3g} "
                        f"(> {tolerance:.3g}): {path} is not faithful")
    return diff


def export_impl(args) -> str:
    """The MixConv implementation of the exported graph: ``split`` (MindCV's graph) unless ``fused`` was
    asked for; ``native`` is a custom operator of this machine's build that no MINDIR/ONNX reader has."""
    impl = getattr(args, "mixconv_impl", None)
    if impl == "native":
        raise EvalError("--mixconv_impl native cannot be exported: it is a C++ custom operator built on this "
                        "machine that MINDIR / ONNX readers cannot run; use split (default) or fused")
    return "fused" if impl == "fused" else "split"


def float_staging_path(path: str) -> str:
    """A hidden path beside ``path`` for the float ONNX file an int8 export starts from (removed afterwards)."""
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.float-{os.getpid()}.onnx")
