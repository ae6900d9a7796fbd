"""The README's weights table and each entry's evaluation settings, generated from the weight metadata.

Every entry of ``mixnet.default_cfgs`` and ``mixnet.extra_weights`` is one row: the model to build, where the
weights come from, their published accuracy, the settings it was measured with, the licence and how to get
them (``pretrained=True`` for hosted MindSpore checkpoints, else the download and conversion command).
"""
from typing import Any, Dict, Mapping, Optional

from . import mixnet

__all__ = ["weights_entries", "eval_settings", "weights_table_markdown", "pretrained_cfg_for"]

IMAGENET_MEAN = [123.675, 116.28, 103.53]  # 0-255 scale, as config.py's mean / std
IMAGENET_STD = [58.395, 57.12, 57.375]
DEFAULT_EVAL = {"image_resize": 224, "crop_pct": 0.875, "interpolation": "bilinear", "mean": IMAGENET_MEAN,
                "std": IMAGENET_STD}
# Licences of sources whose entries predate the "licence" field (MindCV's and timm's repositories: Apache-2.0).
_SOURCE_LICENCES = {"MindCV": "Apache-2.0", "timm": "Apache-2.0"}
_COLUMNS = ("Model", "Weights", "Top-1 %", "Top-5 %", "Eval: size, crop, resize", "Licence", "How to get them")


def weights_entries() -> Dict[str, Mapping[str, Any]]:
    """Every weight entry by key: default_cfgs (registered names and '<model>.<source>' keys), then extra_weights."""
    return {**mixnet.default_cfgs, **getattr(mixnet, "extra_weights", {})}


def eval_settings(cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """image_resize, crop_pct, interpolation, mean, std (0-255) the entry's accuracy was measured with."""
    settings = {**DEFAULT_EVAL}
    if isinstance(cfg.get("eval"), Mapping):
        settings.update(cfg["eval"])
    else:  # timm-style entries: eval_crop_pct / eval_interpolation
        settings.update({k[len("eval_"):]: v for k, v in cfg.items() if k.startswith("eval_")})
    settings["mean"], settings["std"] = list(settings["mean"]), list(settings["std"])
    return settings


def pretrained_cfg_for(cfg: Optional[Mapping[str, Any]], num_classes: int, in_channels: int) -> Dict[str, Any]:
    """timm's ``pretrained_cfg`` of a model built from weight entry ``cfg`` (None: no published weights): input
    size, interpolation, crop_pct, mean / std on timm's 0-1 scale (the options use 0-255), num_classes, the first
    conv and classifier names, and where the weights come from."""
    cfg = dict(cfg or {})
    settings = eval_settings(cfg)
    size = int(settings["image_resize"])
    return {
        "input_size": (in_channels, size, size), "interpolation": settings["interpolation"],
        "crop_pct": float(settings["crop_pct"]), "mean": tuple(round(v / 255.0, 6) for v in settings["mean"]),
        "std": tuple(round(v / 255.0, 6) for v in settings["std"]), "num_classes": num_classes,
        "first_conv": cfg.get("first_conv", "stem_conv.0"), "classifier": cfg.get("classifier", "classifier"),
        "url": cfg.get("url", ""), "source": cfg.get("source", ""), "top1": cfg.get("top1"), "top5": cfg.get("top5"),
    }


def _number(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f}"


def _file_name(cfg: Mapping[str, Any]) -> str:
    return cfg.get("file") or (cfg.get("url") or cfg.get("source_url") or "").rsplit("/", 1)[-1]


def _how_to_get(key: str, cfg: Mapping[str, Any]) -> str:
    """`pretrained=True` for hosted checkpoints; else the conversion command of the downloaded file."""
    if cfg.get("url") and key in getattr(mixnet, "extra_weights", {}):
        return f"`load_pretrained(model, mixnet.extra_weights['{key}'])`"
    if cfg.get("url"):
        return "`create_model(..., pretrained=True)`"
    command = cfg.get("convert_command") or f"python tools/convert_weights.py {_file_name(cfg)} --model {cfg['name']}"
    return f"`{command}`"


def _weights_cell(cfg: Mapping[str, Any]) -> str:
    """Source and the file linked to where it is downloaded (and its published hash)."""
    url = cfg.get("url") or cfg.get("source_url") or ""
    file = _file_name(cfg)
    cell = f"{cfg.get('source', '')} [{file}]({url})" if url else f"{cfg.get('source', '')} {file}"
    if cfg.get("archive"):
        cell += " (zipped; unzip first)"
    if cfg.get("sha256"):
        cell += f", sha256 `{cfg['sha256']}`"
    elif cfg.get("sha1"):
        cell += f", sha1 `{cfg['sha1']}`"
    return cell


def _eval_cell(cfg: Mapping[str, Any]) -> str:
    s = eval_settings(cfg)
    return f"{s['image_resize']}, {s['crop_pct']}, {s['interpolation']}"


def weights_table_markdown() -> str:
    """The Markdown table of every weight entry (one row each), for the README."""
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "|".join("---" for _ in _COLUMNS) + "|"]
    for key, cfg in weights_entries().items():
        model = cfg.get("name") or key
        licence = cfg.get("licence") or _SOURCE_LICENCES.get(cfg.get("source", ""), "-")
        hardware = f" ({cfg['hardware']})" if cfg.get("hardware") else ""
        row = [f"`{model}`", _weights_cell(cfg) + hardware, _number(cfg.get("top1")), _number(cfg.get("top5")),
               _eval_cell(cfg), licence, _how_to_get(key, cfg)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"
