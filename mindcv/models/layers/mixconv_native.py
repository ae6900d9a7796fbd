"""The ``native`` MixConv for CPU: one MindSpore AOT custom operator runs every group of a MixConv
(C++ in ``csrc/mixconv_native.cc``), with backward-data and backward-weight as two more custom ops in
its bprop.

The kernel is the fused layer's (C, 1, E, E) kernel (built in the graph from the per-group parameters,
as in ``mixconv_fused``), but each channel only touches its own group's centred k x k window, so the
work is that of the split form, in one call, without slices or concats of the activations.

The library is compiled on first use with the system C++ compiler (``g++ -O3 -march=native -fopenmp``)
into a cache directory (``$MINDCV_NATIVE_CACHE``, default ``~/.cache/mindcv/native``), named by a hash
of the source, the flags and the compiler, so a changed source or CPU gets its own build. Concurrent
builds are safe: each process compiles into its own temporary file and renames it into place.
Without a compiler (or when the build fails) ``native_library`` returns None and ``native_status``
says why; MixConv2d then runs ``split`` and logs that once.

The kernels use OpenMP. Unless the user chose (``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` set), the
OpenMP threads sleep as soon as a kernel ends (``OMP_WAIT_POLICY=PASSIVE``, set before the library
loads): spinning threads take the cores from MindSpore's own kernels that run next, which halved the
training throughput of MixNet-S on 2 cores here.
"""
import functools
import hashlib
import os
import shutil
import subprocess
from typing import Optional, Sequence, Tuple

import numpy as np

from mindspore import Tensor, ops
from mindspore import dtype as mstype

from ...utils.io import atomic_path
from .mixconv_fused import FusedDepthwise, fused_geometry

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc", "mixconv_native.cc")
CACHE_ENV = "MINDCV_NATIVE_CACHE"
WHITE_LIST_ENV = "MS_CUSTOM_AOT_WHITE_LIST"
FLAGS = ("-O3", "-march=native", "-fopenmp", "-std=c++17", "-shared", "-fPIC")

_status = {"library": None, "reason": "not built yet"}


def cache_dir() -> str:
    """Where compiled libraries are kept."""
    return os.path.abspath(os.path.expanduser(os.environ.get(CACHE_ENV, "~/.cache/mindcv/native")))


def _compiler() -> Optional[str]:
    """The C++ compiler: $CXX or g++ on PATH (None when there is none)."""
    return shutil.which(os.environ.get("CXX", "g++"))


def library_key(compiler: str) -> str:
    """Hash of the source, the flags and the compiler's version: the cached library's name."""
    digest = hashlib.sha256()
    with open(SOURCE, "rb") as f:
        digest.update(f.read())
    digest.update(" ".join(FLAGS).encode())
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False).stdout
    digest.update(version.encode())
    return digest.hexdigest()[:16]


