"""Shared test set-up: quiet MindSpore.

The package under test is the one in this clone: ``python -m pytest`` puts the working directory (the clone's
root) first on the import path; scripts' subprocesses run from the root too."""
import os

os.environ.setdefault("GLOG_v", "3")  # MindSpore: errors only on stderr
