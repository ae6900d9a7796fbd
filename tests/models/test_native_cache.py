"""The native operators' cache is safe against partial and foreign files, and any build failure falls back to
MindSpore's operators with one line (issue 26). A stand-in compiler (a shell script) writes the "library", so no
real compile runs and nothing is loaded."""
import json
import logging
import os
import stat

import pytest

from mindcv.models.layers import mixconv, native


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache folder, a stand-in compiler that counts its runs, and a fresh per-process state."""
    compiler = tmp_path / "fake-g++"
    calls = tmp_path / "calls"
    compiler.write_text("#!/bin/sh\n"
                        f"echo run >> {calls}\n"
                        "while [ \"$1\" != -o ]; do shift; done\n"
                        "head -c 4096 /dev/urandom > \"$2\"\n")
    compiler.chmod(0o755)
    monkeypatch.setenv("CXX", str(compiler))
    monkeypatch.setenv(native.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(native, "_state", {"library": None, "error": ""})
    monkeypatch.setattr(mixconv, "_warned", set())
    return tmp_path, lambda: len(calls.read_text().splitlines()) if calls.exists() else 0


def test_a_build_is_recorded_and_verified_before_reuse(cache, caplog):
    tmp_path, compiles = cache
    library = native.build_library()
    record = json.loads(open(native.record_path(library)).read())
    assert record["bytes"] == 4096 and len(record["sha256"]) == 64 and compiles() == 1
    assert stat.S_IMODE(os.stat(library).st_mode) == 0o777 & ~_umask()  # executable, umask applied
    assert native.build_library() == library and compiles() == 1  # verified: reused
    with open(library, "r+b") as f:  # a copy cut short (a full disk, an interrupted rsync)
        f.truncate(1000)
    with caplog.at_level(logging.WARNING, logger="mindcv"):
        assert native.build_library() == library
    assert f"the cached native library {library} is 1000 bytes where 4096 were built (truncated or replaced): " \
           "building it again" in caplog.text
    assert compiles() == 2 and os.path.getsize(library) == 4096
    with open(library, "r+b") as f:  # same size, other bytes: a foreign file
        f.write(b"\0" * 16)
    assert native.verify_library(library) == "does not match the SHA-256 recorded when it was built"
    os.remove(native.record_path(library))  # a library from before records were kept, or a stray copy
    assert native.verify_library(library) == "has no readable size/hash record beside it"
    native.build_library()
    assert compiles() == 3 and native.verify_library(library) == ""


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("case", ["broken compiler", "cache is a file"])
def test_a_failed_build_falls_back_to_split_with_one_line(cache, monkeypatch, caplog, case):
    tmp_path, _ = cache
    if case == "broken compiler":
        monkeypatch.setenv("CXX", "/bin/false")
        expected = "the native CPU operators could not be built: /bin/false failed (exit 1)"
    else:
        (tmp_path / "a_file").write_text("not a folder")
        monkeypatch.setenv(native.CACHE_ENV, str(tmp_path / "a_file"))
        expected = (f"the native CPU operators could not be built: MINDCV_NATIVE_CACHE='{tmp_path / 'a_file'}': "
                    f"{tmp_path / 'a_file'} is a file, not a folder; point MINDCV_NATIVE_CACHE to a folder")
    assert native.prepare() == expected
    assert native.unavailable_reason() == expected and not native.use_native()
    with caplog.at_level(logging.INFO, logger="mindcv"):
        for _ in range(2):  # two layers: one line
            assert mixconv._choose_impl("auto", [3, 5], [1, 1], 1, "symmetric") == "split"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [f"MixConv runs 'split' instead of 'native': the native CPU operator is unavailable: "
                        f"{expected}"]