def build_library(directory: Optional[str] = None) -> str:
    """Compile the operator library (or reuse the cached build) and return its path.

    Raises RuntimeError with the reason when there is no compiler or the build fails.
    """
    compiler = _compiler()
    if compiler is None:
        raise RuntimeError(f"no C++ compiler found ({os.environ.get('CXX', 'g++')!r} is not on PATH; set CXX)")
    directory = directory or cache_dir()
    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, f"mixconv_native_{library_key(compiler)}.so")
    if os.path.isfile(target):
        return target
    with atomic_path(target, suffix=".so.partial") as partial:  # concurrent builders each rename a whole file
        result = subprocess.run([compiler, *FLAGS, "-o", partial, SOURCE], capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{compiler} failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
        os.chmod(partial, 0o755)
    return target


def _check_white_list(library: str) -> None:
    """Name the library's directory in MS_CUSTOM_AOT_WHITE_LIST (MindSpore loads AOT libraries only from
    there), or check that a user-set white list covers it."""
    directory = os.path.dirname(os.path.realpath(library))
    allowed = os.environ.get(WHITE_LIST_ENV)
    if allowed is None:
        os.environ[WHITE_LIST_ENV] = directory
        return
    if os.path.commonpath([directory, os.path.realpath(allowed)]) != os.path.realpath(allowed):
        raise RuntimeError(f"{WHITE_LIST_ENV}={allowed} does not contain {directory}; add it or set "
                           f"{CACHE_ENV} to a directory inside the white list")


def _passive_openmp() -> None:
    """Let OpenMP threads sleep between kernels unless the user set a wait policy (read when libgomp loads)."""
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


def native_library() -> Optional[str]:
    """Path of the compiled library, built once per process; None when it cannot be built (see native_status)."""
    if _status["library"] is None and _status["reason"] == "not built yet":
        try:
            library = build_library()
            _check_white_list(library)
            _passive_openmp()
            _status.update(library=library, reason="")
        except (RuntimeError, OSError) as err:
            _status.update(library=None, reason=str(err))
    return _status["library"]


def native_status() -> str:
    """Empty when the library is available, else why it is not."""
    native_library()
    return _status["reason"]


def _out_dtype(*dtypes):
    return dtypes[0]


@functools.lru_cache(maxsize=None)
def native_ops(stride: int) -> Tuple[ops.Custom, ops.Custom, ops.Custom]:
    """(forward, backward-data, backward-weight) custom ops of one stride (their output shapes depend
    only on input shapes and the stride, which their exported symbol names)."""
    if stride not in (1, 2):
        raise ValueError(f"stride={stride!r}: the native MixConv supports stride 1 or 2")
    library = native_library()
    if library is None:
        raise RuntimeError(f"the native MixConv library is not available: {native_status()}")

    def forward_shape(x, w, cfg):
        return (x[0], x[1], -(-x[2] // stride), -(-x[3] // stride))

    def carrier_shape(first, second, cfg, carrier):
        return tuple(carrier)

    backward_data = ops.Custom(f"{library}:mixconv_bwd_data_s{stride}", out_shape=carrier_shape,
                               out_dtype=_out_dtype, func_type="aot")
    backward_weight = ops.Custom(f"{library}:mixconv_bwd_weight_s{stride}", out_shape=carrier_shape,
                                 out_dtype=_out_dtype, func_type="aot")

    def bprop(x, w, cfg, out, dout):
        return backward_data(dout, w, cfg, x), backward_weight(x, dout, cfg, w), ops.zeros_like(cfg)

    forward = ops.Custom(f"{library}:mixconv_fwd_s{stride}", out_shape=forward_shape, out_dtype=_out_dtype,
                         func_type="aot", bprop=bprop)
    return forward, backward_data, backward_weight


def native_config(channel_groups: Sequence[int], kernels: Sequence[int], dilations: Sequence[int], stride: int,
                  padding: str) -> np.ndarray:
    """The operator's int32 config: [stride, dilation, same_padding, E, first tap of each channel's window]."""
    base, factors, size = fused_geometry(kernels, dilations)
    lows = []
    for channels, k, f in zip(channel_groups, kernels, factors):
        lows += [(size - ((k - 1) * f + 1)) // 2] * channels
    return np.array([stride, base, int(padding == "same"), size] + lows, np.int32)


class NativeDepthwise(FusedDepthwise):
    """All groups of a MixConv in one custom CPU operator (float32); no parameters of its own."""

    def __init__(self, channel_groups: Sequence[int], kernels: Sequence[int], dilations: Sequence[int],
                 stride: int, padding: str) -> None:
        super().__init__(sum(channel_groups), kernels, dilations, stride, padding)
        self.op = native_ops(stride)[0]
        self.config = Tensor(native_config(channel_groups, kernels, dilations, stride, padding), mstype.int32)

    def construct(self, x: Tensor, weights: tuple) -> Tensor:
        kernel = self.fused_weight(weights)
        if x.dtype != mstype.float32:  # the C++ kernels are float32 (e.g. under mixed precision)
            return self.op(x.astype(mstype.float32), kernel.astype(mstype.float32), self.config).astype(x.dtype)
        return self.op(x, kernel, self.config)
