"""The run's execution context, set the MindSpore 2.10 way: device, execution mode, compile level, precision.

MindSpore 2.10 documents ``mindspore.set_context`` as going away key by key: the device moves to
``mindspore.set_device``, determinism to ``mindspore.set_deterministic``, and ``jit_config`` to the parameters of
``mindspore.jit`` (a Cell takes the same ``JitConfig`` through ``Cell.set_jit_config``). Only ``mode`` is still set
through ``set_context`` here; the compile level is attached to the compiled cells (``apply_jit_level``).

Compile levels (MindSpore 2.10 ``mindspore.jit`` / ``JitConfig``): ``O0`` and ``O1`` on the default ``ms_backend``;
O0 is ``mindspore.jit``'s default and the only level not marked experimental; ``O2`` (the GE backend, MindCV's
level on MindSpore 2.5) is deprecated since 2.9.0. So the default is O0 on every device; an explicit O2 is still
honoured on Ascend, with one log line saying it is deprecated.
"""
import argparse
import os
from typing import Optional

import mindspore as ms
from mindspore import nn

from ..data.image_check import DEFAULT_MAX_IMAGE_PIXELS, set_max_image_pixels
from ..models.layers import native
from ..utils.cli import ConfigError
from ..utils.logger import get_logger

logger = get_logger(__name__)

__all__ = ["DEFAULT_JIT_LEVEL", "resolve_jit_level", "check_amp_dtype", "amp_dtype_of", "apply_jit_level",
           "set_context", "prepare_native_operators"]

DEFAULT_JIT_LEVEL = "O0"  # mindspore.jit's default in 2.10 and its only non-experimental level, on every device
O2_DEPRECATION = ("jit_level O2 (the GE backend) is deprecated since MindSpore 2.9.0 (JitConfig docs) and may be "
                  "removed; the default O0 (or O1) runs on the supported ms_backend")


def resolve_jit_level(jit_level: Optional[str], device_target: str) -> str:
    """The compile level to use: the configured one, else O0 (every device; see the module docstring)."""
    del device_target  # one default for all devices since MindSpore 2.9 (O2 deprecated, O1 experimental)
    return jit_level or DEFAULT_JIT_LEVEL


def check_amp_dtype(amp_dtype: str, amp_level: str, device: str) -> None:
    """Refuse bfloat16 where MindSpore has no bfloat16 kernels for the network (checked on CPU: no Conv2D)."""
    if amp_dtype != "bfloat16" or amp_level == "O0":
        return
    if device == "CPU":
        raise ConfigError("amp_dtype bfloat16 does not run on CPU: MindSpore 2.10's CPU Conv2D kernel is float32 "
                          "only; use amp_dtype float16, or amp_level O0")
    if device == "GPU":
        raise ConfigError("amp_dtype bfloat16 is offered on Ascend only (Atlas A2 / 910B run it natively; it was "
                          "never run on GPU here): use amp_dtype float16 on GPU")


def amp_dtype_of(args: argparse.Namespace):
    """The MindSpore dtype of ``amp_dtype`` (float16 when the option is absent)."""
    return ms.bfloat16 if getattr(args, "amp_dtype", "float16") == "bfloat16" else ms.float16


def apply_jit_level(cell: nn.Cell, jit_level: str) -> nn.Cell:
    """Attach the compile level to ``cell`` (graph mode compiles it with this JitConfig); returns the cell."""
    cell.set_jit_config(ms.JitConfig(jit_level=jit_level))
    return cell


def set_context(args: argparse.Namespace) -> argparse.Namespace:
    """Set MindSpore's device and mode from the config; returns the effective config (a copy).

    In the copy, ``device_target`` and ``jit_level`` are resolved (None: this build's device; O0),
    ``dataset_sink_mode`` is off on CPU (no device queue) and ``num_parallel_workers`` is capped
    to the machine's CPUs (MindSpore refuses more). ``args`` itself is left as the user gave it. The image pixel
    limit (``max_image_pixels``) is set for every image this process reads.
    """
    run = argparse.Namespace(**vars(args))
    device = args.device_target or ms.get_context("device_target")
    if device != ms.get_context("device_target"):  # set_device refuses a repeat once kernels have run
        try:
            ms.set_device(device)
        except (RuntimeError, ValueError) as err:
            raise ConfigError(f"device_target={device!r} cannot be used with this MindSpore build: "
                              f"{str(err).splitlines()[0]}; use device_target CPU or leave it unset") from None
    dp_mode = getattr(args, "dp_mode", "graph")
    mode = ms.PYNATIVE_MODE if (args.mode == 1 or dp_mode == "pynative") else ms.GRAPH_MODE
    if dp_mode == "pynative" and args.mode == 0:
        logger.info("dp_mode pynative: PyNative mode, the train step compiled by mindspore.jit")
        run.mode = 1
    ms.set_context(mode=mode)
    run.device_target = device
    run.jit_level = resolve_jit_level(args.jit_level, device)
    if run.jit_level == "O2":
        if device != "Ascend":
            raise ConfigError(f"jit_level O2 runs on Ascend only; device_target is {device}: use jit_level O0 or O1")
        logger.warning("%s", O2_DEPRECATION)
    if dp_mode == "pynative" and run.jit_level == "O2":
        raise ConfigError("dp_mode pynative compiles with mindspore.jit, which takes jit_level O0 or O1: "
                          "use jit_level O0 (or dp_mode graph for O2)")
    check_amp_dtype(getattr(args, "amp_dtype", "float16"), args.amp_level, device)
    set_max_image_pixels(getattr(args, "max_image_pixels", DEFAULT_MAX_IMAGE_PIXELS))
    if args.dataset_sink_mode and device == "CPU":
        logger.info("dataset_sink_mode is off on CPU (no device queue); steps are fed from the host")
        run.dataset_sink_mode = False
    elif args.dataset_sink_mode and dp_mode == "pynative":  # data_sink around a jit-compiled step: never run here
        logger.info("dataset_sink_mode is off with dp_mode pynative; the compiled step is fed from the host")
        run.dataset_sink_mode = False
    cpus = os.cpu_count() or 1
    if args.num_parallel_workers > cpus:  # recipes ask for 8 or 16
        logger.info("num_parallel_workers %d -> %d (the CPUs of this machine)", args.num_parallel_workers, cpus)
        run.num_parallel_workers = cpus
    if device == "CPU" and args.amp_level != "O0":
        logger.warning("amp_level %s on CPU: float16 kernels are slow or missing on CPU; O0 is recommended",
                       args.amp_level)
    return run


def prepare_native_operators(mixconv_impl: Optional[str]) -> None:
    """Before a model that may run the native CPU operators is built (CPU, any mixconv_impl but split): build
    them, or verify their cached build, now. When that fails, the model is built with MindSpore's operators and
    MixConv says why in one line, instead of the first graph compile failing."""
    if mixconv_impl == "split" or str(ms.get_context("device_target")).upper() != "CPU":
        return
    native.prepare()
