"""Stopping a training run cleanly on SIGINT (Ctrl-C) or SIGTERM (schedulers, preemption).

The first signal asks the loop to stop after the step in progress (the loop then saves the training state and
exits with 128 + the signal number: 130 for SIGINT, 143 for SIGTERM); a second one ends the process at once,
as does a signal before training has started.

MindSpore 2.10 turns SIGINT into SIGTERM: its runtime's queue threads install a SIGINT handler that sends the
process SIGTERM ("Terminated", exit -15, no message), and its dataset engine installs C handlers on both that
end the process through a watchdog. Python handlers cannot win that race (measured: a handler re-installed
after every step still saw SIGTERM for Ctrl-C), so SIGINT and SIGTERM are blocked in the main thread before any
other thread exists and a watcher thread takes them with ``sigwaitinfo``: threads inherit the mask, so no
thread ever runs a handler for them. ``install`` must run before ``import numpy`` (its BLAS thread pool) and
``import mindspore``; where ``sigwaitinfo`` is missing (macOS, Windows) plain handlers are used.

Under msrun a worker also stops when its launcher is gone (msrun killed by SIGTERM does not forward it), and
ranks agree on the step to stop after (see ``Trainer``), so every rank stops at the same step.
"""
import os
import signal
import threading
from typing import Dict, Optional

from .logger import get_logger

logger = get_logger(__name__)

__all__ = ["StopRequest", "TrainingInterrupted", "exit_status"]

HANDLED = (signal.SIGINT, signal.SIGTERM)


def exit_status(signum: int) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number (130 SIGINT, 143 SIGTERM)."""
    return 128 + int(signum)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class TrainingInterrupted(Exception):
    """The run stopped on a signal after saving its state; ``checkpoint`` is where (None on ranks other than 0)."""

    def __init__(self, signum: int, checkpoint: Optional[str], where: str) -> None:
        self.signum = signum
        self.checkpoint = checkpoint
        self.where = where
        super().__init__(f"interrupted by {signal_name(signum)} {where}")


class StopRequest:
    """Records the first SIGINT/SIGTERM (or the launcher's death) as a request to stop after the current step."""

    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self.training = False  # set by the trainer: before (and after) training a signal ends the process
        self._installed = False
        self._parent: Optional[int] = None
        self._previous: Dict[int, object] = {}

    def watch_parent(self) -> None:
        """Also stop when the parent process (the launcher, msrun) is gone."""
        self._parent = os.getppid()

    def _on_signal(self, signum: int) -> None:
        if self.signum is not None or not self.training:
            why = "again: stopping at once without saving" if self.signum is not None else \
                "before training started: stopping at once (nothing to save)"
            os.write(2, f"\n{signal_name(signum)} {why}\n".encode())
            os._exit(exit_status(signum))
        self.signum = signum
        os.write(2, f"\n{signal_name(signum)} received: stopping after the current step and saving the training "
                    f"state (send it again to stop at once)\n".encode())

    def _watch(self) -> None:
        while True:
            info = signal.sigwaitinfo(HANDLED)
            self._on_signal(info.si_signo)

    def install(self) -> "StopRequest":
        """Block SIGINT and SIGTERM in this thread and take them in a watcher thread (call before MindSpore
        starts its threads; only from the main thread, elsewhere it does nothing)."""
        if self._installed or threading.current_thread() is not threading.main_thread():
            return self
        if hasattr(signal, "sigwaitinfo"):
            signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
            threading.Thread(target=self._watch, name="stop-request", daemon=True).start()
        else:  # macOS, Windows: plain handlers (MindSpore may still turn SIGINT into SIGTERM there)
            self._previous = {sig: signal.signal(sig, lambda signum, frame: self._on_signal(signum))
                              for sig in HANDLED}
        self._installed = True
        return self

    def uninstall(self) -> None:
        """Unblock the signals in this thread (the watcher keeps taking them: they still end the process)."""
        if self._installed:
            if hasattr(signal, "sigwaitinfo"):
                signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
            else:
                for sig, handler in self._previous.items():
                    signal.signal(sig, handler)
            self._installed = False

    @property
    def requested(self) -> bool:
        if self.signum is None and self._parent is not None and os.getppid() != self._parent:
            logger.warning("the launcher (pid %d) is gone: stopping after the current step", self._parent)
            self.signum = signal.SIGTERM
        return self.signum is not None

    def __enter__(self) -> "StopRequest":
        return self.install()

    def __exit__(self, *exc) -> None:
        self.uninstall()
