"""msrun's scheduler process: msrun runs the user's command once more with MS_ROLE=MS_SCHED; that process serves
the cluster (MindSpore's communication init) and does nothing else. Kept apart from distributed.py so the entry
points' main wrapper can hand that role over before parsing anything."""
import os
import socket

from .logger import get_logger

logger = get_logger(__name__)

__all__ = ["is_scheduler_process", "serve_as_scheduler", "port_answers"]


def is_scheduler_process() -> bool:
    """True in the process msrun starts as the cluster's scheduler (it runs the same command, MS_ROLE=MS_SCHED)."""
    return os.environ.get("MS_ROLE") == "MS_SCHED"


def port_answers(host: str, port: int) -> bool:
    """True when a process listens on host:port (a TCP connect succeeds within a second)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


def serve_as_scheduler() -> int:
    """Be msrun's scheduler: initialise communication, which serves the cluster until the workers finish.

    msrun starts a scheduler on every node whose address is the master address, so two "nodes" on one host
    (a test of a multi-node command) start two; the second finds the port served by the first and steps aside
    (exit 0) instead of failing its node's msrun. Returns the exit status.
    """
    from mindspore.communication import init

    host, port = os.environ.get("MS_SCHED_HOST", "127.0.0.1"), int(os.environ.get("MS_SCHED_PORT", "0") or 0)
    if port and port_answers(host, port):
        logger.info("another scheduler already serves %s:%d (several nodes on this host): this one steps aside",
                    host, port)
        return 0
    try:
        init()
    except RuntimeError:
        if port and port_answers(host, port):  # lost the race to the other node's scheduler
            logger.info("another scheduler took %s:%d first (several nodes on this host): this one steps aside",
                        host, port)
            return 0
        raise
    return 0
