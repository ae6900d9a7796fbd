"""Data-parallel set-up under ``msrun``: detect the launcher, initialise communication, reduce sums."""
import os
import time
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .cli import ConfigError
from .logger import get_logger
from .msrun import port_answers

logger = get_logger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: rank, number of ranks, and whether communication is initialised."""

    rank: int = 0
    group_size: int = 1
    initialized: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_msrun() -> bool:
    """True when this process was started by msrun (worker or scheduler) or mpirun."""
    return os.environ.get("MS_ROLE") in ("MS_WORKER", "MS_SCHED") or "OMPI_COMM_WORLD_SIZE" in os.environ


def local_device_count(device_target: str) -> int:
    """Devices of this kind on this machine: Ascend/GPU from MindSpore (8 if it cannot tell), CPU: its cores."""
    if device_target in ("Ascend", "GPU"):
        try:
            from mindspore import device_context

            return max(1, int(getattr(device_context, device_target.lower()).device_count()))
        except Exception:  # an older build or no driver: the usual 8-device server
            return 8
    return max(1, os.cpu_count() or 1)


def msrun_hint(argv: Sequence[str], workers: int, log_dir: str = "") -> str:
    """The msrun command that runs this same command data-parallel on ``workers`` devices (logs in ``log_dir``)."""
    logs = f"--log_dir {log_dir} --join True " if log_dir else ""
    return f"msrun --worker_num {workers} --local_worker_num {workers} {logs}python " + " ".join(argv)


def init_distributed(distribute: bool, argv: Sequence[str] = (), device_target: Optional[str] = None,
                     log_dir: str = "") -> DistInfo:
    """Initialise data parallelism when asked and launched by msrun; otherwise run on one device.

    ``distribute=True`` without msrun logs a warning with the msrun command to use (MindCV's recipes set
    ``distribute: True`` and standalone users trip on it): one worker per local device (CPU: per core), its logs
    in ``log_dir``; then it continues on one device.
    """
    import mindspore as ms
    from mindspore.communication import get_group_size, get_rank, init

    if not distribute:
        if launched_by_msrun() and int(os.environ.get("MS_WORKER_NUM", "1")) > 1:
            raise ConfigError("this process was started by msrun with several workers but distribute is False: "
                               "pass --distribute True, or run without msrun")
        return DistInfo()
    if not launched_by_msrun():
        logger.warning("distribute is True but this process was not started by msrun: running on one device. "
                       "For data-parallel training run:\n  %s\nor pass --distribute False to silence this.",
                       msrun_hint(argv, local_device_count(device_target or ms.get_context("device_target")), log_dir))
        return DistInfo()
    wait_for_scheduler()
    try:
        init()
    except RuntimeError as err:  # the cluster's environment (MS_* variables), not this program
        raise ConfigError(f"MindSpore could not join the msrun cluster: {_first_line(err)}; {_LAUNCH_HINT}") from None
    rank, size = get_rank(), get_group_size()
    ms.reset_auto_parallel_context()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True, device_num=size)
    return DistInfo(rank=rank, group_size=size, initialized=True)


_LAUNCH_HINT = ("start data-parallel runs with msrun (e.g. msrun --worker_num 2 --local_worker_num 2 python "
                "train.py ... --distribute True), or unset MS_ROLE and the other MS_* variables to run on one device")
SCHEDULER_WAIT_ENV = "MINDCV_SCHEDULER_WAIT"
DEFAULT_SCHEDULER_WAIT = 120.0  # seconds a worker waits for msrun's scheduler to answer before giving up


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def _scheduler_wait() -> float:
    """Seconds to wait for the scheduler: $MINDCV_SCHEDULER_WAIT, else DEFAULT_SCHEDULER_WAIT."""
    text = os.environ.get(SCHEDULER_WAIT_ENV, "").strip()
    if not text:
        return DEFAULT_SCHEDULER_WAIT
    try:
        return max(0.0, float(text))
    except ValueError:
        raise ConfigError(f"{SCHEDULER_WAIT_ENV}={text!r} is not a number of seconds: fix or unset it") from None


def wait_for_scheduler() -> None:
    """A worker of an msrun cluster (MS_ROLE=MS_WORKER) waits, bounded, for the scheduler to answer at
    MS_SCHED_HOST:MS_SCHED_PORT; MindSpore's own wait is silent and has no end that a user would see, e.g.
    when MS_ROLE was set by hand with no msrun running. ConfigError with the msrun command after the wait."""
    if os.environ.get("MS_ROLE") != "MS_WORKER":
        return
    host = os.environ.get("MS_SCHED_HOST", "").strip() or "127.0.0.1"
    port_text = os.environ.get("MS_SCHED_PORT", "").strip()
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"MS_ROLE=MS_WORKER is set but MS_SCHED_PORT={port_text!r} is not a port number: "
                          f"{_LAUNCH_HINT}")
    port, wait = int(port_text), _scheduler_wait()
    deadline, said = time.monotonic() + wait, False
    while not port_answers(host, port):
        if time.monotonic() >= deadline:
            raise ConfigError(f"no msrun scheduler answered at {host}:{port} within {wait:g} s (MS_ROLE=MS_WORKER is "
                              f"set in this environment; {SCHEDULER_WAIT_ENV} sets the wait): {_LAUNCH_HINT}")
        if not said:
            logger.info("waiting up to %g s for the msrun scheduler at %s:%d ...", wait, host, port)
            said = True
        time.sleep(0.5)


def all_reduce_sum(values: Sequence[float], dist: DistInfo) -> np.ndarray:
    """Element-wise sum of a small vector of numbers over all ranks (identity on one device)."""
    array = np.asarray(values, dtype=np.float64)
    if not dist.initialized or dist.group_size == 1:
        return array
    import mindspore as ms
    from mindspore import ops

    # float32 holds counts exactly up to 2^24; split large counts into high and low parts to stay exact.
    high = np.floor(array / 4096.0)
    low = array - high * 4096.0
    packed = ms.Tensor(np.concatenate([high, low]).astype(np.float32))
    summed = ops.AllReduce()(packed).asnumpy().astype(np.float64)
    n = len(array)
    return summed[:n] * 4096.0 + summed[n:]


def weights_fingerprint(cell) -> str:
    """SHA-256 (first 16 hex digits) over a cell's trainable parameter names and values: equal on ranks
    in sync (BatchNorm moving statistics are left out: each rank computes them on its own shard)."""
    import hashlib

    digest = hashlib.sha256()
    for param in sorted(cell.trainable_params(), key=lambda p: p.name):
        digest.update(param.name.encode())
        digest.update(np.ascontiguousarray(param.asnumpy()).tobytes())
    return digest.hexdigest()[:16]
