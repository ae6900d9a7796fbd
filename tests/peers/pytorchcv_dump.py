"""Run by tests in a subprocess with torch + pytorchcv on PYTHONPATH (never imported by our package).

Builds pytorchcv's (imgclsmob's) MixNet-S/M/L with random weights and random BatchNorm statistics and writes
for each:
  NAME.pth             its state dict, as pytorchcv's model store ships it (torch.save of state_dict());
  NAME.pdparams        the same tensors under PaddleClas's names, in paddle.save's format: a pickle (protocol 2,
                       as Paddle 2.0-era files; protocol 4 for mixnet_m) of a dict name -> numpy array plus the
                       'StructuredToParameterName@@' name table; BN statistics as _mean / _variance, the
                       Linear weight as [in, out];
  NAME_SIZE_logits.npy pytorchcv's eval logits of input_SIZE.npy for each requested size.
Usage: python pytorchcv_dump.py OUT_DIR SIZES(comma-separated) [MODEL ...]
"""
import os
import pickle
import sys

import numpy as np

DEFAULT_MODELS = ("mixnet_s", "mixnet_m", "mixnet_l")
PADDLE_BN = {"running_mean": "_mean", "running_var": "_variance"}


def randomize(model, generator) -> None:
    """Random weights of timm's scale (He-normal over fan-out convs, uniform(1/sqrt(out)) classifier: pytorchcv's
    own kaiming-uniform init over fan-in gives logits in the thousands with random BN statistics, where float32
    rounding alone exceeds the parity tolerance), random BN statistics and affine parameters, random biases."""
    import math

    import torch

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels // module.groups
                module.weight.normal_(0.0, math.sqrt(2.0 / fan_out), generator=generator)
            elif isinstance(module, torch.nn.Linear):
                bound = 1.0 / math.sqrt(module.weight.shape[0])
                module.weight.uniform_(-bound, bound, generator=generator)
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(1.0 + torch.randn(n, generator=generator) * 0.1)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
                module.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=generator)))
            elif isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)) and module.bias is not None:
                module.bias.copy_((torch.rand(module.bias.shape, generator=generator) - 0.5) * 0.2)


def paddle_state(state: dict) -> dict:
    """PaddleClas's names and layouts for a pytorchcv state dict (what paddle.save(model.state_dict()) holds)."""
    out, table = {}, {}
    for name, tensor in state.items():
        if name.endswith("num_batches_tracked"):
            continue
        prefix, _, leaf = name.rpartition(".")
        array = tensor.numpy()
        if name == "output.weight":
            array = np.ascontiguousarray(array.T)
        key = f"{prefix}.{PADDLE_BN.get(leaf, leaf)}"
        out[key] = array
        table[key] = f"param_{len(table)}"
    out["StructuredToParameterName@@"] = table
    return out


def dump(name: str, inputs: dict, out_dir: str, seed: int) -> None:
    """Write NAME.pth, NAME.pdparams and NAME_SIZE_logits.npy."""
    import torch
    from pytorchcv.models import mixnet

    torch.manual_seed(seed)
    model = getattr(mixnet, name)()
    randomize(model, torch.Generator().manual_seed(seed))
    model.eval()
    with torch.no_grad():
        for size, x in inputs.items():
            np.save(os.path.join(out_dir, f"{name}_{size}_logits.npy"), model(torch.from_numpy(x)).numpy())
    state = model.state_dict()
    torch.save(state, os.path.join(out_dir, f"{name}.pth"))
    with open(os.path.join(out_dir, f"{name}.pdparams"), "wb") as f:
        pickle.dump(paddle_state(state), f, protocol=4 if name == "mixnet_m" else 2)


def main() -> None:
    out_dir = sys.argv[1]
    sizes = [int(s) for s in sys.argv[2].split(",")] if len(sys.argv) > 2 else [224]
    names = sys.argv[3:] or list(DEFAULT_MODELS)
    import pytorchcv
    import torch

    torch.set_num_threads(2)
    inputs = {}
    for size in sizes:
        inputs[size] = np.random.default_rng(size).normal(0, 1, (1, 3, size, size)).astype(np.float32)
        np.save(os.path.join(out_dir, f"input_{size}.npy"), inputs[size])
    for seed, name in enumerate(names):
        dump(name, inputs, out_dir, seed)
    print("peer:", pytorchcv.__file__, pytorchcv.__version__, "torch", torch.__version__)


if __name__ == "__main__":
    main()
