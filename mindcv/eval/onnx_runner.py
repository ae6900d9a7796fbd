"""Running an ONNX file with onnxruntime (an optional dependency) and reading / writing the metadata that travels
with it, without importing MindSpore: the fast path of infer.py and the ONNX path of validate.py.

The metadata is the model's ``metadata_props`` (string key -> string value). It is written without the ``onnx``
package: a ModelProto is a protobuf message, and appending a serialised field to one adds that field (repeated
fields accumulate), so each key/value pair is appended to the file as field 14 (``metadata_props``), a
``StringStringEntryProto`` of ``key`` (1) and ``value`` (2)."""
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from .base import EvalError

__all__ = ["MISSING_ORT", "import_onnxruntime", "import_quantization_tools", "onnx_metadata_bytes",
           "append_onnx_metadata", "OnnxModel", "run_in_batches"]

MISSING_ORT = "onnxruntime is not installed: pip install onnxruntime (it runs ONNX files; optional otherwise)"
MISSING_QUANT_TOOLS = ("int8 quantization needs the onnx package and onnxruntime's quantization tools: "
                       "pip install onnx onnxruntime")
_METADATA_PROPS = 14  # ModelProto.metadata_props


def import_onnxruntime():
    """The onnxruntime module, or a one-line error saying how to install it."""
    try:
        import onnxruntime  # optional dependency: only ONNX files need it
    except ImportError as err:
        raise EvalError(MISSING_ORT) from err
    return onnxruntime


def import_quantization_tools():
    """(onnx, onnxruntime.quantization), or a one-line error naming the packages to install."""
    import_onnxruntime()
    try:
        import onnx  # optional dependencies: only int8 quantization needs them
        from onnxruntime import quantization
    except ImportError as err:
        raise EvalError(MISSING_QUANT_TOOLS) from err
    return onnx, quantization


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def onnx_metadata_bytes(props: Dict[str, str]) -> bytes:
    """The serialised ``metadata_props`` entries of ``props`` (to append to a ModelProto)."""
    return b"".join(_length_delimited(_METADATA_PROPS, _length_delimited(1, key.encode("utf-8"))
                                      + _length_delimited(2, value.encode("utf-8")))
                    for key, value in props.items())


def append_onnx_metadata(path: str, props: Dict[str, str]) -> None:
    """Add ``props`` to the ``metadata_props`` of the ONNX file at ``path`` (in place: call it on a staged file)."""
    with open(path, "ab") as f:
        f.write(onnx_metadata_bytes(props))


def _session_options(ort, threads: int):
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: onnxruntime's shape notes are not the user's concern
    if threads:
        options.intra_op_num_threads = threads
    return options


class OnnxModel:
    """An ONNX classifier: ``model(images)`` maps a float32 NCHW array to the logits (a fixed batch axis is served
    in chunks of its size, the last one padded)."""

    takes_arrays = True

    def __init__(self, path: str, threads: int = 0) -> None:
        ort = import_onnxruntime()
        try:
            self.session = ort.InferenceSession(path, _session_options(ort, threads),
                                                providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own classes for unreadable or invalid files
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise EvalError(f"onnxruntime cannot open {path}: {first}") from err
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise EvalError(f"{path} is not an image classifier: expected one NCHW input, found "
                            f"{[(i.name, i.shape) for i in inputs]}")
        self.path = path
        self.input_name = inputs[0].name
        self.input_shape: List[Any] = list(inputs[0].shape)  # ints, or a name / None for a dynamic axis
        self.output_shape: List[Any] = list(outputs[0].shape)
        self.metadata: Dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)

    @property
    def fixed_batch(self) -> Optional[int]:
        """The batch size the file was exported with, None when its batch axis is dynamic."""
        batch = self.input_shape[0]
        return batch if isinstance(batch, int) and batch > 0 else None

    def __call__(self, images) -> np.ndarray:
        images = np.ascontiguousarray(images.asnumpy() if hasattr(images, "asnumpy") else images, np.float32)
        return run_in_batches(lambda chunk: self.session.run(None, {self.input_name: chunk})[0], images,
                              self.fixed_batch)


def run_in_batches(run: Callable[[np.ndarray], np.ndarray], images: np.ndarray, batch: Optional[int]) -> np.ndarray:
    """``run`` over ``images`` in chunks of ``batch`` (the last one padded by repeating its last image), or
    in one call when ``batch`` is None."""
    if batch is None:
        return np.asarray(run(images))
    outs = []
    for start in range(0, images.shape[0], batch):
        chunk = images[start:start + batch]
        count = chunk.shape[0]
        if count < batch:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - count, axis=0)])
        outs.append(np.asarray(run(chunk))[:count])
    return np.concatenate(outs)

