"""scripts/test.sh: test paths among its arguments select what runs; other arguments go to pytest."""
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _collected(*args: str) -> set:
    """The test files scripts/test.sh would run with these arguments (collection only, one process)."""
    env = dict(os.environ, PYTEST_ADDOPTS="")
    env.pop("PYTEST_XDIST_WORKER", None)
    result = subprocess.run(["bash", os.path.join(ROOT, "scripts", "test.sh"), *args, "--collect-only", "-q", "-n", "0"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return {m.group(1) for m in re.finditer(r"^(tests/[\w/]+\.py)(?:::|: \d+$)", result.stdout, re.M)}


def test_a_path_argument_runs_only_that_path():
    assert _collected("tests/test_scheduler.py") == {"tests/test_scheduler.py"}
    assert _collected("tests/test_scheduler.py::test_warmup_then_constant", "tests/test_loss.py") == {
        "tests/test_scheduler.py", "tests/test_loss.py"}


def test_options_alone_keep_the_whole_suite():
    files = _collected("-k", "test_scheduler or test_readme")
    assert {"tests/test_scheduler.py", "tests/test_readme.py"} <= files


def test_benchmarks_share_code_without_editing_the_import_path():
    import glob
    import sys

    for path in glob.glob(os.path.join(ROOT, "benchmarks", "*.py")):
        text = open(path, encoding="utf-8").read()
        assert "sys.path.insert" not in text and "sys.path.append" not in text, path
    for argv in (["benchmarks/memory.py", "--help"], ["-m", "benchmarks.memory", "--help"]):
        result = subprocess.run([sys.executable] + argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and "usage: memory.py" in result.stdout, result.stderr[-2000:]
