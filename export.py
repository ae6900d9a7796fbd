"""Export a checkpoint (or the published weights) for deployment: MINDIR, or ONNX.

    python export.py --model mixnet_s --ckpt_path FILE --format MINDIR
    python export.py -c configs/mixnet/mixnet_s_demo.yaml --ckpt_path FILE --format ONNX --export_file out/model.onnx

The exported graph is the network in inference mode: input float32 NCHW
(export_batch_size, in_channels, image_resize, image_resize), already resized, centre-cropped and normalised
with the recipe's mean/std; output the logits. The file is written atomically, then (``--verify True``) loaded
back — MINDIR through mindspore.load + nn.GraphCell, ONNX through onnxruntime when it is installed — and its
logits compared with the checkpointed model's on a fixed random input. MixConv layers are exported in
MindCV's ``split`` form (portable), or ``fused`` with ``--mixconv_impl fused``; ``native`` cannot be exported.
"""
import json
import os
import shutil
import sys
import tempfile
from typing import Any, Dict, Optional, Sequence

import mindcv  # noqa: F401  (CPU start-up tuning before MindSpore loads)
from config import Option, ToolOptions, parse_args
from mindcv.utils.logger import get_logger
from validate import EvalError, build_eval_model, hint_run_config, resolve_weights, run_tool, sha256_of

logger = get_logger("export")

SUFFIXES = {"MINDIR": ".mindir", "ONNX": ".onnx"}
VERIFY_RTOL = 1e-4  # --verify accepts |exported - model| <= VERIFY_RTOL * max(1, max |model logit|)

EXPORT_TOOL = ToolOptions(
    prog="export.py",
    description="Export a checkpoint to MINDIR (mindspore.load + nn.GraphCell) or ONNX, and check the logits",
    title="Export",
    options=(
        Option("file_format", "str", "MINDIR", "export format", choices=tuple(SUFFIXES), aliases=("format",)),
        Option("export_file", "str", "", "output file; empty: ./<model>.mindir or ./<model>.onnx (the suffix is "
               "added when missing)"),
        Option("export_batch_size", "int", 1, "batch dimension of the exported input", low=1),
        Option("verify", "bool", True, "load the exported file back and compare its logits with the model's"),
    ),
)


def export_path(args) -> str:
    """Absolute output path with the format's suffix."""
    suffix = SUFFIXES[args.file_format]
    path = os.path.abspath(os.path.expanduser(args.export_file or f"{args.model}{suffix}"))
    if os.path.isdir(path):
        raise EvalError(f"--export_file {path} is a directory; give a file name such as {path}/{args.model}{suffix}")
    return path if path.lower().endswith(suffix) else path + suffix


def sample_input(args):
    """A fixed random input of the exported shape (the same on every run, for reproducible checks)."""
    import numpy as np
    from mindspore import Tensor

    shape = (args.export_batch_size, args.in_channels, args.image_resize, args.image_resize)
    return Tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32))


def export_atomic(model, sample, path: str, file_format: str) -> str:
    """mindspore.export into a private temporary folder beside ``path``, then one rename into place."""
    import mindspore as ms

    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".export-", dir=directory)
    except OSError as err:
        raise EvalError(f"cannot write to {directory}: {err.strerror or err}; choose another --export_file") from err
    try:
        ms.export(model, sample, file_name=os.path.join(staging, "model"), file_format=file_format)
        produced = os.path.join(staging, "model" + SUFFIXES[file_format])
        if not os.path.isfile(produced):
            raise EvalError(f"mindspore.export wrote no {file_format} file (found: {os.listdir(staging)})")
        os.chmod(produced, 0o666 & ~_umask())  # MindSpore makes it owner-read-only; give it normal permissions
        os.replace(produced, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def _umask() -> int:
    """The process umask (read without changing it for long)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def run_exported(path: str, file_format: str, sample) -> Optional[Any]:
    """Logits of the exported file on ``sample`` (None for ONNX when onnxruntime is not installed)."""
    import mindspore as ms
    from mindspore import nn

    if file_format == "MINDIR":
        return nn.GraphCell(ms.load(path))(sample).asnumpy()
    try:
        import onnxruntime
    except ImportError:
        logger.warning("onnxruntime is not installed, so the ONNX file was not checked (pip install onnxruntime)")
        return None
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: sample.asnumpy()})[0]


def verify(model, path: str, file_format: str, sample) -> Optional[float]:
    """Max |logit difference| between the exported file and the model; an error above the tolerance."""
    import numpy as np

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


def _export(argv: Optional[Sequence[str]]) -> int:
    """Body of export.py."""
    from mindcv.utils.setup import set_context

    args = parse_args(argv, EXPORT_TOOL)
    impl = export_impl(args)
    path = export_path(args)
    set_context(args)
    weights = resolve_weights(args)
    hint_run_config(args, weights)
    model = build_eval_model(args, weights, mixconv_impl=impl)
    sample = sample_input(args)
    export_atomic(model, sample, path, args.file_format)
    diff = verify(model, path, args.file_format, sample) if args.verify else None
    record: Dict[str, Any] = {
        "file": path, "format": args.file_format, "sha256": sha256_of(path), "bytes": os.path.getsize(path),
        "input_shape": list(sample.shape), "input": "float32 NCHW, resized / centre-cropped / normalised",
        "mean": list(args.mean), "std": list(args.std), "crop_pct": args.crop_pct, "interpolation": args.interpolation,
        "model": args.model, "mixconv_impl": impl, "num_classes": weights.num_classes, "checkpoint": weights.path, "ema": weights.ema,
        "max_abs_diff": diff,
    }
    checked = "not checked" if diff is None else f"logits match the model within {diff:.2e}"
    logger.info("exported %s to %s (%d bytes, input %s); %s", args.file_format, path, record["bytes"],
                record["input_shape"], checked)
    print("EXPORTED " + json.dumps(record, sort_keys=True), flush=True)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: exit status 0 on success, 2 with a one-line message on bad input."""
    return run_tool("export.py", _export, argv)


if __name__ == "__main__":
    sys.exit(main())
