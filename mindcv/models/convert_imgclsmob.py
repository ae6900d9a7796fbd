"""Convert PaddleClas (.pdparams) and pytorchcv / imgclsmob (.pth) MixNet-S/M/L weights into MindSpore checkpoints.

Both libraries build MixNet with timm's mathematics - swish blocks, swish inside squeeze-excite of width
in_channels x ratio, symmetric k//2 padding, BN eps 1e-5, L = M at width 1.3 with a 1536-wide head - so their
weights load into ``timm_mixnet_s/m/l``. Their 7x7 average pool equals our global pooling wherever their
model runs (a 7x7 final map: inputs of 193-224 pixels). The parameter names are imgclsmob's:

    features.init_block.conv1.{conv,bn}           -> stem_conv.{0,1}
    features.init_block.conv2                     -> layers.0 (the first, unexpanded block)
    features.stage{1..4}.unit{j}                  -> layers.1..  (stage 4 holds the 120- and 200-channel blocks)
      exp_conv / conv1 / se / conv2 (.conv[.g], .bn)  -> expand 1x1 / MixConv / squeeze-excite / project 1x1
      se.conv1 / se.conv2                         -> conv_reduce / conv_expand
    features.final_block.{conv,bn}                -> head_conv.{0,1}
    output                                        -> classifier

BatchNorm statistics are ``running_mean`` / ``running_var`` in PyTorch files and ``_mean`` / ``_variance`` in
Paddle's; Paddle stores the classifier weight as [in, out] (transposed here).

A ``.pdparams`` file is a pickle of a dict name -> numpy array (``paddle.save``). It is read without Paddle and
through an unpickler that builds only numpy arrays, dtypes and plain containers: any other object in the file
is refused. ``.pth`` files are read with torch, which is needed only for them.
"""
import io
import os
import pickle
import re
from importlib import import_module
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from mindspore import nn

from ..utils.checkpoint import CheckpointNotFound, save_checkpoint_atomic
from ..utils.io import file_sha256
from ..utils.logger import get_logger
from . import mixnet
from .convert import ConversionError, checkpoint_meta, read_state_dict
from .layers.mixconv import GroupedConv2d, MixConv2d
from .layers.squeeze_excite import SqueezeExcite
from .weights_doc import eval_settings, weights_entries

logger = get_logger(__name__)

__all__ = ["SOURCES", "read_pdparams", "read_imgclsmob_weights", "imgclsmob_name_map", "convert_imgclsmob_state_dict",
           "detect_variant", "convert_imgclsmob_checkpoint", "source_of_file", "guess_source", "weights_key",
           "eval_settings_for"]

ArrayDict = Dict[str, np.ndarray]

SOURCES = ("paddleclas", "imgclsmob")
PDPARAMS_SUFFIXES = (".pdparams",)
# Target variant of each source model, told apart by the stem width (MixNet-S 16, M 24, L = M x 1.3 -> 32).
VARIANTS = {"timm_mixnet_s": 16, "timm_mixnet_m": 24, "timm_mixnet_l": 32}
_STEM = "features.init_block.conv1.conv.weight"
_HEAD = "output.weight"
_BN_FIELDS = {  # MindSpore name -> (PyTorch name, Paddle name)
    "gamma": ("weight", "weight"), "beta": ("bias", "bias"),
    "moving_mean": ("running_mean", "_mean"), "moving_variance": ("running_var", "_variance"),
}
_SE_FIELDS = {"conv_reduce": "conv1", "conv_expand": "conv2"}
_CELL_WRAPPERS = ("grouped_conv", "mixed_depthwise_conv")
# Entries that carry no weights: PyTorch BN counters; Paddle's table of internal parameter names.
_IGNORED_SUFFIXES = ("num_batches_tracked",)
_PADDLE_NAME_TABLE = "StructuredToParameterName@@"
_PADDLE_SPLIT_TABLE = "UnpackBigParamInfor@@"
_MAX_LISTED = 6


# ----------------------------------------------------------------------------------------------- reading .pdparams


def _numpy_global(module: str, name: str) -> Any:
    """A numpy object named in a pickle, accepting numpy 1 ('numpy.core') and numpy 2 ('numpy._core') paths."""
    for candidate in (module, module.replace("numpy._core", "numpy.core"), module.replace("numpy.core", "numpy._core")):
        try:
            return getattr(import_module(candidate), name)
        except (ImportError, AttributeError):
            continue
    raise AttributeError(f"{module}.{name}")


