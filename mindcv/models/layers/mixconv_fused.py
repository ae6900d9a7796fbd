"""The ``fused`` MixConv: one depthwise convolution over all channels with per-group kernels embedded
in the graph into one kernel of the largest (dilated) size.

Each group g has a k_g x k_g kernel with dilation d_g. With D = gcd of the dilations, the group's kernel
becomes a dense kernel of size e_g = (k_g - 1) * d_g / D + 1 under dilation D (zeros inserted between
taps when d_g > D), then is zero-padded, centred, to E = max(e_g). Concatenated over the groups this is
one (C, 1, E, E) kernel, and one depthwise convolution with dilation D gives exactly the split result:

- symmetric padding: the fused pad D * (E - 1) / 2 = the group's pad d_g * (k_g - 1) / 2 plus the
  centring offset D * (E - e_g) / 2, so every tap sees the same input pixel;
- TF 'same' padding: the total pad grows by D * (E - e_g) (even), so the top/left share grows by exactly
  the centring offset, unless a group's own total pad would be negative (clamped to 0), which happens
  only for a 1x1 group with stride 2 (see ``fusion_blocker``).

The stored parameters stay per group (``mixed_depthwise_conv.g.weight``); the embedding is a few
pad / reshape / concat nodes on the small weight tensors, differentiated by autodiff, so gradients flow
back to each group's own kernel. On the activation path there is one conv node instead of g slices,
g convs and a concat. The cost is E x E multiply-adds for every channel (see MixConv2d's ``impl``).
"""
from math import gcd
from typing import List, Optional, Sequence

from mindspore import Tensor, nn, ops


def fused_geometry(kernels: Sequence[int], dilations: Sequence[int]) -> tuple:
    """(D, factors, E): base dilation, each group's tap spacing in units of D, and the fused kernel size."""
    if len(kernels) != len(dilations) or not kernels:
        raise ValueError(f"kernels={list(kernels)} and dilations={list(dilations)} must be non-empty and of "
                         "equal length")
    base = 0
    for d in dilations:
        base = gcd(base, int(d))
    factors = [int(d) // base for d in dilations]
    size = max((k - 1) * f + 1 for k, f in zip(kernels, factors))
    return base, factors, size


def fusion_blocker(kernels: Sequence[int], dilations: Sequence[int], stride: int, padding: str) -> Optional[str]:
    """Why these groups cannot be fused exactly, or None when they can."""
    _, factors, size = fused_geometry(kernels, dilations)
    if padding == "same" and stride > 1 and size > 1:
        if any((k - 1) * f + 1 == 1 for k, f in zip(kernels, factors)):
            return (f"a 1x1 group with stride {stride} and 'same' padding takes its pad from the other side "
                    "than the larger kernels (TF clamps its negative total pad to 0), so no centred fused "
                    "kernel reproduces it")
    return None


def embed_kernel(weight: Tensor, factor: int, size: int) -> Tensor:
    """A (c, 1, k, k) kernel spread to tap spacing ``factor`` and zero-padded, centred, to size x size.

    Uses the ``Pad`` primitive (backward: a slice), not ``ops.pad``: in MindSpore 2.10 on CPU the
    backward of ``ops.pad`` (PadV3) hangs the second time a compiled graph runs.
    """
    c, _, k, _ = weight.shape
    spread = (k - 1) * factor + 1
    if factor > 1:
        w = weight.reshape(c, 1, k, 1, k, 1)
        w = ops.Pad(((0, 0), (0, 0), (0, 0), (0, factor - 1), (0, 0), (0, factor - 1)))(w)
        w = w.reshape(c, 1, k * factor, k * factor)
        weight = w[:, :, :spread, :spread]
    offset = (size - spread) // 2
    if offset == 0:
        return weight
    return ops.Pad(((0, 0), (0, 0), (offset, offset), (offset, offset)))(weight)


class FusedDepthwise(nn.Cell):
    """One depthwise convolution with the groups' kernels embedded into one; no parameters of its own.

    ``construct(x, weights)`` takes the per-group kernels (a tuple, in channel order).
    """

    def __init__(self, channels: int, kernels: Sequence[int], dilations: Sequence[int], stride: int,
                 padding: str) -> None:
        super().__init__()
        blocker = fusion_blocker(kernels, dilations, stride, padding)
        if blocker is not None:
            raise ValueError(f"kernels={list(kernels)}, dilations={list(dilations)}, stride={stride}, "
                             f"padding={padding!r} cannot be fused: {blocker}")
        base, factors, size = fused_geometry(kernels, dilations)
        self.factors: List[int] = factors
        self.kernel_size = size
        self.dilation = base
        if padding == "same":
            pad_args = {"pad_mode": "same"}
        elif padding == "symmetric":
            pad_args = {"pad_mode": "pad", "pad": base * (size - 1) // 2}
        else:
            raise ValueError(f"padding={padding!r} is not known; use 'symmetric' or 'same'")
        self.conv = ops.Conv2D(out_channel=channels, kernel_size=size, stride=stride, dilation=base,
                               group=channels, **pad_args)

    def fused_weight(self, weights: tuple) -> Tensor:
        """The (C, 1, E, E) kernel of all groups."""
        parts = [embed_kernel(w, f, self.kernel_size) for w, f in zip(weights, self.factors)]
        return parts[0] if len(parts) == 1 else ops.concat(parts, axis=0)

    def construct(self, x: Tensor, weights: tuple) -> Tensor:
        return self.conv(x, self.fused_weight(weights))
