"""Processes of the test session, found by what their command line names (e.g. a test's temporary folder)."""
import os
from typing import List


def command_line(pid: int) -> str:
    """The command line of a process ('' once it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def processes_mentioning(marker: str) -> List[int]:
    """Pids of the other processes whose command line contains ``marker``."""
    return [int(pid) for pid in os.listdir("/proc")
            if pid.isdigit() and int(pid) != os.getpid() and marker in command_line(int(pid))]
