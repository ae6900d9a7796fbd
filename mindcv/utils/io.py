"""Atomic files: a reader sees the old file or the complete new one, never a part."""
import contextlib
import os
import tempfile
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = ".tmp") -> Iterator[str]:
    """Yield a temporary path in ``path``'s folder to write the new file to; on success it is renamed
    onto ``path`` (atomic, so concurrent writers each install a complete file), on error removed."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix, dir=directory)
    os.close(fd)
    try:
        yield tmp
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