# The only callables a .pdparams pickle may name: array reconstruction, dtypes, scalars, OrderedDict and the
# latin-1 'bytes' encoder of pickle protocol 2. Nothing here runs code or touches files.
_ALLOWED_GLOBALS: Dict[Tuple[str, str], Callable[[], Any]] = {
    **{(mod, "_reconstruct"): (lambda m=mod: _numpy_global(m, "_reconstruct"))
       for mod in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(mod, "scalar"): (lambda m=mod: _numpy_global(m, "scalar"))
       for mod in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(mod, "_frombuffer"): (lambda m=mod: _numpy_global(m, "_frombuffer"))
       for mod in ("numpy.core.numeric", "numpy._core.numeric")},
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("collections", "OrderedDict"): lambda: __import__("collections").OrderedDict,
    ("_codecs", "encode"): lambda: __import__("codecs").encode,
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """An unpickler that resolves only ``_ALLOWED_GLOBALS``; any other class or function is refused."""

    def __init__(self, file: io.BufferedIOBase, path: str) -> None:
        super().__init__(file)
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        factory = _ALLOWED_GLOBALS.get((module, name))
        if factory is None:
            raise ConversionError(
                f"{self._path} holds a pickled {module}.{name}, not only numpy arrays: refused (a .pdparams file of "
                f"weights is a dict of arrays; re-save it with paddle.save(model.state_dict(), path))")
        return factory()

    def persistent_load(self, pid: Any) -> Any:
        raise ConversionError(f"{self._path} uses pickle persistent ids (a PyTorch file?), not a .pdparams dict of "
                              "numpy arrays: refused")


def read_pdparams(path: str) -> ArrayDict:
    """The arrays of a PaddleClas / ``paddle.save`` .pdparams file, without Paddle and without running pickled code.

    Floating-point arrays come back as float32. Paddle's name table entry is skipped; anything but a dict of
    numpy arrays is a ConversionError naming the file.
    """
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isfile(path):
        raise CheckpointNotFound(f"weight file not found: {path}")
    try:
        with open(path, "rb") as f:
            obj = _ArraysOnlyUnpickler(f, path).load()
    except ConversionError:
        raise
    except Exception as exc:  # truncated files, zip archives (.pdparams.zip / .pth), other formats
        raise ConversionError(f"{path} is not a readable .pdparams file (a pickled dict of numpy arrays): "
                              f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(obj, Mapping):
        raise ConversionError(f"{path} holds a pickled {type(obj).__name__}, not a dict name -> array "
                              "(paddle.save(model.state_dict(), path) writes one)")
    if _PADDLE_SPLIT_TABLE in obj:
        raise ConversionError(f"{path} holds parameters split into 4 GB slices (paddle.save protocol 2/3 of huge "
                              "tensors), which MixNet weights never need: re-save it with protocol=4")
    arrays = {}
    for name, value in obj.items():
        if name == _PADDLE_NAME_TABLE:
            continue
        if not isinstance(name, str) or not isinstance(value, np.ndarray) or value.dtype.hasobject:
            kind = "an object array" if isinstance(value, np.ndarray) else f"a {type(value).__name__}"
            raise ConversionError(f"{path}: entry {name!r} is {kind}, not a numeric numpy array; refused")
        arrays[name] = value.astype(np.float32) if np.issubdtype(value.dtype, np.floating) else value
    if not arrays:
        raise ConversionError(f"{path} holds no arrays")
    return arrays


def read_imgclsmob_weights(path: str, source: Optional[str] = None) -> Tuple[ArrayDict, str]:
    """(name -> array, source) of a PaddleClas .pdparams or a pytorchcv .pth file (the latter needs torch).

    ``source`` defaults to the file type: .pdparams -> paddleclas, anything else -> imgclsmob.
    """
    source = source or source_of_file(path)
    if source not in SOURCES:
        raise ConversionError(f"source={source!r} is not known here; use one of {list(SOURCES)}")
    if os.fspath(path).lower().endswith(PDPARAMS_SUFFIXES):
        return read_pdparams(path), source
    if not os.path.isfile(os.path.expanduser(os.fspath(path))):
        raise CheckpointNotFound(f"weight file not found: {path}")
    try:
        import torch  # noqa: F401  (only .pth files need it)
    except ImportError as exc:
        raise ConversionError(f"reading {os.path.basename(path)} (a PyTorch .pth file) needs PyTorch: pip install "
                              "torch (the CPU build is enough), or convert PaddleClas's .pdparams file of the same "
                              "model, which needs neither torch nor paddle") from exc
    return read_state_dict(path), source


def source_of_file(path: str) -> str:
    """'paddleclas' for a .pdparams file, 'imgclsmob' otherwise."""
    return "paddleclas" if os.fspath(path).lower().endswith(PDPARAMS_SUFFIXES) else "imgclsmob"


# pytorchcv's model store names its files {model}-{top-5 error x 100}-{sha1[:8]}.pth, e.g. mixnet_s-0717-ab2c4e37.pth
_IMGCLSMOB_FILE = re.compile(r"mixnet_[sml]-\d{4}-[0-9a-f]{8}\.pth$")


def guess_source(path: str) -> Optional[str]:
    """The source a weight file's name says: 'paddleclas' (.pdparams), 'imgclsmob' (pytorchcv's file names), else
    None (timm / geffnet files and anything renamed)."""
    base = os.path.basename(os.fspath(path)).lower()
    if base.endswith(PDPARAMS_SUFFIXES):
        return "paddleclas"
    return "imgclsmob" if _IMGCLSMOB_FILE.search(base) else None


# ----------------------------------------------------------------------------------------------- name mapping


def _unit_names(model: mixnet.MixNet) -> List[str]:
    """imgclsmob's name of each block: init_block.conv2, then stage1..4 (stage 4 = our last two stages)."""
    depths = list(getattr(model, "stage_depths", []) or [])
    if len(depths) != 6 or depths[0] != 1 or sum(depths) != len(model.layers):
        raise ConversionError(f"imgclsmob / PaddleClas weights exist for MixNet-S/M/L only (6 stages, first of one "
                              f"block); this model's stages hold {depths} blocks")
    names = ["features.init_block.conv2"]
    for stage, depth in enumerate([depths[1], depths[2], depths[3], depths[4] + depths[5]], start=1):
        names += [f"features.stage{stage}.unit{j}" for j in range(1, depth + 1)]
    return names


def _block_parts(block: nn.Cell) -> Dict[str, str]:
    """imgclsmob's sub-module of each parameterised cell of a block ('convs.j' -> 'exp_conv.conv', 'conv1.bn', ...)."""
    cells = list(block.convs.cells())
    pointwise = ["exp_conv", "conv2"] if sum(isinstance(c, GroupedConv2d) for c in cells) == 2 else ["conv2"]
    parts, unit = {}, None
    for j, cell in enumerate(cells):
        if isinstance(cell, GroupedConv2d):
            unit = pointwise.pop(0)
            parts[f"convs.{j}"] = f"{unit}.conv"
        elif isinstance(cell, MixConv2d):
            unit = "conv1"
            parts[f"convs.{j}"] = "conv1.conv"
        elif isinstance(cell, SqueezeExcite):
            parts[f"convs.{j}"] = "se"
        elif isinstance(cell, nn.BatchNorm2d):
            parts[f"convs.{j}"] = f"{unit}.bn"
    return parts


def _leaf(rest: str, source: str) -> str:
    """A parameter name inside a cell in imgclsmob's words: wrappers dropped, BN and SE fields renamed."""
    parts = [p for p in rest.split(".") if p not in _CELL_WRAPPERS]
    parts = [_SE_FIELDS.get(p, p) for p in parts]
    if parts[-1] in _BN_FIELDS:
        parts[-1] = _BN_FIELDS[parts[-1]][0 if source == "imgclsmob" else 1]
    return ".".join(parts)


_FIXED = {"stem_conv.0.": "features.init_block.conv1.conv.", "stem_conv.1.": "features.init_block.conv1.bn.",
          "head_conv.0.": "features.final_block.conv.", "head_conv.1.": "features.final_block.bn.",
          "classifier.": "output."}


def imgclsmob_name_map(model: mixnet.MixNet, source: str = "imgclsmob") -> Dict[str, str]:
    """MindSpore parameter name -> name in the ``source`` ('imgclsmob' or 'paddleclas') file, for every parameter."""
    if source not in SOURCES:
        raise ConversionError(f"source={source!r} is not known here; use one of {list(SOURCES)}")
    if not isinstance(model, mixnet.MixNet):
        raise ConversionError(f"imgclsmob / PaddleClas weights convert into MixNet models, got {type(model).__name__}")
    units = _unit_names(model)
    parts = [_block_parts(block) for block in model.layers]
    mapping = {}
    for param in model.get_parameters():
        name = param.name
        prefix = next((p for p in _FIXED if name.startswith(p)), None)
        if prefix is not None:
            mapping[name] = _FIXED[prefix] + _leaf(name[len(prefix):], source)
            continue
        match = re.fullmatch(r"layers\.(\d+)\.(convs\.\d+)\.(.+)", name)
        if not match or match.group(2) not in parts[int(match.group(1))]:
            raise ConversionError(f"parameter '{name}' has no imgclsmob counterpart (not a MixNet parameter name)")
        index = int(match.group(1))
        mapping[name] = f"{units[index]}.{parts[index][match.group(2)]}.{_leaf(match.group(3), source)}"
    return mapping


def _listing(names: List[str]) -> str:
    """'a, b, c (+N more)'."""
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f" (+{len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED else "")


def detect_variant(state_dict: Mapping[str, np.ndarray]) -> Optional[str]:
    """The timm_mixnet_* variant whose stem width the weights have (16 S, 24 M, 32 L), None when unknown."""
    stem = state_dict.get(_STEM)
    if stem is None or np.ndim(stem) != 4:
        return None
    return next((name for name, width in VARIANTS.items() if width == int(np.shape(stem)[0])), None)


def _size_word(name: Optional[str]) -> str:
    return f"MixNet-{name.rsplit('_', 1)[-1].upper()}" if name else "an unknown MixNet"


def convert_imgclsmob_state_dict(state_dict: Mapping[str, np.ndarray], model: mixnet.MixNet, source: str = "imgclsmob",
                                 file: str = "the weights") -> ArrayDict:
    """Rename imgclsmob / PaddleClas weights into ``model``'s parameter names.

    Every parameter must be present with its shape and no tensor may be left over; otherwise one
    ConversionError lists the missing, unexpected and mis-shaped names and the variant the weights fit.
    """
    mapping = imgclsmob_name_map(model, source)
    shapes = {p.name: tuple(p.shape) for p in model.get_parameters()}
    converted, missing, wrong = {}, [], []
    for ms_name, src_name in mapping.items():
        if src_name not in state_dict:
            missing.append(src_name)
            continue
        value = np.asarray(state_dict[src_name])
        if source == "paddleclas" and src_name == _HEAD and value.ndim == 2:
            value = value.T  # Paddle's Linear weight is [in, out]
        if tuple(value.shape) != shapes[ms_name]:
            wrong.append(f"{src_name} {tuple(value.shape)} (needs {shapes[ms_name]})")
            continue
        converted[ms_name] = np.ascontiguousarray(value, dtype=np.float32)
    used = set(mapping.values())
    unexpected = [k for k in state_dict if k not in used and not k.endswith(_IGNORED_SUFFIXES)]
    if missing or unexpected or wrong:
        found = detect_variant(state_dict)
        problems = [f"{label} ({len(names)}): {_listing(names)}" for label, names in
                    (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if names]
        hint = (f"; its stem says {_size_word(found)}: use --model {found}" if found
                else f"; it is not a {source} MixNet-S/M/L state dict (no 4-D {_STEM})")
        raise ConversionError(f"{file} does not fit this model: {'; '.join(problems)}{hint}")
    return converted


# ----------------------------------------------------------------------------------------------- checkpoints


def weights_key(model_name: str, source: str) -> str:
    """The default_cfgs key of a source's weights for a variant, e.g. 'timm_mixnet_s.paddleclas'."""
    return f"{model_name}.{source}"


def _classes_and_channels(state_dict: Mapping[str, np.ndarray], source: str, file: str) -> Tuple[int, int]:
    """(num_classes, in_channels) read from the classifier and stem weights."""
    head, stem = state_dict.get(_HEAD), state_dict.get(_STEM)
    if head is None or stem is None or np.ndim(head) != 2 or np.ndim(stem) != 4:
        raise ConversionError(f"{file} is not a {source} MixNet state dict: it lacks a 2-D {_HEAD} or a 4-D {_STEM} "
                              f"(its first entries: {_listing(list(state_dict))})")
    classes = np.shape(head)[1] if source == "paddleclas" else np.shape(head)[0]
    return int(classes), int(np.shape(stem)[1])


def _check_target(model_name: Optional[str], found: Optional[str], file: str) -> str:
    """The variant to build: ``model_name`` when it fits the weights' size, the detected one when not given."""
    if model_name is None:
        if found is None:
            raise ConversionError(f"{file}: cannot tell MixNet-S/M/L from its stem; pass --model one of "
                                  f"{sorted(VARIANTS)}")
        return found
    if model_name not in VARIANTS:
        size = model_name.rsplit("_", 1)[-1]
        suggestion = f"timm_mixnet_{size}" if f"timm_mixnet_{size}" in VARIANTS else (found or "timm_mixnet_s")
        raise ConversionError(f"--model {model_name} does not have the structure of PaddleClas / imgclsmob weights "
                              f"(timm's maths: swish squeeze-excite, symmetric padding, BN eps 1e-5): use --model "
                              f"{suggestion} (one of {sorted(VARIANTS)})")
    if found is not None and found != model_name:
        raise ConversionError(f"{file} holds {_size_word(found)} weights ({VARIANTS[found]}-channel stem), not "
                              f"{_size_word(model_name)}: use --model {found}")
    return model_name


def _write(params: ArrayDict, output: Optional[str], model_name: str, meta: Dict[str, str]) -> str:
    """Save atomically; the default name is ./{model_name}-{first 8 hex of the file's sha256}.ckpt (MindCV's)."""
    if output is not None:
        return save_checkpoint_atomic(params, output, meta)
    directory = os.getcwd()
    tmp = save_checkpoint_atomic(params, os.path.join(directory, f".{model_name}.converting.ckpt"), meta)
    output = os.path.join(directory, f"{model_name}-{file_sha256(tmp)[:8]}.ckpt")
    os.replace(tmp, output)
    return output


def convert_imgclsmob_checkpoint(path: str, model_name: Optional[str] = None, output: Optional[str] = None,
                                 source: Optional[str] = None, **model_kwargs: Any) -> str:
    """Convert a PaddleClas .pdparams or pytorchcv .pth MixNet-S/M/L file into a checkpoint of ``model_name``.

    ``model_name`` (timm_mixnet_s/m/l) defaults to the variant the weights' stem width says; a different size is
    refused. The checkpoint records model_name, variant_options, converted_from and ``weights`` (the
    default_cfgs key, e.g. 'timm_mixnet_s.paddleclas', whose eval settings ``eval_settings_for`` returns).
    Returns the path written.
    """
    path = os.path.expanduser(os.fspath(path))
    file = os.path.basename(path)
    state_dict, source = read_imgclsmob_weights(path, source)
    model_name = _check_target(model_name, detect_variant(state_dict), file)
    num_classes, in_channels = _classes_and_channels(state_dict, source, file)
    model = getattr(mixnet, model_name)(num_classes=num_classes, in_channels=in_channels, **model_kwargs)
    if model.variant_options["se_act"] != "swish" or model.variant_options["padding"] != "symmetric":
        raise ConversionError(f"{model_name} built with {model_kwargs} lacks the structure of {source} weights "
                              "(swish squeeze-excite, symmetric padding); drop those options")
    params = convert_imgclsmob_state_dict(state_dict, model, source, file)
    meta = checkpoint_meta(model, model_name, f"{file} sha256:{file_sha256(path)}")
    meta["weights"] = weights_key(model_name, source)
    written = _write(params, output, model_name, meta)
    logger.info("Converted %d tensors of %s (%s) into %s (%s, %d classes)", len(params), path, source, written,
                model_name, num_classes)
    return written


# ----------------------------------------------------------------------------------------------- eval settings


def eval_settings_for(meta: Mapping[str, Any]) -> Dict[str, Any]:
    """The evaluation settings (image_resize, crop_pct, interpolation, mean, std on the 0-255 scale) that the
    weights of a checkpoint were published with, from its metadata: 'weights' (written by this converter, e.g.
    'timm_mixnet_s.paddleclas'), else 'model_name' (timm conversions, MindCV checkpoints).

    The result also names the entry under 'weights'. Returns {} when the metadata names no known weights (the
    caller keeps its own defaults).
    """
    entries = weights_entries()
    key = meta.get("weights")
    if not (isinstance(key, str) and key in entries):
        key = meta.get("model_name")
    if not (isinstance(key, str) and key in entries):
        return {}
    return {**eval_settings(entries[key]), "weights": key}
