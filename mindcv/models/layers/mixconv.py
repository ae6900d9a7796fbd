"""Mixed depthwise convolution (MixConv, Tan & Le, BMVC 2019) and the grouped 1x1 convolution.

``MixConv2d`` splits the channels into groups and runs a depthwise convolution with a different
kernel size on each group, then concatenates the results. ``GroupedConv2d`` is the 1x1 expand /
project convolution of MixNet split the same way. Parameter names are MindCV's
(``mixed_depthwise_conv[.g].weight`` and ``grouped_conv[.g].weight``), so MindCV checkpoints load
whatever implementation runs behind them.
"""
from typing import List, Optional, Sequence, Union

import mindspore as ms
from mindspore import Tensor, nn, ops

from ...utils.logger import get_logger
from . import native
from .conv2d import ConvKernel
from .mixconv_fused import FusedDepthwise, fusion_blocker
from .mixconv_native import NativeDepthwise

PARTITIONS = ("equal", "exponential")
PADDINGS = ("symmetric", "same")
IMPLS = ("auto", "split", "fused", "native")
GROUPED_IMPLS = ("auto", "split", "grouped")

_warned = set()  # fallback reasons already logged (one warning per reason and process)

IntOrList = Union[int, Sequence[int]]


def split_channels(channels: int, num_groups: int, partition: str = "equal") -> List[int]:
    """Channels per group: ``equal`` (remainder to group 0) or ``exponential`` (2^-i, last takes the rest)."""
    if not isinstance(num_groups, int) or num_groups < 1:
        raise ValueError(f"num_groups must be a positive integer, got {num_groups!r}")
    if not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be a positive integer, got {channels!r}")
    if num_groups > channels:
        raise ValueError(
            f"num_groups={num_groups} is more than channels={channels}: every group needs at least one channel")
    if partition == "equal":
        sizes = [channels // num_groups] * num_groups
        sizes[0] += channels - sum(sizes)
    elif partition == "exponential":
        sizes = [channels // (2 ** (i + 1)) for i in range(num_groups - 1)]
        sizes.append(channels - sum(sizes))
    else:
        raise ValueError(f"partition={partition!r} is not known; use one of {PARTITIONS}")
    if min(sizes) < 1:
        raise ValueError(
            f"partition={partition!r} of channels={channels} into {num_groups} groups leaves a group empty: "
            f"{sizes}; use fewer groups or the 'equal' partition")
    return sizes


def _as_list(value: IntOrList, length: int, name: str) -> List[int]:
    """Broadcast an int to ``length`` items, or check a list has that many."""
    if isinstance(value, int):
        return [value] * length
    values = list(value)
    if len(values) != length:
        raise ValueError(f"{name}={values} must have one entry per group ({length} groups)")
    return [int(v) for v in values]


def _check_kernels(kernel_size: IntOrList) -> List[int]:
    """Kernel sizes as a non-empty list of positive odd ints."""
    kernels = [kernel_size] if isinstance(kernel_size, int) else list(kernel_size)
    if not kernels:
        raise ValueError("kernel_size must name at least one kernel size, got []")
    for k in kernels:
        if not isinstance(k, int) or k < 1 or k % 2 == 0:
            raise ValueError(f"kernel_size={kernels}: every kernel size must be a positive odd integer, got {k!r}")
    return kernels


def default_kernel_sizes(num_groups: int) -> List[int]:
    """The paper's default kernels for g groups: 3, 5, 7, ... (2i + 1 starting at i = 1)."""
    return [2 * i + 3 for i in range(num_groups)]


def _conv_padding(kernel: int, dilation: int, padding: str) -> dict:
    """nn.Conv2d padding arguments: symmetric k//2 (MindCV) or TF 'SAME' (asymmetric when strided)."""
    if padding == "same":
        return {"pad_mode": "same"}
    if padding == "symmetric":
        return {"pad_mode": "pad", "padding": dilation * (kernel - 1) // 2}
    raise ValueError(f"padding={padding!r} is not known; use one of {PADDINGS}")


class MixConv2d(nn.Cell):
    """Mixed depthwise convolution: channel groups, each with its own kernel size.

    Args:
        channels: input = output channels.
        kernel_size: an odd int (plain depthwise conv) or a list, one odd kernel per group.
        stride: stride of every group; the output is ceil(input / stride) in each spatial dim.
        dilation: an int or one per group.
        dilated: the paper's dilated variant: a group of kernel k becomes a 3x3 kernel with
            dilation (k - 1) / 2 (the same receptive field, fewer parameters).
        partition: ``equal`` (remainder to the first group) or ``exponential``.
        padding: ``symmetric`` (k//2 on each side, MindCV) or ``same`` (TensorFlow's SAME).
        impl: how the groups run (the parameters are the same for all): ``split`` (slice, one depthwise
            conv per group, concat: MindCV's form, the reference), ``fused`` (one depthwise conv with the
            groups' kernels zero-padded to the largest size in the graph: one conv node, E x E work per
            channel), ``native`` (CPU: all groups in one C++ custom operator, each channel its own k x k
            window; float32), or ``auto`` (``resolve_impl``: the fastest correct one for the device).
            ``self.impl`` is the implementation in use after resolution and fallbacks.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: IntOrList = 3,
        stride: int = 1,
        dilation: IntOrList = 1,
        dilated: bool = False,
        partition: str = "equal",
        padding: str = "symmetric",
        impl: str = "auto",
    ) -> None:
        super().__init__()
        kernels = _check_kernels(kernel_size)
        if impl not in IMPLS:
            raise ValueError(f"impl={impl!r} is not known; use one of {IMPLS}")
        if stride not in (1, 2):
            raise ValueError(f"stride={stride!r}: MixConv supports stride 1 or 2")
        self.num_groups = len(kernels)
        self.split_channels = split_channels(channels, self.num_groups, partition)
        dilations = _as_list(dilation, self.num_groups, "dilation")
        if any(d < 1 for d in dilations):
            raise ValueError(f"dilation={dilations}: every dilation must be >= 1")
        if dilated:
            dilations = [max(1, (k - 1) // 2) for k in kernels]
            kernels = [min(k, 3) for k in kernels]
        self.kernel_sizes = kernels
        self.dilations = dilations
        convs = [
            nn.Conv2d(c, c, k, stride=stride, dilation=d, group=c, has_bias=False, **_conv_padding(k, d, padding))
            for c, k, d in zip(self.split_channels, kernels, dilations)
        ]
        self.mixed_depthwise_conv = convs[0] if self.num_groups == 1 else nn.CellList(convs)
        self._bounds = _group_bounds(self.split_channels)
        self.requested_impl = impl
        self.impl = _choose_impl(impl, kernels, dilations, stride, padding)
        self.fused = None  # the cell running all groups at once (fused or native)
        if self.impl == "fused":
            self.fused = FusedDepthwise(channels, kernels, dilations, stride, padding)
        elif self.impl == "native":
            self.fused = NativeDepthwise(self.split_channels, kernels, dilations, stride, padding)

    def group_weights(self) -> tuple:
        """The groups' kernels (the stored parameters), in channel order."""
        if self.num_groups == 1:
            return (self.mixed_depthwise_conv.weight,)
        return tuple(conv.weight for conv in self.mixed_depthwise_conv)

    def construct(self, x: Tensor) -> Tensor:
        if self.impl in ("fused", "native"):
            return self.fused(x, self.group_weights())
        if self.num_groups == 1:
            return self.mixed_depthwise_conv(x)
        outputs = []
        for i, conv in enumerate(self.mixed_depthwise_conv):
            start, end = self._bounds[i]
            outputs.append(conv(x[:, start:end]))
        return ops.concat(outputs, axis=1)


class GroupedConv2d(nn.Cell):
    """Convolution whose input and output channels are split into groups, each group its own conv.

    MixNet uses it for the 1x1 expand and project convolutions (1 or 2 groups); the channel split is
    the same rule as MixConv's (``split_channels``). ``impl``: ``split`` slices the input, runs one
    conv per group and concatenates (MindCV's form); ``grouped`` runs one convolution with ``group=g``
    over the groups' kernels concatenated in the graph (no copies of the activations, one node; only
    when every group has the same input and output width, else ``split``); ``auto`` is ``grouped``.
    On CPU that one convolution is a ``ConvKernel``: a batched matmul for 1 x 1 kernels, the native
    operator for k x k ones, never oneDNN's reference kernel (``self.conv.kind`` says which).
    The parameters (``grouped_conv[.g].weight``) are the same for both.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrList = 1,
        stride: int = 1,
        partition: str = "equal",
        padding: str = "symmetric",
        impl: str = "auto",
    ) -> None:
        super().__init__()
        if impl not in GROUPED_IMPLS:
            raise ValueError(f"impl={impl!r} is not known; use one of {GROUPED_IMPLS}")
        kernels = _check_kernels(kernel_size)
        self.num_groups = len(kernels)
        self.split_in_channels = split_channels(in_channels, self.num_groups, partition)
        self.split_out_channels = split_channels(out_channels, self.num_groups, partition)
        convs = [
            nn.Conv2d(ci, co, k, stride=stride, has_bias=False, **_conv_padding(k, 1, padding))
            for ci, co, k in zip(self.split_in_channels, self.split_out_channels, kernels)
        ]
        self.grouped_conv = convs[0] if self.num_groups == 1 else nn.CellList(convs)
        self._bounds = _group_bounds(self.split_in_channels)
        uniform = (len(set(self.split_in_channels)) == 1 and len(set(self.split_out_channels)) == 1
                   and len(set(kernels)) == 1)
        self.impl = "grouped" if impl != "split" and self.num_groups > 1 and uniform else "split"
        self.conv = None
        if self.impl == "grouped":
            pad = _conv_padding(kernels[0], 1, padding)
            self.conv = ConvKernel(out_channels, kernels[0], stride, 1, pad["pad_mode"], pad.get("padding", 0),
                                   self.num_groups)

    def construct(self, x: Tensor) -> Tensor:
        if self.num_groups == 1:
            return self.grouped_conv(x)
        if self.impl == "grouped":
            return self.conv(x, ops.concat([conv.weight for conv in self.grouped_conv], axis=0))
        outputs = []
        for i, conv in enumerate(self.grouped_conv):
            start, end = self._bounds[i]
            outputs.append(conv(x[:, start:end]))
        return ops.concat(outputs, axis=1)


def resolve_impl(impl: str, device_target: Optional[str] = None) -> str:
    """The implementation ``impl`` stands for on ``device_target`` (default: MindSpore's context).

    ``auto`` is ``native`` on CPU (2-3x faster MixConv layers than ``split``, and no depthwise conv left
    to oneDNN's reference kernel on AVX-512 CPUs; ``split`` when there is no C++ compiler to build the
    operator with, with one logged warning; see ``native``), ``fused`` on Ascend (one conv node per MixConv
    instead of 2g + 1 on the activations: the smaller graph the Ascend compile-time problem asks for)
    and ``split`` on GPU (cuDNN's depthwise convs; ``fused`` does E x E work for every channel, which
    measured 20-30 % slower than ``split`` on CPU). See the README's benchmark table.
    """
    if impl not in IMPLS:
        raise ValueError(f"impl={impl!r} is not known; use one of {IMPLS}")
    if impl != "auto":
        return impl
    target = str(device_target or ms.get_context("device_target")).lower()
    if target == "ascend":
        return "fused"
    if target == "cpu":
        return "native"
    return "split"


def _choose_impl(impl: str, kernels: Sequence[int], dilations: Sequence[int], stride: int, padding: str) -> str:
    """The implementation a layer runs: ``impl`` resolved, or ``split`` where it cannot express the layer."""
    chosen = resolve_impl(impl)
    layer = f"MixConv kernels={list(kernels)} dilations={list(dilations)} stride={stride} padding={padding!r}"
    if chosen == "fused" and len(kernels) == 1:
        return "split"  # one group: already a single depthwise conv
    if chosen in ("fused", "native"):
        reason = fusion_blocker(kernels, dilations, stride, padding)
        if reason is not None:
            _warn_once(f"{layer} runs 'split' instead of '{chosen}': {reason}", quiet=impl == "auto")
            return "split"
    if chosen == "native":
        reason = native.unavailable_reason()
        if reason:
            _warn_once(f"MixConv runs 'split' instead of 'native': the native CPU operator is unavailable: {reason}")
            return "split"
    _log_once(f"MixConv layers run '{chosen}' (impl={impl!r}, device {ms.get_context('device_target')})")
    return chosen


def _warn_once(message: str, quiet: bool = False) -> None:
    """Log ``message`` once per process as a warning (at debug level when ``quiet``)."""
    _log_once(message, get_logger(__name__).debug if quiet else get_logger(__name__).warning)


def _log_once(message: str, log=None) -> None:
    """Log ``message`` once per process (at INFO unless ``log`` is given)."""
    if message in _warned:
        return
    _warned.add(message)
    (log or get_logger(__name__).info)(message)


def _group_bounds(sizes: Sequence[int]) -> List[tuple]:
    """(start, end) channel index of each group."""
    bounds, start = [], 0
    for size in sizes:
        bounds.append((start, start + size))
        start += size
    return bounds


def create_conv2d_pad(kernel: int, padding: Optional[str] = "symmetric") -> dict:
    """Padding arguments for a plain conv (stem/head) under the model's padding convention."""
    return _conv_padding(kernel, 1, padding or "symmetric")
