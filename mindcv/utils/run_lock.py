"""One run per folder: an advisory lock file (``run.lock``) holding its owner's pid and host, locked with
``flock`` for the owner's whole life. The kernel releases the lock however the owner ends (exit, exception,
SIGKILL); a lock file left by a dead owner is taken over with a log line. Where the file system has no ``flock``
(some network mounts), a lock file naming a live process of this host is respected and any other is taken over."""
import errno
import json
import os
import socket
import time
from typing import Optional

from .cli import UserError
from .io import default_file_mode
from .logger import get_logger

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, the lock file is informative only
    fcntl = None

logger = get_logger(__name__)

__all__ = ["LOCK_FILE", "RunFolderInUse", "RunLock", "lock_owner", "in_use_message"]

LOCK_FILE = "run.lock"
_BUSY = (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK)
_NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


class RunFolderInUse(UserError):
    """Another live process owns the run folder."""


def _read_owner(fd: int) -> dict:
    """The owner recorded in an open lock file ({} when empty or unreadable)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        owner = json.loads(os.read(fd, 4096).decode("utf-8"))
        return owner if isinstance(owner, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(owner: dict) -> str:
    """'pid 123 on host h, since 2026-12-04 10:00:00' (or what is known of it)."""
    if not owner:
        return "a process that left no pid"
    text = f"pid {owner.get('pid', '?')} on host {owner.get('host', '?')}"
    return text + (f", since {owner['started']}" if owner.get("started") else "")


def _alive_here(owner: dict) -> bool:
    """True when ``owner`` names a running process of this host other than this one."""
    pid = owner.get("pid")
    if owner.get("host") != socket.gethostname() or not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _try_flock(fd: int, kind: int) -> Optional[bool]:
    """True when locked, False when another process holds it, None when the file system has no flock."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
        return True
    except OSError as err:
        if err.errno in _BUSY:
            return False
        if err.errno in _NO_LOCKS:
            return None
        raise


def lock_owner(directory: str) -> Optional[str]:
    """Who holds the run folder's lock now ('pid N on host H, since T'), or None; creates nothing."""
    path = os.path.join(directory, LOCK_FILE)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        locked = _try_flock(fd, fcntl.LOCK_SH if fcntl else 0)
        owner = _read_owner(fd)
        if locked is False or (locked is None and _alive_here(owner)):
            return _describe(owner)
        return None
    finally:
        os.close(fd)  # closing drops the probe's shared lock


def in_use_message(directory: str, owner: str) -> str:
    """The one-line refusal for a folder owned by another run."""
    return (f"ckpt_save_dir {os.path.abspath(directory)} is in use by another training run ({owner}; see its "
            f"{LOCK_FILE}): wait for it to end, or choose another --ckpt_save_dir")


class RunLock:
    """Exclusive ownership of a run folder for this process's life: ``acquire()`` ... ``release()`` (or ``with``)."""

    def __init__(self, directory: str) -> None:
        self.directory = os.path.abspath(directory)
        self.path = os.path.join(self.directory, LOCK_FILE)
        self._fd: Optional[int] = None

    def acquire(self) -> "RunLock":
        """Take the lock or raise RunFolderInUse naming the owner; a dead owner's lock is taken over (logged)."""
        os.makedirs(self.directory, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, default_file_mode())
            locked = _try_flock(fd, fcntl.LOCK_EX if fcntl else 0)
            owner = _read_owner(fd)
            if locked is False or (locked is None and _alive_here(owner)):
                os.close(fd)
                raise RunFolderInUse(in_use_message(self.directory, _describe(owner)))
            try:  # the owner may have released and removed the file between our open and flock: lock the new one
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        if owner and owner.get("pid") != os.getpid():
            logger.info("taking over %s left by %s, which no longer runs", self.path, _describe(owner))
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Remove the lock file and drop the lock (a no-op when not held)."""
        if self._fd is None:
            return
        try:
            os.remove(self.path)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
