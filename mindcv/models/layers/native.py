"""The library of native CPU operators (``csrc/``): MixConv (all groups of a mixed depthwise conv in one
call), small dense / grouped k x k convolutions (the stem), BatchNorm (training and inference) and
Swish, as MindSpore AOT custom operators.

Building it is an explicit, logged step, never a side effect of constructing a model:

- ``python -m mindcv.models.layers.native --build`` (or ``mindcv.models.layers.build_native()``) compiles
  it ahead of time and prints its path;
- otherwise it is compiled on first use, when MindSpore first infers the shape of a native operator (the
  first graph compile or PyNative call), with one INFO line saying what is compiled, where, and how long
  it took.

Constructing a layer only checks that a C++ compiler exists (``$CXX`` or ``g++``) and computes where the
library will be; without a compiler the layers run MindSpore's own operators and say so once.

The library is compiled with ``g++ -O3 -march=native`` into ``$MINDCV_NATIVE_CACHE`` (default
``~/.cache/mindcv/native``), named by a hash of the sources, the flags, the compiler (path, size, mtime)
and the CPU's feature flags, so a changed source, compiler or CPU gets its own build; concurrent builders
each compile into a temporary file and rename it into place. Its size and SHA-256 are recorded beside it
(``<library>.json``) and checked before it is used: a truncated or foreign file in the cache (which MindSpore's
``dlopen`` would turn into a bus error) is built again, with one warning. MindSpore loads AOT libraries from
anywhere unless ``MS_CUSTOM_AOT_WHITE_LIST`` is set; when the user set it, it must contain the cache
directory. Nothing here writes environment variables. The kernels run on their own thread pool
(``MINDCV_NATIVE_THREADS`` caps its size; default: the CPUs the process may use).
"""
import argparse
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from typing import List, Optional, Tuple

import mindspore as ms
from mindspore import ops

from ...utils.io import atomic_path, atomic_write_text, file_sha256
from ...utils.logger import get_logger

CSRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc")
SOURCES = ("mixconv_native.cc", "conv_native.cc", "elementwise_native.cc", "batchnorm_native.cc",
           "inference_native.cc")
HEADERS = ("native_common.h",)
CACHE_ENV = "MINDCV_NATIVE_CACHE"
WHITE_LIST_ENV = "MS_CUSTOM_AOT_WHITE_LIST"
FLAGS = ("-O3", "-march=native", "-fopenmp-simd", "-std=c++17", "-shared", "-fPIC")

_lock = threading.Lock()
_state = {"library": None, "error": ""}  # the library built (or found) in this process, or why it failed


def cache_dir() -> str:
    """Where compiled libraries are kept ($MINDCV_NATIVE_CACHE; unset or empty: ~/.cache/mindcv/native)."""
    return os.path.abspath(os.path.expanduser(os.environ.get(CACHE_ENV) or "~/.cache/mindcv/native"))


def compiler() -> Optional[str]:
    """The C++ compiler: $CXX or g++ on PATH (None when there is none)."""
    return shutil.which(os.environ.get("CXX", "g++"))


def _cpu_flags() -> str:
    """The CPU's feature flags (-march=native code may not run on another CPU)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _files() -> List[str]:
    return [os.path.join(CSRC, name) for name in SOURCES + HEADERS]


@functools.lru_cache(maxsize=None)
def library_key(cxx: str) -> str:
    """Hash of the sources, the flags, the compiler and the CPU: the cached library's name (no subprocess)."""
    digest = hashlib.sha256()
    for path in _files():
        with open(path, "rb") as f:
            digest.update(f.read())
    real = os.path.realpath(cxx)
    stat = os.stat(real)
    digest.update(f"{' '.join(FLAGS)}|{real}|{stat.st_size}|{stat.st_mtime_ns}|{_cpu_flags()}".encode())
    return digest.hexdigest()[:16]


