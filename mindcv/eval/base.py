"""What every evaluation path shares, without importing MindSpore: the user-error class and the description of
the weights to evaluate (a checkpoint, the published weights, or an exported ONNX / MINDIR file)."""
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..utils.cli import UserError
from ..utils.logger import get_logger

logger = get_logger(__name__)

__all__ = ["EvalError", "Weights", "checkpoint_class_names", "EVAL_OPTIONS", "QUANT_FLOAT_GROUPS", "QUANT_CALIBRATIONS"]

EVAL_OPTIONS = ("image_resize", "crop_pct", "interpolation", "mean", "std")  # what decides the eval transforms
QUANT_FLOAT_GROUPS = ("stem", "se", "classifier")  # what export.py --quant_keep_float may keep in float
QUANT_CALIBRATIONS = ("average_minmax", "minmax", "percentile", "entropy")  # export.py --quant_calibration


class EvalError(UserError):
    """A problem with the user's input to evaluation, inference or export (weights, data, options)."""


@dataclass
class Weights:
    """The weights to evaluate and what their file says about itself.

    ``format`` is ``checkpoint`` (``params`` holds the tensors), ``ONNX`` or ``MINDIR`` (an exported graph:
    ``params`` is empty, ``settings`` holds the preprocessing recorded at export, ``handle`` an opened
    onnxruntime session when one was needed to read the file)."""

    path: str
    origin: str  # "checkpoint", "pretrained" or "exported"
    params: Dict[str, Any]
    meta: Dict[str, Any]
    num_classes: int
    ema: bool
    has_ema: bool
    format: str = "checkpoint"
    settings: Dict[str, Any] = field(default_factory=dict)
    handle: Any = None

    @property
    def exported(self) -> bool:
        """True for an ONNX or MINDIR file."""
        return self.format != "checkpoint"


def checkpoint_class_names(weights: Weights) -> Optional[List[str]]:
    """Class names stored in the weights' ``class_names`` metadata (a JSON list), if any."""
    text = weights.meta.get("class_names")
    if not isinstance(text, str) or not text:
        return None
    try:
        names = json.loads(text)
    except ValueError:
        logger.warning("ignoring the class_names metadata of %s: not valid JSON", weights.path)
        return None
    if not isinstance(names, list) or len(names) != weights.num_classes:
        logger.warning("ignoring the class_names metadata of %s: not a list of %d names", weights.path,
                       weights.num_classes)
        return None
    return [str(name) for name in names]
