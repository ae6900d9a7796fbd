"""The CPU inference form of a MixNet or MobileNet: the same function as the model in eval mode, computed faster.

``to_inference(model)`` reads a model's parameters once and returns a new cell that

- folds every BatchNorm into the convolution before it (``w * gamma / sqrt(var + eps)``, bias
  ``beta - mean * gamma / sqrt(var + eps)``);
- keeps the activations channels-last (N, H, W, C) from the stem to the pooled features;
- runs each layer as one native operator (``layers/csrc/inference_native.cc``) that adds the bias, applies the
  activation and, at the end of a residual block, adds the block's input while the outputs are still in
  registers: the stem (NCHW image in, NHWC out), each 1 x 1 convolution (one matrix product over all pixels,
  per group), each MixConv (all groups in one pass), squeeze-excite (pool, both 1 x 1 convolutions, sigmoid
  and the gate in one operator), the final pooling and the classifier.

It is for inference only (no gradients, no BatchNorm statistics, dropout and drop-path are the identity) and
holds a copy of the weights taken when it was built: build it after loading a checkpoint. Its logits equal
the model's to float32 rounding (``tests/models/test_inference_form.py``). ``inference_blocker`` says why a
model cannot take this form (another device, no C++ compiler, a model other than MixNet, a MixConv that the
fused kernel cannot express, a layer it does not know); callers then run the model itself.
"""
import functools
from typing import List, Optional, Sequence, Tuple

import numpy as np

import mindspore as ms
from mindspore import Parameter, Tensor, nn, ops

from .layers import native
from .layers.activation import Swish
from .layers.mixconv import GroupedConv2d, MixConv2d
from .layers.mixconv_fused import fused_geometry, fusion_blocker
from .layers.mixconv_native import native_config
from .layers.squeeze_excite import SqueezeExcite
from .mixnet import MixNet
from .mobilenet import MobileNet

__all__ = ["to_inference", "inference_blocker", "InferenceNet"]

LANES = 16  # floats per vector in the kernels (channel padding)
PANEL = 32  # output columns per packed panel of a 1 x 1 convolution's weight
ACTS = {"none": 0, "relu": 1, "swish": 2, "relu6": 4}