def library_path(directory: Optional[str] = None) -> str:
    """Where the library of this source, compiler and CPU is (or will be). RuntimeError without a compiler."""
    cxx = compiler()
    if cxx is None:
        raise RuntimeError(f"no C++ compiler found ({os.environ.get('CXX', 'g++')!r} is not on PATH; set CXX)")
    return os.path.join(directory or cache_dir(), f"mindcv_native_{library_key(cxx)}.so")


def check_white_list(library: str) -> None:
    """A user-set MS_CUSTOM_AOT_WHITE_LIST must contain the library's directory (MindSpore refuses others)."""
    allowed = os.environ.get(WHITE_LIST_ENV)
    if allowed is None:
        return
    directory = os.path.dirname(os.path.realpath(library))
    if os.path.commonpath([directory, os.path.realpath(allowed)]) != os.path.realpath(allowed):
        raise RuntimeError(f"{WHITE_LIST_ENV}={allowed} does not contain {directory}; add it or set "
                           f"{CACHE_ENV} to a directory inside the white list")


def record_path(library: str) -> str:
    """The file beside a built library recording its size and SHA-256 (checked before MindSpore loads it)."""
    return library + ".json"


def _record(library: str) -> None:
    """Write the size and SHA-256 of a freshly built library beside it."""
    record = {"bytes": os.path.getsize(library), "sha256": file_sha256(library)}
    atomic_write_text(record_path(library), json.dumps(record) + "\n")


