"""Run by tests in a subprocess with torch + geffnet on PYTHONPATH (never imported by our package).

Builds geffnet's MixNets with random weights and random BatchNorm statistics, and writes for each
its state dict (``NAME.safetensors``; ``tf_mixnet_s`` also as a plain ``torch.save`` ``.pth``, the
format of timm's releases), the eval logits of one shared input (``NAME_logits.npy``) and the input
(``input.npy``), so a test can convert the weights and compare our logits with geffnet's.
It also prints ``depths: {multiplier: [blocks per stage]}`` of MixNet-M under timm's depth scaling.
Usage: python geffnet_dump.py OUT_DIR [IMAGE_SIZE] [MODEL ...]
"""
import json
import os
import sys

import numpy as np

DEFAULT_MODELS = ("mixnet_s", "mixnet_m", "mixnet_l", "tf_mixnet_s", "tf_mixnet_m", "tf_mixnet_l", "mixnet_xl")
PTH_MODELS = ("tf_mixnet_s",)
DEPTH_MULTIPLIERS = (0.5, 1.2, 1.25, 1.3, 2.0)


def randomize(model, generator) -> None:
    """Random BN statistics and affine parameters, random conv / linear biases (weights keep geffnet's init)."""
    import torch

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(1.0 + torch.randn(n, generator=generator) * 0.1)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
                module.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=generator)))
            elif isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)) and module.bias is not None:
                module.bias.copy_((torch.rand(module.bias.shape, generator=generator) - 0.5) * 0.2)


def dump(name: str, x, out_dir: str, seed: int) -> None:
    """Write NAME.safetensors (and NAME.pth for PTH_MODELS) and NAME_logits.npy."""
    import geffnet
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = geffnet.create_model(name, pretrained=False)
    randomize(model, torch.Generator().manual_seed(seed))
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(out_dir, f"{name}.safetensors"))
    if name in PTH_MODELS:
        torch.save(state, os.path.join(out_dir, f"{name}.pth"))
    np.save(os.path.join(out_dir, f"{name}_logits.npy"), logits)


def stage_depths() -> dict:
    """Blocks per stage of geffnet's MixNet-M at each of DEPTH_MULTIPLIERS (its 'round' depth scaling)."""
    from geffnet.gen_efficientnet import _gen_mixnet_m

    return {str(m): [len(stage) for stage in _gen_mixnet_m("mixnet_m", depth_multiplier=m).blocks]
            for m in DEPTH_MULTIPLIERS}


def main() -> None:
    out_dir = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    names = sys.argv[3:] or list(DEFAULT_MODELS)
    import geffnet
    import torch

    torch.set_num_threads(2)
    x = np.random.default_rng(0).normal(0, 1, (2, 3, size, size)).astype(np.float32)
    np.save(os.path.join(out_dir, "input.npy"), x)
    for seed, name in enumerate(names):
        dump(name, x, out_dir, seed)
    print("depths:", json.dumps(stage_depths()))
    print("peer:", geffnet.__file__, "torch", torch.__version__)


if __name__ == "__main__":
    main()
