"""Convert timm / geffnet MixNet weights (PyTorch state dicts) into MindSpore checkpoints.

The mapping is one-to-one, without transposes: timm's ``conv_stem`` / ``bn1`` / ``blocks.{stage}.{i}`` /
``conv_head`` / ``bn2`` / ``classifier`` become ``stem_conv.0`` / ``stem_conv.1`` / ``layers.{k}.convs.{j}`` /
``head_conv.0`` / ``head_conv.1`` / ``classifier``; inside a block ``conv_pw`` / ``conv_dw`` / ``se`` /
``conv_pwl`` become the cells ``grouped_conv[.g]`` / ``mixed_depthwise_conv[.g]`` / ``conv_reduce``,
``conv_expand`` / ``grouped_conv[.g]``; BatchNorm ``weight`` / ``bias`` / ``running_mean`` / ``running_var``
become ``gamma`` / ``beta`` / ``moving_mean`` / ``moving_variance`` and ``num_batches_tracked`` is dropped.

The mapping is derived from the target model's cells, so it holds for every block table, width and
depth. Converted checkpoints record ``model_name`` and ``variant_options`` (JSON); ``check_variant``
refuses to load them into a model whose structure differs (e.g. ReLU instead of swish in squeeze-excite).
"""
import os
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from mindspore import nn

from ..utils.checkpoint import CheckpointError, CheckpointNotFound, save_checkpoint_atomic
from ..utils.io import file_sha256
from ..utils.logger import get_logger
from .layers.mixconv import GroupedConv2d, MixConv2d
from .layers.squeeze_excite import SqueezeExcite
from .mixnet import ARCH_TABLES, TIMM_VARIANTS, MixNet, round_channels, scale_repeats, variant_options_json
from .model_factory import create_model
from .pretrained import CHECKED_OPTIONS, check_variant  # noqa: F401  (re-exported: the variant check)

logger = get_logger(__name__)

__all__ = ["ConversionError", "read_state_dict", "timm_name_map", "convert_state_dict", "convert_timm_checkpoint",
           "checkpoint_meta", "check_variant", "CHECKED_OPTIONS", "TORCH_SUFFIXES", "SAFETENSORS_SUFFIXES"]

ArrayDict = Dict[str, np.ndarray]

TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".pth.tar", ".tar")
SAFETENSORS_SUFFIXES = (".safetensors",)
# Keys under which training scripts nest the weights (timm's train.py: state_dict / state_dict_ema).
_NESTED_KEYS = ("state_dict", "model", "module", "net", "params")
_EMA_KEYS = ("state_dict_ema", "model_ema", "ema")
_WRAPPER_PREFIXES = ("module.", "model.", "_orig_mod.")
_DROPPED_SUFFIXES = ("num_batches_tracked",)
_BN_NAMES = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
_CELL_WRAPPERS = ("grouped_conv", "mixed_depthwise_conv")
_FIXED_PREFIXES = {"stem_conv.0.": "conv_stem.", "stem_conv.1.": "bn1.", "head_conv.0.": "conv_head.",
                   "head_conv.1.": "bn2.", "classifier.": "classifier."}
# Structural options compared when a converted checkpoint is loaded (bn_momentum only affects training).


class ConversionError(CheckpointError):
    """A state dict that cannot be converted into the requested variant."""


# ----------------------------------------------------------------------------------------------- reading


def _has_suffix(path: str, suffixes: Tuple[str, ...]) -> bool:
    """True when the file name ends with one of ``suffixes`` (case-insensitive)."""
    return path.lower().endswith(suffixes)


def _read_safetensors(path: str) -> ArrayDict:
    """Tensors of a .safetensors file as numpy arrays (no torch needed)."""
    from safetensors.numpy import load_file

    try:
        return dict(load_file(path))
    except Exception as exc:  # safetensors raises its own error types with terse texts
        raise ConversionError(f"{path} is not a readable .safetensors file ({exc}); bfloat16 files need "
                              "converting to float32 first") from exc


def _import_torch() -> Any:
    """The torch module, or a ConversionError saying how to do without it."""
    try:
        import torch
    except ImportError as exc:
        raise ConversionError(
            "reading a PyTorch .pth/.pt file needs PyTorch (pip install torch, CPU build is enough); without it, "
            "use the .safetensors file of the same weights (timm's hub models ship model.safetensors)") from exc
    return torch


def _read_torch(path: str) -> Dict[str, Any]:
    """The object a .pth/.pt file holds, loaded on CPU with torch (weights only when supported)."""
    torch = _import_torch()
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except TypeError:  # torch < 1.13 has no weights_only
            return torch.load(path, map_location="cpu")
    except Exception as exc:
        raise ConversionError(f"{path} is not a readable PyTorch checkpoint: {exc}") from exc


