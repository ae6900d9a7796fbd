"""Parameter and multiply-add counts of a network for a given input size.

Multiply-adds are counted for convolutions (including the 1x1 convs of squeeze-excite) and dense
layers from the shapes seen in one PyNative forward pass, the way hook-based counters (thop, fvcore)
count them for PyTorch; BatchNorm, activations, pooling and element-wise products are not counted.
A MixConv (or grouped 1x1 conv) counts each group's own convolution whatever implementation runs it (``fused`` really
computes E x E taps per channel, ``native`` does not), so the figure is the network's, not the kernel's.
"""
import argparse
from typing import Dict, Tuple

import numpy as np

import mindspore as ms
from mindspore import nn

from .layers.mixconv import GroupedConv2d, MixConv2d
from .model_factory import create_model
from .registry import list_models


def count_params(net: nn.Cell, trainable_only: bool = True) -> int:
    """Number of parameter elements (trainable ones, or all including BN statistics)."""
    params = net.trainable_params() if trainable_only else net.get_parameters()
    return int(sum(int(np.prod(p.shape)) for p in params))


def _conv_macs(cell: nn.Conv2d, out_shape: Tuple[int, ...]) -> int:
    kh, kw = cell.kernel_size
    per_output = (cell.in_channels // cell.group) * kh * kw
    return int(np.prod(out_shape[1:])) * per_output


def count_macs(net: nn.Cell, input_size: Tuple[int, int] = (224, 224), in_channels: int = 3) -> Dict[str, int]:
    """Multiply-adds per image of conv and dense layers for one input of ``input_size``.

    Runs one forward pass in PyNative mode (switching back to the previous mode after).
    """
    counts = {"conv": 0, "dense": 0}
    handles = []

    def conv_hook(cell, _inputs, output):
        counts["conv"] += _conv_macs(cell, tuple(output.shape))

    def dense_hook(cell, _inputs, output):
        counts["dense"] += int(np.prod(output.shape[1:])) * cell.in_channels

    def mixconv_hook(cell, _inputs, output):  # fused / native: the group convs are not called
        _, _, height, width = output.shape
        convs = cell.mixed_depthwise_conv if cell.num_groups > 1 else [cell.mixed_depthwise_conv]
        for conv, channels in zip(convs, cell.split_channels):
            counts["conv"] += _conv_macs(conv, (1, channels, height, width))

    def grouped_hook(cell, _inputs, output):  # one group=g conv: the group convs are not called
        _, _, height, width = output.shape
        for conv, channels in zip(cell.grouped_conv, cell.split_out_channels):
            counts["conv"] += _conv_macs(conv, (1, channels, height, width))

    for _, cell in net.cells_and_names():
        if isinstance(cell, MixConv2d) and cell.impl != "split":
            handles.append(cell.register_forward_hook(mixconv_hook))
        elif isinstance(cell, GroupedConv2d) and cell.impl != "split":
            handles.append(cell.register_forward_hook(grouped_hook))
        elif isinstance(cell, nn.Conv2d):
            handles.append(cell.register_forward_hook(conv_hook))
        elif isinstance(cell, nn.Dense):
            handles.append(cell.register_forward_hook(dense_hook))
    previous_mode = ms.get_context("mode")
    was_training = net.training
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        net.set_train(False)
        net(ms.Tensor(np.zeros((1, in_channels, *input_size), np.float32)))
    finally:
        for handle in handles:
            handle.remove()
        net.set_train(was_training)
        ms.set_context(mode=previous_mode)
    counts["total"] = counts["conv"] + counts["dense"]
    return counts


def model_summary(net: nn.Cell, input_size: Tuple[int, int] = (224, 224), in_channels: int = 3) -> Dict[str, int]:
    """Trainable parameters, all parameters (with BN statistics) and multiply-adds at ``input_size``."""
    macs = count_macs(net, input_size, in_channels)
    return {
        "params": count_params(net, trainable_only=True),
        "params_with_stats": count_params(net, trainable_only=False),
        "macs": macs["total"],
        "macs_conv": macs["conv"],
        "macs_dense": macs["dense"],
    }


def main() -> None:
    """Print the summary of registered models: ``python -m mindcv.models.summary mixnet_s [--size 224]``."""
    parser = argparse.ArgumentParser(description="Parameters and multiply-adds of registered models")
    parser.add_argument("models", nargs="*", default=["mixnet_s", "mixnet_m", "mixnet_l"],
                        help=f"model names (registered: {', '.join(list_models())})")
    parser.add_argument("--size", type=int, default=224, help="input height = width")
    parser.add_argument("--num_classes", type=int, default=1000)
    args = parser.parse_args()
    print(f"{'model':<14}{'params':>12}{'params+BN stats':>18}{'MACs (M)':>12}")
    for name in args.models:
        s = model_summary(create_model(name, num_classes=args.num_classes), (args.size, args.size))
        print(f"{name:<14}{s['params']:>12,}{s['params_with_stats']:>18,}{s['macs'] / 1e6:>12.1f}")


if __name__ == "__main__":
    main()