def verify_library(library: str) -> str:
    """'' when ``library`` is the file its record describes, else what is wrong (a truncated copy, a foreign
    file, no record): loading such a file can kill the process (a bus error), so it is never loaded."""
    try:
        with open(record_path(library), encoding="utf-8") as f:
            record = json.load(f)
        expected_size, expected_hash = int(record["bytes"]), str(record["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return "has no readable size/hash record beside it"
    size = os.path.getsize(library)
    if size != expected_size:
        return f"is {size} bytes where {expected_size} were built (truncated or replaced)"
    if file_sha256(library) != expected_hash:
        return "does not match the SHA-256 recorded when it was built"
    return ""


def _check_cache_dir(directory: str) -> None:
    """RuntimeError naming MINDCV_NATIVE_CACHE when the cache folder cannot be one."""
    existing = directory
    while not os.path.isdir(existing):
        if os.path.exists(existing):
            raise RuntimeError(f"{CACHE_ENV}={os.environ.get(CACHE_ENV, '')!r}: {existing} is a file, not a folder; "
                               f"point {CACHE_ENV} to a folder")
        existing = os.path.dirname(existing)


def build_library(directory: Optional[str] = None) -> str:
    """Compile the library (or reuse the cached build once verified against its record) and return its path;
    logs a compile at INFO, a cached file that fails verification at WARNING before it is rebuilt.

    Raises RuntimeError with a one-line reason when there is no compiler or the build fails.
    """
    target = library_path(directory)
    logger = get_logger(__name__)
    if os.path.isfile(target):
        problem = verify_library(target)
        if not problem:
            return target
        logger.warning("the cached native library %s %s: building it again", target, problem)
    _check_cache_dir(os.path.dirname(target))
    cxx = compiler()
    logger.info("compiling the native CPU operators (%s) with %s %s into %s ...", ", ".join(SOURCES), cxx,
                " ".join(FLAGS[:3]), target)
    start = time.perf_counter()
    with atomic_path(target, suffix=".so.partial", executable=True) as partial:  # builders each rename a whole file
        sources = [os.path.join(CSRC, name) for name in SOURCES]
        result = subprocess.run([cxx, *FLAGS, "-o", partial, *sources], capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
            raise RuntimeError(f"{cxx} failed (exit {result.returncode})" + (f": {lines[-1][:300]}" if lines else ""))
    _record(target)
    logger.info("native CPU operators built in %.1f s", time.perf_counter() - start)
    return target


def unavailable_reason() -> str:
    """Why the native operators cannot be used in this process ('' when they can), without compiling."""
    if _state["error"]:
        return _state["error"]
    try:
        check_white_list(library_path())
    except (RuntimeError, OSError) as err:
        return str(err)
    return ""


def ensure_built() -> str:
    """The library's path, compiled first if needed (once per process; thread-safe).

    Called when MindSpore first infers a native operator's shape, i.e. on first use.
    """
    if _state["library"] is not None:
        return _state["library"]
    with _lock:
        if _state["library"] is None:
            if _state["error"]:
                raise RuntimeError(_state["error"])
            try:
                library = build_library()
                check_white_list(library)
            except (RuntimeError, OSError) as err:
                reason = str(err) if isinstance(err, RuntimeError) else f"{err.strerror or err} ({err.filename})"
                _state["error"] = f"the native CPU operators could not be built: {reason}"
                raise RuntimeError(f"{_state['error']} (run `python -m mindcv.models.layers.native --build` to "
                                   "retry, or choose mixconv_impl='split')") from err
            _state["library"] = library
    return _state["library"]


def op(symbol: str, out_shape, bprop=None, outputs: int = 1) -> ops.Custom:
    """A custom operator calling ``symbol`` of the library (built on first shape inference, i.e. first use).

    ``out_shape(*input_shapes)`` gives the output shape (a list of shapes for several outputs); every
    output has the first input's dtype.
    """
    def infer_shape(*shapes):
        ensure_built()  # first use: compile the library if it is not cached (logged)
        return out_shape(*shapes)

    def infer_dtype(*dtypes):
        return dtypes[0] if outputs == 1 else [dtypes[0]] * outputs

    kwargs = {} if bprop is None else {"bprop": bprop}
    return ops.Custom(f"{library_path()}:{symbol}", out_shape=infer_shape, out_dtype=infer_dtype, func_type="aot",
                      **kwargs)


def strided_conv_ops(prefix: str, stride: int, channels_from_weight: bool) -> Tuple[ops.Custom, ops.Custom,
                                                                                     ops.Custom]:
    """(forward, backward-data, backward-weight) of the native convolution
    ``<prefix>_{fwd,bwd_data,bwd_weight}_s<stride>`` taking (x, w, cfg). Its output has x's batch,
    ceil(H / stride) x ceil(W / stride), and as channels w's first dimension (``channels_from_weight``: a dense
    conv) or x's channels (a depthwise one)."""

    def carrier_shape(first, second, cfg, carrier):
        return tuple(carrier)

    backward_data = op(f"{prefix}_bwd_data_s{stride}", carrier_shape)
    backward_weight = op(f"{prefix}_bwd_weight_s{stride}", carrier_shape)

    def bprop(x, w, cfg, out, dout):
        return backward_data(dout, w, cfg, x), backward_weight(x, dout, cfg, w), ops.zeros_like(cfg)

    def out_shape(x, w, cfg):
        return (x[0], w[0] if channels_from_weight else x[1], -(-x[2] // stride), -(-x[3] // stride))

    return op(f"{prefix}_fwd_s{stride}", out_shape, bprop), backward_data, backward_weight


def prepare() -> str:
    """Build the library now, or verify its cached build (the scripts' explicit step before they build a model
    that would use it): '' when the native operators can run, else why not; then every layer built afterwards
    runs MindSpore's operators and MixConv says so once (see ``mixconv._choose_impl``)."""
    try:
        ensure_built()
    except RuntimeError:
        return _state["error"]
    return ""


def use_native() -> bool:
    """Whether the CPU fast forms can run: MindSpore targets the CPU and the library can be built."""
    return str(ms.get_context("device_target")).upper() == "CPU" and not unavailable_reason()


def build_native() -> str:
    """Compile the native operators now (if not cached) and return the library's path."""
    return ensure_built()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mindcv.models.layers.native",
                                     description="Build (or locate) the native CPU operators of mindcv.")
    parser.add_argument("--build", action="store_true", help="compile the library now if it is not cached")
    args = parser.parse_args(argv)
    try:
        path = build_native() if args.build else library_path()
    except RuntimeError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    state = "built" if os.path.isfile(path) else "not built yet (use --build)"
    print(f"{path} ({state})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