def _to_numpy(name: str, value: Any) -> np.ndarray:
    """A torch tensor or array as a numpy array (floating point as float32)."""
    if hasattr(value, "detach"):  # torch.Tensor
        value = value.detach().cpu()
        value = value.float().numpy() if value.is_floating_point() else value.numpy()
    if not isinstance(value, np.ndarray):
        raise ConversionError(f"state dict entry '{name}' is a {type(value).__name__}, not a tensor")
    return value.astype(np.float32) if np.issubdtype(value.dtype, np.floating) else value


def _unwrap(obj: Any, path: str, use_ema: bool) -> Mapping[str, Any]:
    """The flat name -> tensor mapping inside a training checkpoint (EMA weights when asked)."""
    if not isinstance(obj, Mapping):
        raise ConversionError(f"{path} holds a {type(obj).__name__}, not a state dict (save model.state_dict())")
    keys = _EMA_KEYS if use_ema else _NESTED_KEYS
    for key in keys:
        if isinstance(obj.get(key), Mapping):
            return obj[key]
    if use_ema:
        raise ConversionError(f"use_ema=True but {path} has none of the EMA entries {list(_EMA_KEYS)}; "
                              f"its top-level keys are {sorted(obj)[:8]}")
    return obj


def _strip_wrappers(state: Mapping[str, Any]) -> Dict[str, Any]:
    """Names without DataParallel / torch.compile prefixes present on every key ('module.', '_orig_mod.')."""
    names = dict(state)
    for prefix in _WRAPPER_PREFIXES:
        if names and all(k.startswith(prefix) for k in names):
            names = {k[len(prefix):]: v for k, v in names.items()}
    return names


def read_state_dict(path: str, use_ema: bool = False) -> ArrayDict:
    """A timm / geffnet state dict as name -> float32 numpy array.

    .safetensors is read with the safetensors package (no torch needed); .pth / .pt / .bin / .tar with torch.
    Training checkpoints (``state_dict`` / ``state_dict_ema`` entries) and 'module.' prefixes are unwrapped.
    """
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isfile(path):
        raise CheckpointNotFound(f"state dict file not found: {path}")
    if _has_suffix(path, SAFETENSORS_SUFFIXES):
        if use_ema:
            raise ConversionError(f"use_ema=True needs a training checkpoint (.pth/.tar); {path} is a .safetensors "
                                  "file with one set of weights")
        state: Mapping[str, Any] = _read_safetensors(path)
    elif _has_suffix(path, TORCH_SUFFIXES):
        state = _unwrap(_read_torch(path), path, use_ema)
    else:
        raise ConversionError(f"{path}: unknown weight file type; expected one of "
                              f"{list(SAFETENSORS_SUFFIXES + TORCH_SUFFIXES)}")
    state = _strip_wrappers(state)
    if not state:
        raise ConversionError(f"{path} holds no tensors")
    return {name: _to_numpy(name, value) for name, value in state.items()}


# ----------------------------------------------------------------------------------------------- mapping


def _block_roles(block: nn.Cell) -> Dict[str, str]:
    """timm's name of each parameterised cell of one block: 'convs.j' -> 'conv_pw' / 'bn1' / 'se' / ...

    An inverted residual (two 1x1 convs) is conv_pw, bn1, conv_dw, bn2, se, conv_pwl, bn3; a block without
    expansion is timm's depthwise-separable block: conv_dw, bn1, se, conv_pw, bn2.
    """
    cells = list(block.convs.cells())
    pointwise = ["conv_pw", "conv_pwl"] if sum(isinstance(c, GroupedConv2d) for c in cells) == 2 else ["conv_pw"]
    roles, n_bn = {}, 0
    for j, cell in enumerate(cells):
        if isinstance(cell, GroupedConv2d):
            roles[f"convs.{j}"] = pointwise.pop(0)
        elif isinstance(cell, MixConv2d):
            roles[f"convs.{j}"] = "conv_dw"
        elif isinstance(cell, SqueezeExcite):
            roles[f"convs.{j}"] = "se"
        elif isinstance(cell, nn.BatchNorm2d):
            n_bn += 1
            roles[f"convs.{j}"] = f"bn{n_bn}"
    return roles


def _block_positions(model: MixNet) -> List[Tuple[int, int]]:
    """(stage, index in stage) of each block, from the model's stage depths (timm's blocks.{stage}.{i})."""
    depths = getattr(model, "stage_depths", None)
    if not depths or sum(depths) != len(model.layers):
        raise ConversionError(f"{type(model).__name__} does not record its stage depths; convert into a MixNet")
    return [(stage, i) for stage, depth in enumerate(depths) for i in range(depth)]