@functools.lru_cache(maxsize=None)
def _op(symbol: str) -> ops.Custom:
    """The native inference operator ``symbol`` with its output shape rule."""
    shapes = {
        "inf_pw": lambda x, w, b, cfg: (x[0], x[1], x[2], b[0]),
        "inf_pw_res": lambda x, w, b, cfg, res: tuple(res),
        "inf_dw_s1": lambda x, w, b, cfg: tuple(x),
        "inf_dw_s2": lambda x, w, b, cfg: (x[0], -(-x[1] // 2), -(-x[2] // 2), x[3]),
        "inf_stem_s1": lambda x, w, b, cfg: (x[0], x[2], x[3], b[0]),
        "inf_stem_s2": lambda x, w, b, cfg: (x[0], -(-x[2] // 2), -(-x[3] // 2), b[0]),
        "inf_se": lambda x, w1, b1, w2, b2, cfg: tuple(x),
        "inf_pool": lambda x: (x[0], x[3]),
    }
    return native.op(symbol, shapes[symbol])


def _constant(name: str, array: np.ndarray) -> Parameter:
    """A weight of the inference form (not trained, not saved with the model's checkpoints)."""
    return Parameter(Tensor(np.ascontiguousarray(array, np.float32)), name=name, requires_grad=False)


def _config(values: Sequence[int]) -> Tensor:
    return Tensor(np.asarray(values, np.int32))


def _bn_fold(bn: nn.BatchNorm2d) -> Tuple[np.ndarray, np.ndarray]:
    """(scale, shift) of an inference BatchNorm: y = x * scale + shift."""
    scale = bn.gamma.asnumpy().astype(np.float64) / np.sqrt(bn.moving_variance.asnumpy().astype(np.float64) + bn.eps)
    shift = bn.beta.asnumpy().astype(np.float64) - bn.moving_mean.asnumpy().astype(np.float64) * scale
    return scale, shift


def _act_code(cell: Optional[nn.Cell]) -> Optional[int]:
    """The kernels' code of an activation cell (None: not one they know)."""
    if cell is None:
        return ACTS["none"]
    if isinstance(cell, nn.ReLU6):  # before ReLU: a subclass in some MindSpore versions
        return ACTS["relu6"]
    if isinstance(cell, nn.ReLU):
        return ACTS["relu"]
    if isinstance(cell, Swish):
        return ACTS["swish"]
    return None


def _pack_pointwise(weights: List[np.ndarray]) -> np.ndarray:
    """Per group (C_out_g, C_in_g) weights (BN folded) as the kernel's panels: for each group, for each block of
    PANEL output columns, C_in_g x PANEL floats (columns past C_out_g zero)."""
    packed = []
    for w in weights:
        cout, cin = w.shape
        panels = -(-cout // PANEL)
        b = np.zeros((cin, panels * PANEL), np.float64)
        b[:, :cout] = w.T
        packed.append(b.reshape(cin, panels, PANEL).transpose(1, 0, 2).reshape(-1))
    return np.concatenate(packed)


def _stride(conv: nn.Conv2d) -> int:
    stride = conv.stride
    return int(stride[-1] if isinstance(stride, (tuple, list)) else stride)


def _mixconv_geometry(layer: MixConv2d) -> Tuple[int, str]:
    """(stride, padding) of a MixConv, read from its first group's convolution."""
    first = layer.mixed_depthwise_conv[0] if layer.num_groups > 1 else layer.mixed_depthwise_conv
    return _stride(first), "same" if first.pad_mode == "same" else "symmetric"


class Pointwise(nn.Cell):
    """A 1 x 1 convolution (groups), its BatchNorm folded, the activation and optionally the residual fused."""

    def __init__(self, name: str, group_weights: List[np.ndarray], in_splits: Sequence[int],
                 out_splits: Sequence[int], scale: np.ndarray, shift: np.ndarray, act: int, residual: bool) -> None:
        super().__init__()
        folded, cfg, out_start = [], [act, len(group_weights)], 0
        in_start = 0
        for w, cin, cout in zip(group_weights, in_splits, out_splits):
            folded.append(w.reshape(cout, cin).astype(np.float64) * scale[out_start:out_start + cout, None])
            cfg += [in_start, cin, out_start, cout]
            in_start += cin
            out_start += cout
        self.weight = _constant(name + ".weight", _pack_pointwise(folded))
        self.bias = _constant(name + ".bias", shift)
        self.config = _config(cfg)
        self.residual = residual
        self.op = _op("inf_pw_res" if residual else "inf_pw")

    def construct(self, x: Tensor, res: Optional[Tensor] = None) -> Tensor:
        if self.residual:
            return self.op(x, self.weight, self.bias, self.config, res)
        return self.op(x, self.weight, self.bias, self.config)


class Depthwise(nn.Cell):
    """All groups of a MixConv, its BatchNorm folded and the activation fused."""

    def __init__(self, name: str, layer: MixConv2d, scale: np.ndarray, shift: np.ndarray, act: int) -> None:
        super().__init__()
        weights = [w.asnumpy().astype(np.float64) for w in layer.group_weights()]
        stride, padding = _mixconv_geometry(layer)
        _, factors, size = fused_geometry(layer.kernel_sizes, layer.dilations)
        kernel = np.concatenate([_embed(w, f, size) for w, f in zip(weights, factors)])  # (C, E, E)
        kernel *= scale[:, None, None]
        config = native_config(layer.split_channels, layer.kernel_sizes, layer.dilations, stride, padding)
        # [stride, dilation, same, E, lo...] -> the kernel's [dilation, same, E, act, lo...]
        self.config = _config([int(config[1]), int(config[2]), int(config[3]), act] + config[4:].tolist())
        flat = np.concatenate([kernel.transpose(1, 2, 0).reshape(-1), np.zeros(LANES)])
        self.weight = _constant(name + ".weight", flat)
        self.bias = _constant(name + ".bias", np.concatenate([shift, np.zeros(LANES)]))
        self.op = _op(f"inf_dw_s{stride}")

    def construct(self, x: Tensor) -> Tensor:
        return self.op(x, self.weight, self.bias, self.config)


def _embed(weight: np.ndarray, factor: int, size: int) -> np.ndarray:
    """A (c, 1, k, k) kernel spread to tap spacing ``factor`` and centred in size x size: (c, size, size)."""
    c, _, k, _ = weight.shape
    spread = (k - 1) * factor + 1
    out = np.zeros((c, size, size), np.float64)
    offset = (size - spread) // 2
    out[:, offset:offset + spread:factor, offset:offset + spread:factor] = weight[:, 0]
    return out


class SqueezeExciteStep(nn.Cell):
    """Squeeze-excite in one operator."""

    def __init__(self, name: str, se: SqueezeExcite, act: int) -> None:
        super().__init__()
        reduce_w = se.conv_reduce.weight.asnumpy()
        rd, channels = reduce_w.shape[:2]
        self.w1 = _constant(name + ".w1", reduce_w.reshape(rd, channels))
        self.b1 = _constant(name + ".b1", se.conv_reduce.bias.asnumpy())
        self.w2 = _constant(name + ".w2", se.conv_expand.weight.asnumpy().reshape(channels, rd).T)
        self.b2 = _constant(name + ".b2", se.conv_expand.bias.asnumpy())
        self.config = _config([act])
        self.op = _op("inf_se")

    def construct(self, x: Tensor) -> Tensor:
        return self.op(x, self.w1, self.b1, self.w2, self.b2, self.config)


class Block(nn.Cell):
    """One block as its steps in order (1x1 convolutions, MixConvs, squeeze-excite); with ``residual`` the last step
    (a 1x1 convolution) adds the block's input."""

    def __init__(self, steps: List[nn.Cell], residual: bool) -> None:
        super().__init__()
        self.body = nn.SequentialCell(steps[:-1]) if len(steps) > 1 else nn.Identity()
        self.last = steps[-1]
        self.residual = residual

    def construct(self, x: Tensor) -> Tensor:
        y = self.body(x)
        if self.residual:
            return self.last(y, x)
        return self.last(y)


class Stem(nn.Cell):
    """The dense stem convolution: NCHW image in, NHWC out, BatchNorm folded, activation fused."""

    def __init__(self, conv: nn.Conv2d, scale: np.ndarray, shift: np.ndarray, act: int) -> None:
        super().__init__()
        w = conv.weight.asnumpy().astype(np.float64) * scale[:, None, None, None]  # (Cout, Cin, k, k)
        cout, cin, k, _ = w.shape
        cpad = -(-cout // LANES) * LANES
        packed = np.zeros((cin * k * k, cpad), np.float64)
        packed[:, :cout] = w.transpose(1, 2, 3, 0).reshape(cin * k * k, cout)
        self.weight = _constant("stem.weight", packed)
        self.bias = _constant("stem.bias", shift)
        self.config = _config([int(conv.pad_mode == "same"), k, act])
        self.op = _op(f"inf_stem_s{_stride(conv)}")

    def construct(self, x: Tensor) -> Tensor:
        return self.op(x, self.weight, self.bias, self.config)


class InferenceNet(nn.Cell):
    """The inference form of a model (see the module's docstring): NCHW images in, logits out."""

    def __init__(self, stem: Stem, blocks: List[Block], head: Optional[Pointwise], classifier: Pointwise,
                 num_classes: int) -> None:
        super().__init__()
        self.stem = stem
        self.blocks = nn.SequentialCell(blocks)
        self.head = head if head is not None else nn.Identity()
        self.pool = _op("inf_pool")
        self.classifier = classifier
        self.num_classes = num_classes

    def construct(self, x: Tensor) -> Tensor:
        y = self.head(self.blocks(self.stem(x)))
        pooled = self.pool(y)
        n = pooled.shape[0]
        logits = self.classifier(pooled.reshape(n, 1, 1, -1))
        return logits.reshape(n, self.num_classes)


def inference_blocker(model: nn.Cell) -> Optional[str]:
    """Why ``model`` cannot take the CPU inference form, or None when it can."""
    if str(ms.get_context("device_target")).upper() != "CPU":
        return f"the device is {ms.get_context('device_target')}, not CPU"
    reason = native.unavailable_reason()
    if reason:
        return reason
    if not isinstance(model, (MixNet, MobileNet)):
        return f"{type(model).__name__} is not a MixNet or MobileNet"
    stem = list(model.stem_conv)
    if len(stem) != 3 or not isinstance(stem[0], nn.Conv2d) or _act_code(stem[2]) is None:
        return "the stem is not a convolution, BatchNorm and a known activation"
    conv = stem[0]
    if _stride(conv) not in (1, 2) or conv.kernel_size[0] % 2 == 0 or conv.kernel_size[0] != conv.kernel_size[1] \
            or conv.group != 1 or conv.has_bias or conv.pad_mode not in ("pad", "same") \
            or (conv.pad_mode == "pad" and conv.padding != conv.kernel_size[0] // 2):
        return "the stem is not an odd k x k convolution with stride 1 or 2 and k // 2 or SAME padding"
    if -(-conv.out_channels // LANES) > 4:
        return "the stem has more than 64 output channels"
    try:
        for block in model.layers:
            _block_steps("probe", block, build=False)
        if not isinstance(model.head_conv, nn.Identity):
            _steps("probe", list(model.head_conv), build=False)
    except _Unsupported as err:
        return str(err)
    return None


class _Unsupported(Exception):
    """A layer the inference form cannot run (the message says which)."""


def _pointwise_geometry(conv: nn.Cell) -> Tuple[List[np.ndarray], List[int], List[int]]:
    """(weights, input splits, output splits) of a 1x1 convolution (GroupedConv2d or a dense nn.Conv2d)."""
    if isinstance(conv, GroupedConv2d):
        convs = list(conv.grouped_conv) if conv.num_groups > 1 else [conv.grouped_conv]
        if any(c.kernel_size != (1, 1) or _stride(c) != 1 or c.has_bias for c in convs):
            raise _Unsupported("a grouped convolution is not 1 x 1 with stride 1 and no bias")
        return [c.weight for c in convs], list(conv.split_in_channels), list(conv.split_out_channels)
    if conv.kernel_size != (1, 1) or _stride(conv) != 1 or conv.group != 1 or conv.has_bias:
        raise _Unsupported(f"a {conv.kernel_size} convolution (stride {_stride(conv)}, group {conv.group}) is not a "
                           "bias-free 1 x 1 convolution")
    return [conv.weight], [conv.in_channels], [conv.out_channels]


def _steps(name: str, cells: List[nn.Cell], build: bool = True, residual: bool = False) -> List[nn.Cell]:
    """A block's cells ([conv, BN, act] groups and squeeze-excite) as inference steps; with ``build`` False only
    checked (``_Unsupported`` names what cannot run)."""
    steps: List[nn.Cell] = []
    kinds: List[str] = []
    i = 0
    while i < len(cells):
        cell, where = cells[i], f"{name}.{len(steps)}"
        if isinstance(cell, SqueezeExcite):
            act = _act_code(cell.act)
            if act is None:
                raise _Unsupported(f"squeeze-excite activation {type(cell.act).__name__}")
            if build:
                steps.append(SqueezeExciteStep(where, cell, act))
            kinds.append("se")
            i += 1
            continue
        if not isinstance(cell, (MixConv2d, GroupedConv2d, nn.Conv2d)):
            raise _Unsupported(f"{type(cell).__name__} in a block")
        if i + 1 >= len(cells) or not isinstance(cells[i + 1], nn.BatchNorm2d):
            raise _Unsupported(f"{type(cell).__name__} without a BatchNorm after it")
        act_cell = cells[i + 2] if i + 2 < len(cells) and not isinstance(
            cells[i + 2], (MixConv2d, GroupedConv2d, nn.Conv2d, SqueezeExcite)) else None
        act = _act_code(act_cell)
        if act is None:
            raise _Unsupported(f"activation {type(act_cell).__name__}")
        last = i + (3 if act_cell is not None else 2) >= len(cells)
        if isinstance(cell, MixConv2d):
            stride, padding = _mixconv_geometry(cell)
            blocker = fusion_blocker(cell.kernel_sizes, cell.dilations, stride, padding)
            if blocker:
                raise _Unsupported(blocker)
            if build:
                steps.append(Depthwise(where, cell, *_bn_fold(cells[i + 1]), act))
            kinds.append("depthwise")
        else:
            weights, ins, outs = _pointwise_geometry(cell)
            if build:
                steps.append(Pointwise(where, [w.asnumpy() for w in weights], ins, outs, *_bn_fold(cells[i + 1]),
                                       act, residual=residual and last))
            kinds.append("pointwise")
        i += 3 if act_cell is not None else 2
    if not kinds or (residual and kinds[-1] != "pointwise"):
        raise _Unsupported("a block that is empty or, with a residual, does not end in a 1 x 1 convolution")
    return steps


def _block_steps(name: str, block: nn.Cell, build: bool = True) -> List[nn.Cell]:
    residual = bool(getattr(block, "residual", False))
    return _steps(name, list(block.convs), build=build, residual=residual)


def to_inference(model: nn.Cell) -> InferenceNet:
    """The CPU inference form of ``model`` (its current weights); ValueError naming the reason when
    ``inference_blocker`` finds one."""
    reason = inference_blocker(model)
    if reason:
        raise ValueError(f"no CPU inference form: {reason}")
    stem_conv, stem_bn, stem_act = model.stem_conv
    stem = Stem(stem_conv, *_bn_fold(stem_bn), _act_code(stem_act))
    blocks = [Block(_block_steps(f"blocks.{i}", b), bool(getattr(b, "residual", False)))
              for i, b in enumerate(model.layers)]
    head = None
    if not isinstance(model.head_conv, nn.Identity):
        (head,) = _steps("head", list(model.head_conv))
    dense = model.classifier
    weight = dense.weight.asnumpy()
    bias = dense.bias.asnumpy() if dense.bias is not None else np.zeros(weight.shape[0])
    classifier = Pointwise("classifier", [weight], [weight.shape[1]], [weight.shape[0]],
                           np.ones(weight.shape[0]), bias, ACTS["none"], residual=False)
    net = InferenceNet(stem, blocks, head, classifier, weight.shape[0])
    net.set_train(False)
    return net
