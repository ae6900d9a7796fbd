"""The run's execution context: device, execution mode, compile level, and the options that depend on them."""
import argparse
import os
from typing import Optional

import mindspore as ms

from ..utils.cli import ConfigError
from ..utils.logger import get_logger

logger = get_logger(__name__)

__all__ = ["resolve_jit_level", "set_context"]


def resolve_jit_level(jit_level: Optional[str], device_target: str) -> str:
    """The compile level to use: the configured one, else O2 on Ascend and O0 elsewhere."""
    if jit_level:
        return jit_level
    return "O2" if device_target == "Ascend" else "O0"


def set_context(args: argparse.Namespace) -> argparse.Namespace:
    """Set MindSpore's device, mode and jit level from the config; returns the effective config (a copy).

    In the copy, ``device_target`` and ``jit_level`` are resolved (None: this build's device; O2 on Ascend,
    O0 elsewhere), ``dataset_sink_mode`` is off on CPU (no device queue) and ``num_parallel_workers`` is capped
    to the machine's CPUs (MindSpore refuses more). ``args`` itself is left as the user gave it.
    """
    run = argparse.Namespace(**vars(args))
    device = args.device_target or ms.get_context("device_target")
    if device != ms.get_context("device_target"):  # set_device refuses a repeat once kernels have run
        try:
            ms.set_device(device)
        except (RuntimeError, ValueError) as err:
            raise ConfigError(f"device_target={device!r} cannot be used with this MindSpore build: "
                              f"{str(err).splitlines()[0]}; use device_target CPU or leave it unset") from None
    ms.set_context(mode=ms.GRAPH_MODE if args.mode == 0 else ms.PYNATIVE_MODE)
    run.device_target = device
    run.jit_level = resolve_jit_level(args.jit_level, device)
    if run.jit_level == "O2" and device != "Ascend":
        raise ConfigError(f"jit_level O2 runs on Ascend only; device_target is {device}: use jit_level O0 or O1")
    ms.set_context(jit_config={"jit_level": run.jit_level})
    if args.dataset_sink_mode and device == "CPU":
        logger.info("dataset_sink_mode is off on CPU (no device queue); steps are fed from the host")
        run.dataset_sink_mode = False
    cpus = os.cpu_count() or 1
    if args.num_parallel_workers > cpus:  # recipes ask for 8 or 16
        logger.info("num_parallel_workers %d -> %d (the CPUs of this machine)", args.num_parallel_workers, cpus)
        run.num_parallel_workers = cpus
    if device == "CPU" and args.amp_level != "O0":
        logger.warning("amp_level %s on CPU: float16 kernels are slow or missing on CPU; O0 is recommended",
                       args.amp_level)
    return run
