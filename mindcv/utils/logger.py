"""One rank-aware logger for the whole package.

Only rank 0 prints INFO progress; every rank prints warnings and errors, prefixed with its rank
when running distributed. The rank is read from the launcher's environment (msrun sets RANK_ID).
"""
import logging
import os
import sys
from typing import Optional

LOGGER_NAME = "mindcv"
_configured = False


def get_rank_from_env() -> int:
    """Rank of this process as the launcher (msrun, mpirun) tells it; 0 when standalone."""
    for key in ("RANK_ID", "OMPI_COMM_WORLD_RANK", "RANK"):
        value = os.environ.get(key)
        if value is not None and value.strip().isdigit():
            return int(value)
    return 0


def get_logger(name: Optional[str] = None) -> logging.Logger:
    """The package logger (or a child of it), configured on first use."""
    global _configured
    root = logging.getLogger(LOGGER_NAME)
    if not _configured:
        rank = get_rank_from_env()
        handler = logging.StreamHandler(sys.stdout)
        prefix = f"[rank {rank}] " if os.environ.get("RANK_SIZE", "1") not in ("", "1") else ""
        handler.setFormatter(logging.Formatter(f"%(asctime)s {prefix}%(levelname)s %(message)s", "%H:%M:%S"))
        root.addHandler(handler)
        root.setLevel(logging.INFO if rank == 0 else logging.WARNING)
        root.propagate = False
        _configured = True
    return root if name is None else root.getChild(name)


def add_file_handler(path: str) -> logging.Handler:
    """Also write the log to a file (e.g. train.log in the output directory); returns the handler, for
    ``close_file_handler`` when the run ends (a process may run several)."""
    root = get_logger()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root.addHandler(handler)
    return handler


def close_file_handler(handler: Optional[logging.Handler]) -> None:
    """Stop writing the log to the file of ``add_file_handler`` (None: nothing to do)."""
    if handler is not None:
        get_logger().removeHandler(handler)
        handler.close()


def info_all_ranks(message: str, *args) -> None:
    """Log an INFO line on every rank (e.g. a per-rank check), bypassing the rank-0-only level."""
    root = get_logger()
    record = root.makeRecord(root.name, logging.INFO, __file__, 0, message, args, None)
    root.handle(record)