def _local_name(rest: str) -> str:
    """A parameter name inside a cell, in timm's words: drop grouped/mixed wrappers, rename BN fields."""
    parts = [p for p in rest.split(".") if p not in _CELL_WRAPPERS]
    parts[-1] = _BN_NAMES.get(parts[-1], parts[-1])
    return ".".join(parts)


def timm_name_map(model: MixNet) -> Dict[str, str]:
    """MindSpore parameter name -> timm state-dict name, for every parameter of ``model`` (in model order)."""
    if not isinstance(model, MixNet):
        raise ConversionError(f"timm weights convert into MixNet models, got {type(model).__name__}")
    positions = _block_positions(model)
    roles = [_block_roles(block) for block in model.layers]
    mapping = {}
    for param in model.get_parameters():
        mapping[param.name] = _timm_name(param.name, positions, roles)
    return mapping


def _timm_name(name: str, positions: List[Tuple[int, int]], roles: List[Dict[str, str]]) -> str:
    """timm's name of one MindSpore parameter name."""
    for prefix, timm_prefix in _FIXED_PREFIXES.items():
        if name.startswith(prefix):
            return timm_prefix + _local_name(name[len(prefix):])
    match = re.fullmatch(r"layers\.(\d+)\.(convs\.\d+)\.(.+)", name)
    if not match or match.group(2) not in roles[int(match.group(1))]:
        raise ConversionError(f"parameter '{name}' has no timm counterpart (not a MixNet parameter name)")
    index = int(match.group(1))
    stage, i = positions[index]
    return f"blocks.{stage}.{i}.{roles[index][match.group(2)]}.{_local_name(match.group(3))}"


def _is_dropped(name: str) -> bool:
    """Entries with no MindSpore counterpart (BN's num_batches_tracked)."""
    return name.endswith(_DROPPED_SUFFIXES)


def convert_state_dict(state_dict: Mapping[str, np.ndarray], model: MixNet,
                       source: str = "the state dict") -> ArrayDict:
    """Rename a timm state dict into ``model``'s parameter names; every tensor must fit, none be left over.

    The first missing tensor, shape mismatch or unused tensor is an error naming it.
    """
    mapping = timm_name_map(model)
    shapes = {p.name: tuple(p.shape) for p in model.get_parameters()}
    converted = {}
    for ms_name, timm_name in mapping.items():
        if timm_name not in state_dict:
            raise ConversionError(f"{source} does not fit this model: the first mismatch is '{timm_name}' "
                                  f"(for {ms_name}), which {source} lacks{_shape_hint(state_dict)}")
        value = np.asarray(state_dict[timm_name])
        if tuple(value.shape) != shapes[ms_name]:
            raise ConversionError(f"{source} does not fit this model: the first mismatch is '{timm_name}' of shape "
                                  f"{tuple(value.shape)}, where {ms_name} needs {shapes[ms_name]}"
                                  f"{_shape_hint(state_dict)}")
        converted[ms_name] = value.astype(np.float32)
    used = set(mapping.values())
    extra = [k for k in state_dict if k not in used and not _is_dropped(k)]
    if extra:
        raise ConversionError(f"{source} does not fit this model: the first mismatch is '{extra[0]}', which has no "
                              f"place in it ({len(extra)} unused tensors){_shape_hint(state_dict)}")
    return converted


# ----------------------------------------------------------------------------------------------- variant guessing


def _fingerprint(state_dict: Mapping[str, np.ndarray]) -> Optional[Tuple[int, int]]:
    """(stem channels, number of blocks) of a timm MixNet state dict, None when it is not one."""
    stem = state_dict.get("conv_stem.weight")
    blocks = {m.group(0) for m in (re.match(r"blocks\.\d+\.\d+", k) for k in state_dict) if m}
    if stem is None or not blocks:
        return None
    return int(np.shape(stem)[0]), len(blocks)


def _variant_fingerprint(name: str) -> Tuple[int, int]:
    """(stem channels, number of blocks) of a registered timm-family variant, from its block table."""
    arch, width, options, _ = TIMM_VARIANTS[name]
    stem, table = ARCH_TABLES[arch]
    stem = round_channels(stem * width) if width != 1.0 else stem
    return stem, len(scale_repeats(table, options.get("repeat_multiplier", 1.0)))


