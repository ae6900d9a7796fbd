"""What oneDNN ISA setting this process runs under, for the start-up log (nothing is changed).

Earlier versions set ONEDNN_MAX_CPU_ISA=AVX2 when ``mindcv`` was imported before ``mindspore``, because
oneDNN ran MixNet's grouped and k x k convolutions through a scalar reference kernel on AVX-512 CPUs.
Those layers now run native operators on CPU (docs/performance.md) and the cap measured no faster, so the
library leaves the environment alone and the speed no longer depends on import order. Kept only so
that callers of ``apply_cpu_tuning()`` (train.py logs it) keep working; it can go once they are gone.
"""
import os

ISA_ENV = "ONEDNN_MAX_CPU_ISA"


def apply_cpu_tuning() -> str:
    """A one-line description of the oneDNN ISA setting (for the log); changes nothing."""
    if ISA_ENV in os.environ:
        return f"{ISA_ENV}={os.environ[ISA_ENV]} (set by the user)"
    return f"no oneDNN ISA cap ({ISA_ENV} not set; convolutions, BatchNorm and Swish run native CPU operators)"
