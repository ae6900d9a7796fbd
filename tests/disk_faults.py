"""A full disk for tests: a small tmpfs where this machine lets a test mount one (root, mount allowed), else
ENOSPC raised at MindSpore's checkpoint write call (``enospc_after``)."""
import contextlib
import errno
import os
import shutil
import subprocess

from mindspore.train import serialization


@contextlib.contextmanager
def small_tmpfs(path, size_kb):
    """A tmpfs of ``size_kb`` at ``path``, or None where mounting is not allowed."""
    path.mkdir()
    mount = shutil.which("mount")
    if mount is None or os.geteuid() != 0:
        yield None
        return
    done = subprocess.run([mount, "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


def enospc_after(limit, names=""):
    """A replacement of MindSpore's checkpoint file opener whose files (those whose path contains ``names``) fail
    with ENOSPC past ``limit`` bytes."""
    real_create = serialization._ckpt_fs.create

    class Full:
        def __init__(self, f):
            self.f, self.written = f, 0

        def write(self, data):
            if self.written + len(data) > limit:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.written += len(data)
            return self.f.write(data)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def __getattr__(self, name):
            return getattr(self.f, name)

    def create(path, *args, **kwargs):
        f = real_create(path, *args, **kwargs)
        return Full(f) if names in os.fspath(path) else f

    return create
