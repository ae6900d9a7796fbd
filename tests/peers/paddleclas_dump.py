"""Run by tests in a subprocess with paddlepaddle + paddleclas on PYTHONPATH (never imported by our package).

Builds PaddleClas's MixNet_S/M/L (ppcls/arch/backbone/model_zoo/mixnet.py of the paddleclas wheel, loaded on
its own: the package's __init__ needs opencv, faiss and more that the network does not) with random weights
and random BatchNorm statistics, and writes for each:
  NAME.pdparams        paddle.save(model.state_dict()) - the format of PaddleClas's published files (protocol 4;
                       MixNet_S with protocol 2, as Paddle 2.0-era files);
  NAME_SIZE_logits.npy PaddleClas's eval logits of input_SIZE.npy for each requested size.
Usage: python paddleclas_dump.py OUT_DIR SIZES(comma-separated) [MODEL ...]
"""
import importlib.util
import math
import os
import sys
import types

import numpy as np

DEFAULT_MODELS = ("MixNet_S", "MixNet_M", "MixNet_L")
_PACKAGE = "paddleclas.ppcls.arch.backbone.model_zoo"


def load_mixnet_module():
    """PaddleClas's mixnet.py as a module, its one package-relative import (pretrained loading) stubbed."""
    root = os.path.dirname(importlib.util.find_spec("paddleclas").origin)
    path = os.path.join(root, "ppcls", "arch", "backbone", "model_zoo", "mixnet.py")
    return _load(path)


def _load(path: str):
    parts = _PACKAGE.split(".")
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        module = types.ModuleType(name)
        module.__path__ = []
        sys.modules[name] = module
    save_load = types.ModuleType("paddleclas.ppcls.utils.save_load")
    save_load.load_dygraph_pretrain = save_load.load_dygraph_pretrain_from_url = None
    sys.modules["paddleclas.ppcls.utils"] = types.ModuleType("paddleclas.ppcls.utils")
    sys.modules["paddleclas.ppcls.utils.save_load"] = save_load
    spec = importlib.util.spec_from_file_location(f"{_PACKAGE}.mixnet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def random_state(model, rng: np.random.Generator) -> dict:
    """Random tensors for every entry of the model's state dict, at timm's scale (see pytorchcv_dump.py)."""
    state = {}
    for name, tensor in model.state_dict().items():
        shape = tuple(tensor.shape)
        if name.endswith("._mean"):
            value = rng.normal(0, 0.1, shape)
        elif name.endswith("._variance"):
            value = rng.uniform(0.5, 1.5, shape)
        elif ".bn." in name and name.endswith(".weight"):
            value = 1.0 + rng.normal(0, 0.1, shape)
        elif name.endswith(".bias"):
            value = rng.uniform(-0.1, 0.1, shape)
        elif len(shape) == 4:  # He-normal over fan-out; depthwise kernels have fan-out k*k
            fan_out = shape[2] * shape[3] * (1 if shape[1] == 1 else shape[0])
            value = rng.normal(0, math.sqrt(2.0 / fan_out), shape)
        elif len(shape) == 2:  # Linear weight, [in, out] in Paddle
            bound = 1.0 / math.sqrt(shape[1])
            value = rng.uniform(-bound, bound, shape)
        else:
            raise ValueError(f"unexpected state dict entry {name} {shape}")
        state[name] = value.astype(np.float32)
    return state


def main() -> None:
    out_dir = sys.argv[1]
    sizes = [int(s) for s in sys.argv[2].split(",")] if len(sys.argv) > 2 else [224]
    names = sys.argv[3:] or list(DEFAULT_MODELS)
    import paddle

    paddle.set_device("cpu")
    module = load_mixnet_module()
    inputs = {}
    for size in sizes:
        inputs[size] = np.random.default_rng(size).normal(0, 1, (1, 3, size, size)).astype(np.float32)
        np.save(os.path.join(out_dir, f"input_{size}.npy"), inputs[size])
    for seed, name in enumerate(names):
        model = getattr(module, name)()
        state = random_state(model, np.random.default_rng(seed))
        model.set_state_dict({k: paddle.to_tensor(v) for k, v in state.items()})
        model.eval()
        with paddle.no_grad():
            for size, x in inputs.items():
                logits = model(paddle.to_tensor(x)).numpy()
                np.save(os.path.join(out_dir, f"{name}_{size}_logits.npy"), logits)
        paddle.save(model.state_dict(), os.path.join(out_dir, f"{name}.pdparams"),
                    protocol=2 if name == "MixNet_S" else 4)
    print("peer:", module.__file__, "paddle", paddle.__version__)


if __name__ == "__main__":
    main()
