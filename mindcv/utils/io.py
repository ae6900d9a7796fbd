"""Files: atomic writes (a reader sees the old file or the complete new one, never a part) and digests."""
import contextlib
import hashlib
import json
import os
import tempfile
from typing import Any, Dict, Iterator, Sequence

from .cli import OutputError

CHUNK_SIZE = 1 << 20  # bytes read at a time when hashing


def process_umask() -> int:
    """The process umask, read from /proc (Linux) or, elsewhere, set and restored at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)  # a moment with a strict mask: a file another thread creates meanwhile stays private
    os.umask(mask)
    return mask


def default_file_mode(executable: bool = False) -> int:
    """The mode ``open()`` gives a new file under the user's umask (0644 under umask 022; 0755 ``executable``)."""
    return (0o777 if executable else 0o666) & ~process_umask()


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = ".tmp", executable: bool = False) -> Iterator[str]:
    """Yield a temporary path in ``path``'s folder to write the new file to; on success it gets the mode the
    umask gives new files (mkstemp makes it 0600; writers such as MindSpore's may change it) and is renamed
    onto ``path`` (atomic, so concurrent writers each install a complete file); on error it is removed."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix, dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, default_file_mode(executable))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path: str, text: str) -> str:
    """Write ``text`` to ``path`` through a temporary file in the same folder, fsync and rename."""
    path = os.path.abspath(os.path.expanduser(path))
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    return path


def json_safe(value: Any) -> Any:
    """NaN / infinity become None so the file is strict JSON; containers are converted recursively."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json_atomic(path: str, data: Any) -> str:
    """Write ``data`` as indented strict JSON so that ``path`` holds the old or the complete new file."""
    text = json.dumps(json_safe(data), indent=1, sort_keys=True) + "\n"
    try:
        return atomic_write_text(path, text)
    except OSError as err:
        raise OutputError(f"cannot write {os.path.abspath(path)}: {err.strerror or err}; choose another file") from err


def check_writable(path: str, option: str) -> str:
    """``path`` made absolute, after checking its folder can be created and written (before any long work)."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        raise OutputError(f"{option} {path} is a directory; give a file name")
    existing = os.path.dirname(path)
    while not os.path.isdir(existing):
        if os.path.exists(existing):
            raise OutputError(f"{option} {path}: {existing} is a file, not a folder; choose another path")
        existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: cannot write in {existing} (permission denied); choose another file")
    try:  # access() says yes to root everywhere: a real probe also catches read-only mounts and /proc
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=existing)
    except OSError as err:
        raise OutputError(f"{option} {path}: cannot write in {existing} ({err.strerror or err}); "
                          f"choose another folder") from None
    os.close(fd)
    os.remove(probe)
    return path


def file_digests(path: str, algorithms: Sequence[str] = ("sha256",)) -> Dict[str, str]:
    """Hex digests of a file for each algorithm, in one read."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_SIZE), b""):
            for h in hashers.values():
                h.update(chunk)
    return {name: h.hexdigest() for name, h in hashers.items()}


def file_sha256(path: str) -> str:
    """Hex SHA-256 of a file."""
    return file_digests(path)["sha256"]
