"""Shared test set-up: quiet MindSpore, CPU tuning before MindSpore loads, repo root on sys.path."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

os.environ.setdefault("GLOG_v", "3")  # MindSpore: errors only on stderr

import mindcv  # noqa: E402,F401  (applies the oneDNN ISA cap before mindspore is imported)
