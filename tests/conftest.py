"""Shared test set-up: quiet MindSpore; under pytest-xdist, the slowest modules first.

The package under test is the one in this clone: ``python -m pytest`` puts the working directory (the clone's
root) first on the import path; scripts' subprocesses run from the root too."""
import os
import signal
import sys

os.environ.setdefault("GLOG_v", "3")  # MindSpore: errors only on stderr

# The slowest modules, slowest first (seconds on one worker of 2 cores, 2026-12): scripts/test.sh runs the suite on
# 2 workers, a module at a time (--dist loadfile), handed out in collection order; starting these first keeps a
# worker from finishing alone on one of them while the other has run out of work.
SLOW_MODULES = (
    "tests/e2e/test_train_recovery.py",  # ~200: a reference run, 5 interrupted-and-resumed runs, msrun
    "tests/e2e/test_finetune.py",  # ~110: the demo run (digits_run) and a fine-tune run
    "tests/e2e/test_data_parallel_paths.py",  # ~95: two msrun runs of 2 ranks
    "tests/e2e/test_recipes.py",  # ~45: two compiled train steps
    "tests/models/test_cpu_convs.py",  # ~40
)


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist, SLOW_MODULES first (each module's tests keep their order)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        rank = {path: i for i, path in enumerate(SLOW_MODULES)}
        items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


def pytest_sessionfinish(session, exitstatus):
    """The suite ends every process it starts: any process still naming this session's temporary folder (a
    script, msrun, or msrun's `tail -f` of a worker log) is killed, listed, and fails the run."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or getattr(factory, "_basetemp", None) is None:
        return
    from processes import command_line, processes_mentioning  # tests/ is on the import path (rootdir conftest)

    survivors = [(pid, command_line(pid)) for pid in processes_mentioning(str(factory.getbasetemp()))]
    for pid, _ in survivors:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if survivors:
        lines = "\n".join(f"  {pid}: {cmd[:200]}" for pid, cmd in survivors)
        sys.stderr.write(f"\nprocesses left running by the tests (now killed):\n{lines}\n")
        session.exitstatus = 1
