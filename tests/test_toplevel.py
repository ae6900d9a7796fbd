"""MindCV 0.3.0's top-level API (``mindcv.create_model``, ``mindcv.list_models``, ...), imported on first use so
that ``import mindcv`` stays free of MindSpore; list_models and the registry queries with MindCV's signatures."""
import importlib
import subprocess
import sys

import pytest

import mindcv
from mindcv.models.registry import UnknownModelError

ROOT = mindcv.__path__[0].rsplit("/", 1)[0]

# The names of MindCV 0.3.0's ``mindcv.__all__`` (611 names, read from the package) that apply to this project:
# its factories, the model registry's queries and the MixNet constructors (the other 590 are MindCV's other
# model families, and MindCV's dataset downloaders, which belong to the datasets).
MINDCV_TOPLEVEL = {
    "create_dataset": "data", "create_loader": "data", "create_transforms": "data", "create_loss": "loss",
    "MixNet": "models", "mixnet_s": "models", "mixnet_m": "models", "mixnet_l": "models", "create_model": "models",
    "list_models": "models", "is_model": "models", "model_entrypoint": "models", "list_modules": "models",
    "is_model_in_modules": "models", "is_model_pretrained": "models", "get_pretrained_cfg": "models",
    "get_pretrained_cfg_value": "models", "has_pretrained_cfg_key": "models", "create_optimizer": "optim",
    "create_scheduler": "scheduler",
}


def test_import_mindcv_does_not_start_mindspore():
    code = ("import sys, mindcv; v = mindcv.__version__; import mindcv.choices, mindcv.utils.cli; "
            "print(sorted(m for m in ('mindspore', 'numpy', 'mindcv.models', 'mindcv.data') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]"


@pytest.mark.parametrize("name,package", sorted(MINDCV_TOPLEVEL.items()))
def test_mindcv_toplevel_name_is_the_block_own(name, package):
    assert getattr(mindcv, name) is getattr(importlib.import_module(f"mindcv.{package}"), name)
    assert name in mindcv.__all__


def test_sub_packages_and_registered_models_are_attributes():
    for name in ("data", "loss", "models", "optim", "scheduler", "utils", "engine", "eval"):
        assert getattr(mindcv, name) is importlib.import_module(f"mindcv.{name}")
    for name in mindcv.list_models():  # every registered model, as MindCV's register_model exports it
        assert getattr(mindcv, name) is mindcv.model_entrypoint(name) and name in mindcv.__all__
    with pytest.raises(AttributeError, match="has no attribute 'mixnet_q'"):
        mindcv.mixnet_q  # noqa: B018
    with pytest.raises(AttributeError):
        mindcv.__wrapped__  # noqa: B018 (a dunder probe is not looked up in the blocks)


def test_no_name_is_exported_by_two_blocks():
    seen = {}
    for package in mindcv.EXPORTING_PACKAGES:
        for name in importlib.import_module(f"mindcv.{package}").__all__:
            assert name not in seen, f"{name} is exported by mindcv.{seen[name]} and mindcv.{package}"
            seen[name] = package


def test_star_import_and_create_model_from_the_top():
    namespace = {}
    exec("from mindcv import *", namespace)  # noqa: S102
    assert namespace["create_model"] is mindcv.create_model and namespace["models"] is mindcv.models
    net = mindcv.create_model("mixnet_s", num_classes=3)
    assert net.classifier.weight.shape == (3, 1536)


def test_list_models_and_registry_queries_as_mindcv():
    assert mindcv.list_modules() == ["mixnet", "mobilenet"]
    assert mindcv.list_models("mixnet_?", "mixnet") == ["mixnet_l", "mixnet_m", "mixnet_s"]  # MindCV's positional order: filter, module
    assert mindcv.list_models(module="mobilenet", filter="mobilenet_v1*", exclude_filters="*mixconv*") == [
        "mobilenet_v1", "mobilenet_v1_dw5", "mobilenet_v1_dw7", "mobilenet_v1_dw9"]
    assert mindcv.list_models(module="nothing") == []
    assert "mixnet_s" in mindcv.list_models(pretrained=True) and "mobilenet_v2" not in mindcv.list_models(
        pretrained=True)
    assert mindcv.is_model_in_modules("mixnet_m", ["mixnet"]) and not mindcv.is_model_in_modules("mixnet_m",
                                                                                                ("mobilenet",))
    with pytest.raises(TypeError, match="module_names"):
        mindcv.is_model_in_modules("mixnet_m", "mixnet")
    url = mindcv.get_pretrained_cfg("mixnet_s")["url"]
    assert mindcv.get_pretrained_cfg_value("mixnet_s", "url") == url and url.endswith(".ckpt")
    assert mindcv.has_pretrained_cfg_key("mixnet_s", "url") and not mindcv.has_pretrained_cfg_key("mixnet_s", "x")
    assert mindcv.get_pretrained_cfg_value("mixnet_s", "no_such_key") is None
    assert mindcv.get_pretrained_cfg_value("mixnet_z", "url") is None and not mindcv.has_pretrained_cfg_key("mixnet_z", "url")
    with pytest.raises(UnknownModelError, match="mixnet_s"):
        mindcv.model_entrypoint("mixnet_z")
