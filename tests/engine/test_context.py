"""The context set the MindSpore 2.10 way: which calls the project makes, the jit level, amp_dtype, dp_mode."""
import ast
import glob
import os

import numpy as np
import pytest

import mindspore as ms
from mindspore import Tensor, nn

import config
from mindcv.engine import build_train_step
from mindcv.engine.build import DataBundle
from mindcv.engine.context import DEFAULT_JIT_LEVEL, apply_jit_level, set_context
from mindcv.models import create_model
from mindcv.utils.cli import ConfigError
from mindcv.utils.distributed import DistInfo

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "configs", "mixnet", "mixnet_s_demo.yaml")


def _project_sources():
    yield from glob.glob(os.path.join(ROOT, "mindcv", "**", "*.py"), recursive=True)
    yield from glob.glob(os.path.join(ROOT, "*.py"))


def test_the_project_calls_set_context_with_mode_only():
    """MindSpore 2.10 lists every set_context key but ``mode`` for deprecation (device -> set_device,
    deterministic -> set_deterministic, jit_config -> mindspore.jit / JitConfig, memory -> runtime.set_memory)."""
    keys = set()
    for path in _project_sources():
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "set_context"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in ("ms", "mindspore", "context")):
                keys |= {kw.arg for kw in node.keywords}
    assert keys == {"mode"}, keys


def parse(*extra):
    return config.parse_args(["-c", DEMO, "--ckpt_save_dir", "/tmp/unused"] + list(extra))


def test_default_jit_level_is_o0_and_attached_to_the_cell():
    run = set_context(parse("--mode", "0"))
    assert run.jit_level == DEFAULT_JIT_LEVEL == "O0"
    cell = apply_jit_level(nn.Dense(2, 2), "O1")
    assert cell.jit_config_dict["jit_level"] == "O1" and cell.jit_config_dict["backend"] == "ms_backend"
    assert not (ms.get_context("jit_config") or {}).get("jit_level")  # nothing set globally (deprecated key)


def test_o2_is_refused_off_ascend_and_bfloat16_refused_on_cpu():
    with pytest.raises(ConfigError, match="jit_level O2 runs on Ascend only"):
        set_context(parse("--jit_level", "O2"))
    with pytest.raises(ConfigError, match="amp_dtype bfloat16 does not run on CPU.*use amp_dtype float16"):
        set_context(parse("--amp_level", "O2", "--amp_dtype", "bfloat16"))
    assert set_context(parse("--amp_dtype", "bfloat16")).amp_dtype == "bfloat16"  # amp_level O0: nothing to cast


def test_cpu_has_no_bfloat16_conv_kernel():
    """Why bfloat16 is refused on CPU (fails when a MindSpore release adds the kernel: then allow it)."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    conv = nn.Conv2d(3, 4, 3, has_bias=False)
    ms.amp.auto_mixed_precision(conv, "O3", dtype=ms.bfloat16)
    with pytest.raises(TypeError, match="BFloat16"):
        conv(Tensor(np.ones((1, 3, 6, 6), np.float32))).asnumpy()


def test_bfloat16_turns_loss_scaling_off():
    args = parse("--amp_level", "O2", "--amp_dtype", "bfloat16", "--loss_scale", "256", "--loss_scale_type",
                 "dynamic", "--drop_overflow_update", "True")
    args.jit_level = "O0"
    model = create_model("mixnet_s", num_classes=4)
    data = DataBundle(None, None, 2, 4, ["a", "b", "c", "d"], False)
    step = build_train_step(args, model, data, DistInfo()).train_step
    assert float(step.scale_sense.asnumpy()) == 1.0 and not step.dynamic
    args.amp_dtype = "float16"
    step = build_train_step(args, model, data, DistInfo()).train_step
    assert float(step.scale_sense.asnumpy()) == 256.0 and step.dynamic


def test_pynative_dp_mode_sets_pynative_and_refuses_o2():
    run = set_context(parse("--mode", "0", "--dp_mode", "pynative"))
    assert run.mode == 1 and ms.get_context("mode") == ms.PYNATIVE_MODE
    ms.set_context(mode=ms.GRAPH_MODE)


def test_on_ascend_o0_is_the_default_and_o2_logs_its_deprecation(monkeypatch, caplog):
    """As set_context decides it on Ascend (MindSpore's set_device stubbed: this is a CPU build)."""
    from mindcv.engine import context

    monkeypatch.setattr(context.ms, "set_device", lambda device: None)
    run = set_context(parse("--device_target", "Ascend", "--amp_level", "O3", "--amp_dtype", "bfloat16"))
    assert run.jit_level == "O0" and run.amp_dtype == "bfloat16" and run.device_target == "Ascend"
    caplog.clear()
    run = set_context(parse("--device_target", "Ascend", "--jit_level", "O2"))
    assert run.jit_level == "O2"
    lines = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(lines) == 1 and "jit_level O2" in lines[0] and "2.9.0" in lines[0]
    run = set_context(parse("--device_target", "Ascend", "--dp_mode", "pynative", "--dataset_sink_mode", "True"))
    assert run.dataset_sink_mode is False and run.mode == 1
    ms.set_context(mode=ms.GRAPH_MODE)
    with pytest.raises(ConfigError, match="dp_mode pynative .* jit_level O0"):
        set_context(parse("--device_target", "Ascend", "--jit_level", "O2", "--dp_mode", "pynative"))
    with pytest.raises(ConfigError, match="amp_dtype bfloat16 is offered on Ascend only"):
        set_context(parse("--device_target", "GPU", "--amp_level", "O2", "--amp_dtype", "bfloat16"))