def _shape_hint(state_dict: Mapping[str, np.ndarray]) -> str:
    """A clause for errors: which registered variants have the state dict's stem width and block count."""
    found = _fingerprint(state_dict)
    if found is None:
        return "; it is not a timm MixNet state dict (no conv_stem.weight / blocks.*)"
    fits = [n for n in TIMM_VARIANTS if _variant_fingerprint(n) == found]
    if not fits:
        return f"; its {found[1]} blocks and {found[0]}-channel stem match none of {sorted(TIMM_VARIANTS)}"
    return f"; its {found[1]} blocks and {found[0]}-channel stem match {' / '.join(fits)}"


# ----------------------------------------------------------------------------------------------- checkpoints


def checkpoint_meta(model: MixNet, model_name: str, source: str = "") -> Dict[str, str]:
    """The metadata strings a converted checkpoint records: model_name, variant_options (JSON), source."""
    meta = {"model_name": model_name, "variant_options": variant_options_json(model)}
    if source:
        meta["converted_from"] = source
    return meta


def _check_target(model_name: str, model: nn.Cell) -> None:
    """Refuse targets whose structure no timm weights have (MindCV's ReLU squeeze-excite)."""
    options = getattr(model, "variant_options", None)
    if not isinstance(options, dict):
        raise ConversionError(f"{model_name} is not a MixNet model; timm MixNet weights convert into one of "
                              f"{sorted(TIMM_VARIANTS)}")
    if options["se_act"] != "swish":
        size = model_name.rsplit("_", 1)[-1]
        raise ConversionError(
            f"{model_name} has se_act={options['se_act']!r} (MindCV's structure, for MindCV's checkpoints); timm and "
            f"TF MixNet weights need swish inside squeeze-excite: use --model timm_mixnet_{size} for timm's "
            f"mixnet_{size} or tf_mixnet_{size} for timm's tf_mixnet_{size} (variants: {sorted(TIMM_VARIANTS)})")


def _warn_family(source_file: str, model_name: str, model: nn.Cell) -> None:
    """Log a warning when the file name says tf_ weights and the target lacks TF padding, or the reverse."""
    base = os.path.basename(source_file).lower()
    if "mixnet" not in base:
        return
    tf_file, tf_target = base.startswith("tf_"), model.variant_options["padding"] == "same"
    if tf_file != tf_target:
        logger.warning("%s looks like %s weights but %s %s TF 'SAME' padding: its logits will differ from timm's "
                       "unless this is intended", base, "tf_" if tf_file else "timm (non-tf_)", model_name,
                       "lacks" if tf_file else "has")


def _classifier_shape(state_dict: Mapping[str, np.ndarray], path: str) -> Tuple[int, int]:
    """(num_classes, in_channels) read from the classifier and stem tensors."""
    head, stem = state_dict.get("classifier.weight"), state_dict.get("conv_stem.weight")
    if head is None or stem is None or np.ndim(head) != 2 or np.ndim(stem) != 4:
        raise ConversionError(f"{path} is not a timm MixNet state dict: it lacks a 2-D classifier.weight or a "
                              f"4-D conv_stem.weight{_shape_hint(state_dict)}")
    return int(np.shape(head)[0]), int(np.shape(stem)[1])


def convert_timm_checkpoint(source: str, model_name: str, output: Optional[str] = None, use_ema: bool = False,
                            **model_kwargs: Any) -> str:
    """Convert a timm / geffnet MixNet weight file into a MindSpore checkpoint of ``model_name``.

    ``output`` defaults to ``{model_name}-{sha256[:8]}.ckpt`` (MindCV's naming) in the working directory. The
    checkpoint holds the weights plus model_name, variant_options (JSON) and converted_from metadata.
    Returns the path written.
    """
    state_dict = read_state_dict(source, use_ema=use_ema)
    num_classes, in_channels = _classifier_shape(state_dict, source)
    model = create_model(model_name, num_classes=num_classes, in_channels=in_channels, **model_kwargs)
    _check_target(model_name, model)
    _warn_family(source, model_name, model)
    params = convert_state_dict(state_dict, model, source=os.path.basename(source))
    meta = checkpoint_meta(model, model_name, f"{os.path.basename(source)} sha256:{file_sha256(source)}")
    if output is None:
        directory = os.getcwd()
        tmp = save_checkpoint_atomic(params, os.path.join(directory, f".{model_name}.converting.ckpt"), meta)
        output = os.path.join(directory, f"{model_name}-{file_sha256(tmp)[:8]}.ckpt")
        os.replace(tmp, output)
    else:
        output = save_checkpoint_atomic(params, output, meta)
    logger.info("Converted %d tensors of %s into %s (%s, %d classes)", len(params), source, output, model_name,
                num_classes)
    return output
