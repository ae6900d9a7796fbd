"""The two data-parallel paths under msrun with 2 CPU workers: graph mode (auto-parallel DATA_PARALLEL) and
PyNative (``dp_mode: pynative``: the step compiled by mindspore.jit, gradients averaged by DistributedGradReducer).
Both keep the ranks in sync (equal weight fingerprints) and follow the same per-step loss curve.

The graph run is the README's multi-node command as two "nodes" on 127.0.0.1 with one CPU worker each (both node
commands must exit 0); the PyNative run is one node with 2 workers. Cost: two msrun runs of 2 ranks, one MobileNet-V1
compilation each (about a minute each on 2 cores)."""
import os
import re
import subprocess
import time

import numpy as np
import pytest

import mindspore as ms

from conftest import DEMO, ROOT, end_processes, free_port, processes_mentioning

# 64 digits at 32x32, batch 16 per rank: 2 steps per epoch, 2 epochs, every step logged, no dropout; MobileNet-V1
# (data parallelism does not depend on the model; it compiles in a third of MixNet-S's time: 4 compiles here)
MODEL = "mobilenet_v1"
ARGS = ["-c", DEMO, "--model", MODEL, "--image_resize", "32", "--batch_size", "16", "--num_samples", "64",
        "--val_while_train", "False", "--drop_rate", "0", "--warmup_epochs", "1", "--decay_epochs", "1",
        "--log_interval", "1", "--epoch_size", "2", "--distribute", "True", "--num_parallel_workers", "1"]
STEP_LOSS = re.compile(r"epoch (\d+)/\d+ step (\d+)/\d+ loss ([0-9.]+)")
FINGERPRINT = re.compile(r"final weights fingerprint: ([0-9a-f]+)")
DEPRECATION = re.compile(r"deprecat|will be deleted|will be removed", re.IGNORECASE)


def _msrun_command(script_env, log_dir, dp_mode: str, out, node: int = -1, port: str = "") -> list:
    """msrun with 2 workers: on one node, or (``node`` 0 or 1) as one of two nodes of one worker each."""
    msrun = os.path.join(os.path.dirname(script_env["PATH"].split(os.pathsep)[0]), "bin", "msrun")
    cmd = [msrun if os.path.exists(msrun) else "msrun", "--worker_num", "2", "--master_port", port,
           "--log_dir", str(log_dir), "--join", "True"]
    cmd += ["--local_worker_num", "2"] if node < 0 else ["--local_worker_num", "1", "--node_rank", str(node),
                                                          "--master_addr", "127.0.0.1"]
    return cmd + ["train.py"] + ARGS + ["--dp_mode", dp_mode, "--ckpt_save_dir", str(out)]


def run_msrun(tmp_path, script_env, dp_mode: str, two_nodes: bool) -> dict:
    """Train under msrun with 2 workers; the worker logs, per-step losses (rank 0) and fingerprints by rank."""
    env = {k: v for k, v in script_env.items() if not k.startswith("MS_COMPILER_CACHE")}
    env["GLOG_v"] = "2"  # MindSpore's warnings on: the deprecation check below reads them
    out, port = tmp_path / f"out_{dp_mode}", str(free_port())
    nodes = (0, 1) if two_nodes else (-1,)
    log_dirs = {n: out / "msrun_logs" / (f"node{n}" if two_nodes else "all") for n in nodes}
    procs = [subprocess.Popen(_msrun_command(script_env, log_dirs[n], dp_mode, out, n, port), env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
             for n in nodes]
    try:
        outputs = [p.communicate(timeout=900)[0] for p in procs]
        time.sleep(0.5)
        left = processes_mentioning(str(out))  # workers, schedulers, msrun's `tail -f` of the worker logs
    finally:
        for p in procs:
            end_processes(p, str(out))
    assert not left, f"msrun left {len(left)} process(es) running"
    logs = {r: (log_dirs[r if two_nodes else -1] / f"worker_{r}.log").read_text() for r in (0, 1)}
    assert [p.returncode for p in procs] == [0] * len(procs), "".join(o[-1500:] for o in outputs) + logs[0][-3000:]
    losses = [(int(e), int(s), float(v)) for e, s, v in STEP_LOSS.findall(logs[0])]
    prints = {r: FINGERPRINT.findall(logs[r]) for r in (0, 1)}
    return {"logs": logs, "losses": losses, "fingerprints": prints, "out": out}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, script_env):
    base = tmp_path_factory.mktemp("dp_paths")
    return {mode: run_msrun(base, script_env, mode, two_nodes=mode == "graph") for mode in ("graph", "pynative")}


@pytest.mark.parametrize("dp_mode", ["graph", "pynative"])
def test_ranks_end_in_sync(runs, dp_mode):
    prints = runs[dp_mode]["fingerprints"]
    assert len(prints[0]) == 1 and prints[0] == prints[1], prints


def test_only_rank_0_writes_and_logs_progress(runs):
    out, logs = runs["graph"]["out"], runs["graph"]["logs"]
    assert sorted(f for f in os.listdir(out) if f.endswith(".ckpt") and f[len(MODEL) + 1].isdigit()) == [
        f"{MODEL}-1_2.ckpt", f"{MODEL}-2_4.ckpt"]  # 64 images / 2 ranks / 16 = 2 steps per epoch
    assert "rank 0 of 2;" in logs[0] and "epoch 1/2" in logs[0] and "epoch 1/2 step" not in logs[1]
    scheduler_logs = [(out / "msrun_logs" / f"node{n}" / "scheduler.log") for n in (0, 1)]
    assert any("steps aside" in p.read_text() for p in scheduler_logs if p.exists())  # two nodes, one host


def test_pynative_path_says_what_it_does(runs):
    log = runs["pynative"]["logs"][0]
    assert "data parallel over 2 rank(s) in PyNative mode" in log and "rank 0 of 2" in log


def test_both_paths_follow_the_same_loss_curve(runs):
    graph, pynative = runs["graph"]["losses"], runs["pynative"]["losses"]
    assert [(e, s) for e, s, _ in graph] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert [(e, s) for e, s, _ in pynative] == [(e, s) for e, s, _ in graph]
    curve_g, curve_p = [v for *_, v in graph], [v for *_, v in pynative]
    assert curve_p == pytest.approx(curve_g, rel=2e-3, abs=2e-3)
    # it trains: the weights move between the two epochs' checkpoints (4 steps are too few for a falling loss)
    out = runs["graph"]["out"]
    first, second = (ms.load_checkpoint(str(out / f"{MODEL}-{e}_{2 * e}.ckpt")) for e in (1, 2))
    moved = [name for name, value in first.items() if name.endswith("weight") and
             not np.allclose(value.asnumpy(), second[name].asnumpy(), rtol=1e-4, atol=1e-6)]
    assert len(moved) > 10, moved


@pytest.mark.parametrize("dp_mode", ["graph", "pynative"])
def test_no_deprecation_warning_from_the_start_up(runs, dp_mode):
    """MindSpore 2.10 warns about deprecated calls (set_context keys, export ONNX, JitConfig infer_boost, ...)
    at WARNING level; none shows in a whole train.py run on either path."""
    for rank, log in runs[dp_mode]["logs"].items():
        hits = [line for line in log.splitlines() if DEPRECATION.search(line)]
        assert not hits, (rank, hits[:5])
