"""Multi-scale feature maps of a classification network, for detection and segmentation heads.

``FeatureExtractor(model, out_indices)`` runs a model's stem and blocks and returns the feature maps at
strides 4, 8, 16 and 32 (a 224 x 224 input gives 56, 28, 14 and 7): the output of the last block
before each stride change, as MindCV's and timm's feature extraction do. It works for any model
with the cells ``stem_conv`` (stride 2) and ``layers`` (the blocks, in order) and either a
``feature_info`` list or a ``block_args`` list (entries with ``stride`` and ``out_chs``): MixNet and
the MobileNets of this package.

The wrapper shares the model's cells and keeps their parameter names (``stem_conv.*``, ``layers.{i}.*``),
so weights loaded into the model before wrapping are used, and a classification checkpoint loads into
the wrapper (its head and classifier are left out). Blocks after the deepest requested level are left
out too, so an optimiser over the wrapper sees only parameters that receive gradients.
"""
from typing import Any, Dict, List, Sequence, Tuple

from mindspore import Tensor, nn

__all__ = ["FeatureExtractor", "stage_feature_info", "FEATURE_REDUCTIONS"]

FEATURE_REDUCTIONS = (4, 8, 16, 32)
STEM_STRIDE = 2


def stage_feature_info(strides: Sequence[int], channels: Sequence[int], stem_stride: int = STEM_STRIDE,
                       reductions: Sequence[int] = FEATURE_REDUCTIONS) -> List[Dict[str, Any]]:
    """One dict per reduction: the last block at that total stride (``index``, ``reduction``, ``num_chs``, ``name``)."""
    if len(strides) != len(channels) or not strides:
        raise ValueError(f"strides ({len(strides)}) and channels ({len(channels)}) must be equal-length, non-empty")
    last_at: Dict[int, Tuple[int, int]] = {}
    reduction = stem_stride
    for i, (stride, chs) in enumerate(zip(strides, channels)):
        reduction *= stride
        last_at[reduction] = (i, chs)  # later blocks at the same reduction overwrite earlier ones
    missing = [r for r in reductions if r not in last_at]
    if missing:
        raise ValueError(f"the blocks reach reductions {sorted(last_at)}, not {missing}: "
                         f"cannot extract features at strides {list(reductions)}")
    return [{"index": last_at[r][0], "reduction": r, "num_chs": last_at[r][1], "name": f"layers.{last_at[r][0]}"}
            for r in reductions]


def model_feature_info(model: nn.Cell) -> List[Dict[str, Any]]:
    """The model's ``feature_info``, or one derived from its ``block_args`` strides (MixNet)."""
    for cell_name in ("stem_conv", "layers"):
        if not isinstance(getattr(model, cell_name, None), nn.Cell):
            raise ValueError(f"model={type(model).__name__} has no '{cell_name}' cell: FeatureExtractor needs "
                             "the cells stem_conv and layers (MixNet, MobileNetV1/V2)")
    info = getattr(model, "feature_info", None)
    if info:
        for level in info:
            missing = [key for key in ("index", "reduction", "num_chs") if key not in level]
            if missing:
                raise ValueError(f"model={type(model).__name__}: feature_info entry {level} lacks {missing}; "
                                 "each level needs index (block in layers), reduction and num_chs")
        return [dict(level) for level in info]
    block_args = getattr(model, "block_args", None)
    if not block_args:
        raise ValueError(f"model={type(model).__name__} has neither feature_info nor block_args: "
                         "cannot tell where its stages end")
    return stage_feature_info([b.stride for b in block_args], [b.out_chs for b in block_args])


def _check_out_indices(out_indices: Sequence[int], num_levels: int) -> Tuple[int, ...]:
    """Out indices as non-negative, strictly increasing ints below ``num_levels`` (negatives count from the end)."""
    if isinstance(out_indices, int) or not isinstance(out_indices, (list, tuple)) or not out_indices:
        raise ValueError(f"out_indices must be a non-empty list or tuple of ints in 0..{num_levels - 1}, "
                         f"got {out_indices!r}")
    resolved = []
    for i in out_indices:
        if not isinstance(i, int) or isinstance(i, bool) or not -num_levels <= i < num_levels:
            raise ValueError(f"out_indices={list(out_indices)}: {i!r} is not a level index in 0..{num_levels - 1} "
                             f"(levels are the strides {list(FEATURE_REDUCTIONS[:num_levels])})")
        resolved.append(i % num_levels)
    if any(b <= a for a, b in zip(resolved, resolved[1:])):
        raise ValueError(f"out_indices={list(out_indices)} must be strictly increasing (shallow to deep), "
                         f"without repeats")
    return tuple(resolved)


class FeatureExtractor(nn.Cell):
    """Feature maps of ``model`` at the levels ``out_indices`` (0..3: strides 4, 8, 16, 32), shallow to deep.

    Calling it returns a list of tensors N x C_i x H/r_i x W/r_i. ``out_channels`` (C_i), ``reductions``
    (r_i) and ``feature_info`` (dicts with ``index`` of the block in ``model.layers``, ``reduction``,
    ``num_chs``, ``name``) describe them before any forward pass, for building a neck or head.
    """

    def __init__(self, model: nn.Cell, out_indices: Sequence[int] = (0, 1, 2, 3)) -> None:
        super().__init__(auto_prefix=False)  # keep the model's parameter names
        levels = model_feature_info(model)
        self.out_indices = _check_out_indices(out_indices, len(levels))
        self._feature_info = [levels[i] for i in self.out_indices]
        last_block = self._feature_info[-1]["index"]
        output_blocks = {level["index"] for level in self._feature_info}
        self.stem_conv = model.stem_conv
        self.layers = nn.CellList([model.layers[i] for i in range(last_block + 1)], auto_prefix=False)
        self._is_output = tuple(i in output_blocks for i in range(last_block + 1))

    @property
    def feature_info(self) -> List[Dict[str, Any]]:
        """Index, reduction, channels and cell name of each returned map."""
        return [dict(level) for level in self._feature_info]

    @property
    def out_channels(self) -> List[int]:
        """Channels of each returned map."""
        return [level["num_chs"] for level in self._feature_info]

    @property
    def reductions(self) -> List[int]:
        """Stride (input size / map size) of each returned map."""
        return [level["reduction"] for level in self._feature_info]

    def construct(self, x: Tensor) -> List[Tensor]:
        x = self.stem_conv(x)
        features = []
        for i, block in enumerate(self.layers):
            x = block(x)
            if self._is_output[i]:
                features.append(x)
        return features
