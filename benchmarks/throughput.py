"""MixNet training and evaluation throughput, graph compile time, peak memory and graph size on CPU,
per MixConv implementation and oneDNN ISA setting, next to PyTorch eager (geffnet) on the same shapes.

    python benchmarks/throughput.py                       # mixnet_s: split, fused, native; 224x224 batch 16
    python benchmarks/throughput.py --all                 # mixnet_s/m/l, 224x16 and 32x64 (~30 min)
    python benchmarks/throughput.py --models mixnet_s --impls split --shapes 32x64 --modes train --steps 10
    python benchmarks/throughput.py --modes mixconv mixconv_train   # only mixnet_s's MixConv layers

Every configuration runs in its own subprocess (oneDNN reads ONEDNN_MAX_CPU_ISA once, when MindSpore
loads; peak RSS is per process). ``--orders`` runs each MindSpore configuration with ``import mindcv``
first and/or with ``import mindspore`` first (a user script's usual habit): the two must not differ. Modes: ``eval`` (forward, graph mode), ``train`` (forward, backward and a
momentum-SGD update, graph mode), ``mixconv`` / ``mixconv_train`` (only the model's MixConv layers, with
their input shapes, forward or forward + backward). Each row: median images/s of ``--steps`` steps after
``--warmup`` untimed ones, graph compile seconds, peak RSS of the process, and the compiled graph's
node count (MindSpore's optimised frontend graph; ``compute`` leaves out the bookkeeping nodes Load,
UpdateState, Depend, MakeTuple, TupleGetItem, Return) and the 1-minute load average when the worker
started (other processes on the machine make the numbers noisy). When PyTorch and geffnet are found in
$TORCH_PEER_PATH, or else in the newest ~/.cache/mixnet-ms/peers/torch-* that scripts/env.sh installs
(``WITH_PEERS=1 bash scripts/env.sh``; $MIXNET_HOME moves ~/.cache/mixnet-ms), geffnet's model of the
same name runs the eval / train modes in eager mode and the table shows MindSpore / PyTorch ratios.
``--repeat`` runs the whole plan several times (interleaved) and reports medians of the per-run rows.
The CPU's vector ISA (AVX-512 / AVX2 / ...) is printed: oneDNN's kernels differ by ISA.
"""
import argparse
import glob
import json
import os
import statistics
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORDERS = ("mindcv", "mindspore")  # which package a worker imports first
MODELS = ("mixnet_s", "mixnet_m", "mixnet_l")
IMPLS = ("split", "fused", "native", "auto", "inference")  # inference: the CPU inference form (eval only)
MODES = ("eval", "train", "mixconv", "mixconv_train")
BOOKKEEPING = ("Load", "UpdateState", "Depend", "MakeTuple", "TupleGetItem", "Return")
RESULT_TAG = "THROUGHPUT_RESULT "
PAIR_PAUSE_S = 0.05  # --paired: pause before each step (spinning worker threads of the other runtime go idle)


def find_torch_peer() -> str:
    """$TORCH_PEER_PATH, else the newest complete peers/torch-* directory that scripts/env.sh installed."""
    if os.environ.get("TORCH_PEER_PATH"):
        return os.environ["TORCH_PEER_PATH"]
    home = os.environ.get("MIXNET_HOME", os.path.expanduser("~/.cache/mixnet-ms"))
    peers = [d for d in glob.glob(os.path.join(home, "peers", "torch-*")) if os.path.isfile(os.path.join(d, ".complete"))]
    return max(peers, key=os.path.getmtime) if peers else ""


def cpu_isa() -> str:
    """The widest x86 vector ISA the CPU reports (the one oneDNN picks by default)."""
    flags = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        return "unknown ISA"
    for flag, name in (("amx_tile", "AVX-512 + AMX"), ("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX")):
        if flag in flags:
            return name
    return "SSE or other"


def parse_shape(text: str) -> tuple:
    """'224x16' -> (224, 16): image size and batch size."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"shape {text!r} must be SIZExBATCH with positive integers, e.g. 224x16")
    return int(parts[0]), int(parts[1])


def peak_rss_gib() -> float:
    """Peak resident set size of this process in GiB (Linux reports ru_maxrss in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def timed_steps(step, steps: int, warmup: int) -> List[float]:
    """Wall seconds of ``steps`` calls of ``step`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


# ---------------------------------------------------------------- MindSpore worker (runs in a subprocess)

def count_graph_nodes(net) -> Dict[str, int]:
    """Nodes of ``net``'s compiled (optimised frontend) graph: all, without bookkeeping nodes, and the
    compute nodes in the scope of a MixConv2d layer (its forward and, in a train graph, its backward)."""
    import collections

    from mindspore.common.api import _cell_graph_executor
    from mindspore.train import anf_ir_pb2

    blob = _cell_graph_executor.get_optimize_graph_proto(net)
    if not blob:
        return {"nodes": -1, "compute_nodes": -1, "mixconv_nodes": -1}
    proto = anf_ir_pb2.ModelProto()
    proto.ParseFromString(blob)
    counts = collections.Counter(node.op_type for node in proto.graph.node)
    compute = sum(n for op, n in counts.items() if op not in BOOKKEEPING)
    mixconv = sum(1 for node in proto.graph.node
                  if node.op_type not in BOOKKEEPING and "MixConv2d" in (node.scope or node.full_name))
    return {"nodes": sum(counts.values()), "compute_nodes": compute, "mixconv_nodes": mixconv}


def mixconv_inputs(model, size: int, batch: int) -> tuple:
    """The model's MixConv layers and a random input of each one's shape (stem stride 2, then block strides)."""
    import numpy as np

    import mindspore as ms
    from mindcv.models.layers.mixconv import MixConv2d

    layers = [cell for _, cell in model.cells_and_names() if isinstance(cell, MixConv2d)]
    rng, spatial, inputs = np.random.default_rng(0), -(-size // 2), []
    for layer, args in zip(layers, model.block_args):
        channels = sum(layer.split_channels)
        inputs.append(ms.Tensor(rng.normal(size=(batch, channels, spatial, spatial)).astype(np.float32)))
        spatial = -(-spatial // args.stride)
    return layers, tuple(inputs)


def build_ms_step(model_name: str, impl: str, mode: str, size: int, batch: int):
    """(cell, inputs, images per step) of one configuration, in graph mode."""
    import numpy as np

    import mindspore as ms
    from mindspore import nn

    from mindcv.models import create_model

    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_seed(0)
    model = create_model(model_name, num_classes=1000, mixconv_impl="auto" if impl == "inference" else impl)
    rng = np.random.default_rng(0)
    if mode in ("mixconv", "mixconv_train"):
        layers, inputs = mixconv_inputs(model, size, batch)
        return mixconv_stack(layers, mode == "mixconv_train"), inputs, batch
    x = ms.Tensor(rng.normal(size=(batch, 3, size, size)).astype(np.float32))
    if mode == "eval":
        model.set_train(False)
        if impl == "inference":  # what validate.py / infer.py run on CPU (--eval_form auto)
            from mindcv.models.inference import to_inference

            return to_inference(model), (x,), batch
        return model, (x,), batch
    y = ms.Tensor(rng.integers(0, 1000, size=(batch,)).astype(np.int32))
    loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    opt = nn.Momentum(model.trainable_params(), learning_rate=0.01, momentum=0.9)
    net = nn.TrainOneStepCell(nn.WithLossCell(model, loss), opt)
    net.set_train(True)
    return net, (x, y), batch


def mixconv_stack(layers: list, with_grad: bool):
    """A cell running all ``layers`` on one input each (loss: sum of mean squared outputs), or its
    gradients w.r.t. every input and weight when ``with_grad``. (Defined here: only workers import MindSpore.)"""
    from mindspore import nn, ops

    class MixConvStack(nn.Cell):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.CellList(layers)

        def construct(self, *xs):
            total = 0.0
            for layer, x in zip(self.layers, xs):
                total = total + ops.square(layer(x)).mean()
            return total

    class StackGrad(nn.Cell):
        def __init__(self, stack: nn.Cell) -> None:
            super().__init__()
            self.stack = stack
            self.weights = stack.trainable_params()
            self.grad = ops.GradOperation(get_all=True, get_by_list=True)

        def construct(self, *xs):
            return self.grad(self.stack, self.weights)(*xs)

    stack = MixConvStack()
    return StackGrad(stack) if with_grad else stack


def ms_worker(args: argparse.Namespace) -> dict:
    """Measure one MindSpore configuration; returns the result row."""
    if args.order == "mindspore":
        import mindspore  # noqa: F401  (a user script's usual first import)
        import mindcv  # noqa: F401
    else:
        import mindcv  # noqa: F401
        import mindspore  # noqa: F401

    size, batch = args.shape
    load = os.getloadavg()[0]
    net, inputs, images = build_ms_step(args.model, args.impl, args.mode, size, batch)
    start = time.perf_counter()
    net.compile(*inputs)
    compile_s = time.perf_counter() - start
    nodes = count_graph_nodes(net)

    def step() -> None:
        out = net(*inputs)
        _sync(out)

    times = timed_steps(step, args.steps, args.warmup)
    return {"framework": "mindspore", "model": args.model, "impl": args.impl, "resolved": layer_impls(net),
            "isa": args.isa, "isa_env": os.environ.get("ONEDNN_MAX_CPU_ISA", ""), "order": args.order,
            "mode": args.mode, "size": size, "batch": batch, "compile_s": compile_s,
            "step_s": statistics.median(times), "img_s": images / statistics.median(times),
            "times": times, "peak_rss_gib": peak_rss_gib(), "load": load, **nodes}


def layer_impls(net) -> str:
    """The implementations the multi-kernel MixConv layers of ``net`` run (after ``auto`` and fallbacks)."""
    from mindcv.models.layers.mixconv import MixConv2d

    from mindcv.models.inference import InferenceNet

    if isinstance(net, InferenceNet):
        return "inference form"
    impls = {cell.impl for _, cell in net.cells_and_names() if isinstance(cell, MixConv2d) and cell.num_groups > 1}
    return "+".join(sorted(impls))


def _sync(out) -> None:
    """Wait for a (nested) output to be computed."""
    if isinstance(out, (tuple, list)):
        for item in out:
            _sync(item)
    else:
        out.asnumpy()


# ---------------------------------------------------------------- PyTorch worker (runs in a subprocess)

def torch_worker(args: argparse.Namespace) -> dict:
    """Measure geffnet's model of the same name in PyTorch eager mode."""
    import geffnet
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    size, batch = args.shape
    load = os.getloadavg()[0]
    model = geffnet.create_model(args.model, pretrained=False)
    x = torch.randn(batch, 3, size, size)
    compile_s = 0.0
    if args.mode == "eval":
        model.eval()
        if args.compiled:
            model = torch.compile(model)
            start = time.perf_counter()
            with torch.no_grad():
                model(x)
            compile_s = time.perf_counter() - start

        def step() -> None:
            with torch.no_grad():
                model(x)
    else:
        model.train()
        y = torch.randint(0, 1000, (batch,))
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()

        def step() -> None:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()

    times = timed_steps(step, args.steps, args.warmup)
    kind = "torch_compile" if args.compiled else "torch"
    return {"framework": kind, "model": args.model, "impl": kind, "resolved": kind, "isa": "",
            "isa_env": "", "order": "", "version": f"torch {torch.__version__}, {torch.get_num_threads()} threads",
            "mode": args.mode, "size": size, "batch": batch, "compile_s": compile_s,
            "step_s": statistics.median(times), "img_s": batch / statistics.median(times), "times": times,
            "peak_rss_gib": peak_rss_gib(), "load": load, "nodes": -1, "compute_nodes": -1,
            "mixconv_nodes": -1}


def export_worker(args: argparse.Namespace) -> dict:
    """Export the model (random weights, seed 0, MindCV's portable ``split`` graph, fixed shape) to ONNX for the
    ONNX Runtime worker; runs in its own subprocess so that the timing process never loads MindSpore."""
    import numpy as np

    import mindspore as ms

    from mindcv.models import create_model

    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_seed(0)
    size, batch = args.shape
    model = create_model(args.model, num_classes=1000, mixconv_impl="split")
    model.set_train(False)
    sample = ms.Tensor(np.random.default_rng(0).normal(size=(batch, 3, size, size)).astype(np.float32))
    stem = os.path.splitext(args.onnx_file)[0]
    ms.onnx.export(model, sample, file_name=stem, input_names=["image"], output_names=["logits"])
    return {"file": stem + ".onnx"}


def ort_worker(args: argparse.Namespace) -> dict:
    """Measure ONNX Runtime (CPU execution provider, default threads and graph optimisations) on the exported
    file of the same model and shape."""
    import numpy as np
    import onnxruntime as ort

    size, batch = args.shape
    load = os.getloadavg()[0]
    start = time.perf_counter()
    session = ort.InferenceSession(args.onnx_file, providers=["CPUExecutionProvider"])
    compile_s = time.perf_counter() - start
    x = np.random.default_rng(0).normal(size=(batch, 3, size, size)).astype(np.float32)
    times = timed_steps(lambda: session.run(None, {"image": x}), args.steps, args.warmup)
    return {"framework": "ort", "model": args.model, "impl": "ort", "resolved": "ort", "isa": "", "isa_env": "",
            "order": "", "version": f"onnxruntime {ort.__version__}", "mode": args.mode, "size": size,
            "batch": batch, "compile_s": compile_s, "step_s": statistics.median(times),
            "img_s": batch / statistics.median(times), "times": times, "peak_rss_gib": peak_rss_gib(), "load": load,
            "nodes": -1, "compute_nodes": -1, "mixconv_nodes": -1}


def paired_worker(args: argparse.Namespace) -> dict:
    """MindSpore (graph mode, ``--impls``) and ONNX Runtime on the same model and input in one process, step by
    step in turn with a short pause between them: on a shared machine both see the same load, and the ratio of
    each pair of steps is what is reported (median and quartiles)."""
    import numpy as np
    import onnxruntime as ort

    if args.order == "mindspore":
        import mindspore  # noqa: F401  (a user script's usual first import)
        import mindcv  # noqa: F401
    else:
        import mindcv  # noqa: F401
        import mindspore  # noqa: F401

    size, batch = args.shape
    load = os.getloadavg()[0]
    export_worker(args)  # PyNative: MindCV's portable graph to ONNX (weights do not matter for speed)
    net, inputs, _ = build_ms_step(args.model, args.impl, "eval", size, batch)  # graph mode from here on
    start = time.perf_counter()
    net.compile(*inputs)
    compile_s = time.perf_counter() - start
    session = ort.InferenceSession(args.onnx_file, providers=["CPUExecutionProvider"])
    x = inputs[0].asnumpy()
    int8_session = None
    if args.int8:  # export.py's int8 scheme, calibrated on random images: a speed measurement only
        from mindcv.eval.quantize import quantize_int8

        int8_file = os.path.splitext(args.onnx_file)[0] + "_int8.onnx"
        calibration = np.random.default_rng(1).normal(size=(32, 3, size, size)).astype(np.float32)
        quantize_int8(args.onnx_file, int8_file, calibration, batch=8)
        int8_session = ort.InferenceSession(int8_file, providers=["CPUExecutionProvider"])

    def ms_step() -> None:
        _sync(net(*inputs))

    def ort_step() -> None:
        session.run(None, {"image": x})

    def int8_step() -> None:
        int8_session.run(None, {"image": x})

    steps = [ms_step, ort_step] + ([int8_step] if int8_session is not None else [])
    for _ in range(max(1, args.warmup)):
        for step in steps:
            step()
    times: List[List[float]] = [[] for _ in steps]
    for _ in range(args.steps):
        for step, kept in zip(steps, times):
            time.sleep(PAIR_PAUSE_S)  # let the other runtime's threads go idle first
            begin = time.perf_counter()
            step()
            kept.append(time.perf_counter() - begin)
    ms_times, ort_times = times[0], times[1]
    ratios = sorted(o / m for m, o in zip(ms_times, ort_times))
    quartile = max(0, len(ratios) // 4)
    int8 = {}
    if int8_session is not None:
        int8_ratios = sorted(o / m for m, o in zip(ms_times, times[2]))
        int8 = {"int8_img_s": batch / statistics.median(times[2]), "int8_ratio": statistics.median(int8_ratios),
                "int8_ratio_q1": int8_ratios[quartile], "int8_ratio_q3": int8_ratios[-1 - quartile]}
    return {**int8, "framework": "paired", "model": args.model, "impl": args.impl, "resolved": layer_impls(net),
            "isa": args.isa, "isa_env": os.environ.get("ONEDNN_MAX_CPU_ISA", ""), "order": args.order,
            "mode": "eval", "size": size, "batch": batch, "compile_s": compile_s,
            "step_s": statistics.median(ms_times), "img_s": batch / statistics.median(ms_times),
            "ort_img_s": batch / statistics.median(ort_times), "pair_ratio": statistics.median(ratios),
            "pair_ratio_q1": ratios[quartile], "pair_ratio_q3": ratios[-1 - quartile], "times": ms_times,
            "ort_times": ort_times, "peak_rss_gib": peak_rss_gib(), "load": load, "load_end": os.getloadavg()[0],
            "nodes": -1, "compute_nodes": -1, "mixconv_nodes": -1, "version": f"onnxruntime {ort.__version__}"}


def paired_markdown(rows: Sequence[dict]) -> str:
    """The paired runs as a Markdown table."""
    int8 = any("int8_ratio" in r for r in rows)
    int8_head = "ORT int8 img/s | MindSpore / ORT int8 | " if int8 else ""
    lines = ["| model | shape | impl | first import | MindSpore img/s | ORT img/s | MindSpore / ORT, median of pairs "
             "(quartiles) | " + int8_head + "steps | load start / end |",
             "|---|---|---|---|---:|---:|---:|" + ("---:|---:|" if int8 else "") + "---:|---:|"]
    for r in rows:
        extra = ""
        if int8:
            extra = (f"{r['int8_img_s']:.1f} | {r['int8_ratio']:.2f}x ({r['int8_ratio_q1']:.2f}-"
                     f"{r['int8_ratio_q3']:.2f}) | " if "int8_ratio" in r else " | | ")
        lines.append(f"| {r['model']} | {r['size']}x{r['batch']} | {r['impl']} ({r['resolved']}) | {r['order']} | "
                     f"{r['img_s']:.1f} | {r['ort_img_s']:.1f} | {r['pair_ratio']:.2f}x ({r['pair_ratio_q1']:.2f}-"
                     f"{r['pair_ratio_q3']:.2f}) | {extra}{len(r['times'])} | {r['load']:.1f} / {r['load_end']:.1f} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- parent: one subprocess per configuration

def isa_env(isa: str) -> Dict[str, str]:
    """Environment of a worker for ``--isa``: oneDNN's own choice (``auto``) or a fixed oneDNN ISA cap."""
    env = dict(os.environ, GLOG_v=os.environ.get("GLOG_v", "3"))
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    if isa != "auto":
        env["ONEDNN_MAX_CPU_ISA"] = isa
    return env


def onnx_path(model: str, shape: tuple, args: argparse.Namespace) -> str:
    """Where the ONNX file of ``model`` at ``shape`` is kept for the ONNX Runtime rows (exported once per run)."""
    return os.path.join(args.onnx_dir, f"{model}_{shape[0]}x{shape[1]}.onnx")


def run_worker(kind: str, model: str, impl: str, isa: str, order: str, mode: str, shape: tuple,
               args: argparse.Namespace) -> Optional[dict]:
    """Run one configuration in a subprocess and return its row (None with a message if it failed)."""
    env = isa_env(isa)
    if kind in ("torch", "torch_compile"):
        env["PYTHONPATH"] = args.torch_peer
    if args.compile_cache:
        env.update(MS_COMPILER_CACHE_ENABLE="1", MS_COMPILER_CACHE_PATH=os.path.join(
            args.compile_cache, f"{model}_{impl}_{mode}_{shape[0]}x{shape[1]}"))
    worker = "torch" if kind == "torch_compile" else kind
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", worker, "--models", model,
           "--impls", impl if kind in ("ms", "paired") else "split", "--isa", isa or "auto",
           "--orders", order or "mindcv",
           "--modes", mode,
           "--shapes", f"{shape[0]}x{shape[1]}", "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--onnx-file", onnx_path(model, shape, args)] + (["--torch-compile"] if kind == "torch_compile" else [])
    if kind == "paired":
        cmd[cmd.index("--onnx-file") + 1] = onnx_path(model, shape, args)[:-len(".onnx")] + f"_{order}.onnx"
        cmd += ["--int8"] if args.int8 else []
    if kind == "ort" and not os.path.isfile(onnx_path(model, shape, args)):
        exported = run_worker("export", model, impl, isa, order, mode, shape, args)
        if exported is None:
            return None
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=args.workdir)
    for line in result.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    tail = (result.stdout + result.stderr).strip().splitlines()[-8:]
    print(f"  {kind} {model} {impl} {mode} {shape} failed (exit {result.returncode}):\n    " + "\n    ".join(tail),
          file=sys.stderr)
    return None


def ort_available() -> bool:
    """Whether onnxruntime imports in this environment."""
    return subprocess.run([sys.executable, "-c", "import onnxruntime"], capture_output=True).returncode == 0


def torch_available(peer: str) -> bool:
    """Whether geffnet and torch import from the peer directory."""
    if not peer:
        return False
    probe = subprocess.run([sys.executable, "-c", "import torch, geffnet"], capture_output=True,
                           env=dict(os.environ, PYTHONPATH=peer))
    return probe.returncode == 0


def plan(args: argparse.Namespace) -> List[tuple]:
    """(kind, model, impl, isa, order, mode, shape) of every subprocess, in run order."""
    if args.paired:
        return [("paired", model, impl, isa, order, "eval", shape) for model in args.models for shape in args.shapes
                for isa in args.isa for impl in args.impls for order in args.orders]
    runs = []
    for model in args.models:
        for shape in args.shapes:
            for mode in args.modes:
                if args.torch and mode in ("eval", "train"):
                    runs.append(("torch", model, "torch", "", "", mode, shape))
                if args.torch and args.torch_compile and mode == "eval":
                    runs.append(("torch_compile", model, "torch_compile", "", "", mode, shape))
                if args.ort and mode == "eval":
                    runs.append(("ort", model, "ort", "", "", mode, shape))
                for isa in args.isa:
                    for impl in args.impls:
                        if impl == "inference" and mode != "eval":
                            continue  # the inference form only evaluates
                        for order in args.orders:
                            runs.append(("ms", model, impl, isa, order, mode, shape))
    return runs


def row_key(row: dict) -> tuple:
    return (row["framework"], row["model"], row["impl"], row["isa"], row.get("order", ""), row["mode"], row["size"],
            row["batch"])


PEERS = {"torch": "PyTorch", "torch_compile": "torch.compile", "ort": "ORT"}  # frameworks MindSpore is compared to


def median_rows(runs: Sequence[Sequence[dict]]) -> List[dict]:
    """One row per configuration: the median throughput and RSS over the repeats. A MindSpore row's ratios to
    each peer (``ratio_<peer>``: its throughput over the peer's in the same repeat) and their medians."""
    merged: Dict[tuple, List[dict]] = {}
    for rows in runs:
        peers = {(r["framework"], r["model"], r["mode"], r["size"], r["batch"]): r for r in rows
                 if r["framework"] in PEERS}
        for r in rows:
            for peer in PEERS:
                other = peers.get((peer, r["model"], r["mode"], r["size"], r["batch"]))
                mine = r["framework"] not in PEERS
                r[f"ratio_{peer}"] = r["img_s"] / other["img_s"] if other and mine else None
                r[f"rss_ratio_{peer}"] = r["peak_rss_gib"] / other["peak_rss_gib"] if other and mine else None
            merged.setdefault(row_key(r), []).append(r)
    out = []
    for group in merged.values():
        row = dict(group[0])
        for key in ("img_s", "peak_rss_gib", "compile_s", "load"):
            row[key] = statistics.median(r.get(key, 0.0) for r in group)
        for peer in PEERS:
            for key in (f"ratio_{peer}", f"rss_ratio_{peer}"):
                values = [r[key] for r in group if r[key] is not None]
                row[key] = statistics.median(values) if values else None
                row[key + "s"] = values
        row["repeats"] = len(group)
        out.append(row)
    return out


def _ratio(row: dict, peer: str) -> str:
    """'1.23x' (with the repeats' range) for a MindSpore row measured next to ``peer``, else ''."""
    if row.get(f"ratio_{peer}") is None:
        return ""
    text = f"{row[f'ratio_{peer}']:.2f}x"
    values = row[f"ratio_{peer}s"]
    return text + (f" ({min(values):.2f}-{max(values):.2f})" if len(values) > 1 else "")


def markdown(rows: Sequence[dict]) -> str:
    """Median rows as a Markdown table; MindSpore rows get the median of their throughput relative to each peer
    (PyTorch eager, torch.compile, ONNX Runtime) in the same repeat, and the spread of those ratios."""
    lines = ["| model | shape | mode | impl | ISA cap | first import | img/s | vs PyTorch | vs torch.compile | vs ORT "
             "| compile s | nodes (compute) | MixConv nodes | peak RSS GiB | RSS vs PyTorch | load |",
             "|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        rss_ratio = f"{r['rss_ratio_torch']:.2f}x" if r.get("rss_ratio_torch") is not None else ""
        impl = r["impl"] if r["impl"] == r["resolved"] else f"{r['impl']} ({r['resolved']})"
        isa = "" if r["framework"] in PEERS else (r["isa"] + (f" ({r['isa_env']})" if r["isa_env"] else ""))
        nodes = "" if r["nodes"] < 0 else f"{r['nodes']} ({r['compute_nodes']})"
        mixconv_nodes = "" if r.get("mixconv_nodes", -1) < 0 else str(r["mixconv_nodes"])
        compile_s = "" if r["framework"] == "torch" else f"{r['compile_s']:.1f}"
        lines.append(f"| {r['model']} | {r['size']}x{r['batch']} | {r['mode']} | {impl} | {isa} | {r.get('order', '')} "
                     f"| {r['img_s']:.1f} | {_ratio(r, 'torch')} | {_ratio(r, 'torch_compile')} | {_ratio(r, 'ort')} | "
                     f"{compile_s} | {nodes} | {mixconv_nodes} | {r['peak_rss_gib']:.2f} | {rss_ratio} | "
                     f"{r.get('load', 0):.1f} |")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=["mixnet_s"])
    parser.add_argument("--impls", nargs="+", choices=IMPLS, default=["split", "fused", "native"],
                        help="MixConv implementations (auto: whatever it resolves to on this device)")
    parser.add_argument("--isa", nargs="+", default=["auto"],
                        help="oneDNN ISA settings: auto (no cap: oneDNN's choice for this CPU) or an "
                             "ONEDNN_MAX_CPU_ISA value such as AVX2 or AVX512_CORE")
    parser.add_argument("--orders", nargs="+", choices=ORDERS, default=list(ORDERS),
                        help="which package each MindSpore worker imports first (default: both)")
    parser.add_argument("--repeat", type=int, default=1, help="run the whole plan this many times (medians)")
    parser.add_argument("--shapes", nargs="+", type=parse_shape, default=[(224, 16)], help="SIZExBATCH, e.g. 32x64")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=["eval", "train"])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per configuration (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps after compiling")
    parser.add_argument("--all", action="store_true",
                        help="the full table: mixnet_s/m/l, 224x16 and 32x64, eval and train (with --impls)")
    parser.add_argument("--no-torch", dest="torch", action="store_false", help="skip the PyTorch (geffnet) runs")
    parser.add_argument("--torch-compile", dest="torch_compile", action="store_true",
                        help="also time torch.compile (inductor) of geffnet's model in eval mode (compiles for "
                             "about a minute per shape on 2 cores)")
    parser.add_argument("--no-ort", dest="ort", action="store_false",
                        help="skip the ONNX Runtime eval runs (MindCV's graph exported with mindspore.onnx.export)")
    parser.add_argument("--paired", action="store_true",
                        help="eval only: MindSpore and ONNX Runtime in one process per shape and import order, step "
                             "by step in turn; reports the median and quartiles of the per-pair speed ratio (for "
                             "shared machines, where separate runs see different loads)")
    parser.add_argument("--int8", action="store_true",
                        help="--paired: also time ONNX Runtime on an int8 file of the same export (export.py's "
                             "--quantize int8 scheme, calibrated on 32 random images: for speed only)")
    parser.add_argument("--onnx-file", dest="onnx_file", default="", help=argparse.SUPPRESS)
    parser.add_argument("--compile-cache", default="",
                        help="MindSpore compile cache directory (repeat runs compile faster; compile_s then "
                             "measures a cache load)")
    parser.add_argument("--json", default="", help="also write the rows to this JSON file")
    parser.add_argument("--worker", choices=("ms", "torch", "ort", "export", "paired"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    if args.repeat < 1:
        parser.error(f"--repeat must be >= 1, got {args.repeat}")
    if args.all:
        args.models, args.shapes, args.modes = list(MODELS), [(224, 16), (32, 64)], ["eval", "train"]
    args.workdir = os.environ.get("TMPDIR", "/tmp")  # MindSpore may write rank_0/ dumps into the cwd
    return args


def worker_main(args: argparse.Namespace) -> int:
    """Subprocess entry: measure the single configuration on the command line and print its row."""
    args.model, args.impl, args.mode, args.shape = args.models[0], args.impls[0], args.modes[0], args.shapes[0]
    args.isa, args.order = args.isa[0], args.orders[0]
    args.compiled = args.torch_compile
    workers = {"ms": ms_worker, "torch": torch_worker, "ort": ort_worker, "export": export_worker,
               "paired": paired_worker}
    row = workers[args.worker](args)
    print(RESULT_TAG + json.dumps(row), flush=True)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(args)
    args.torch_peer = find_torch_peer()
    args.torch = args.torch and not args.paired
    if args.torch and not torch_available(args.torch_peer):
        print(f"PyTorch/geffnet not found (TORCH_PEER_PATH={args.torch_peer or 'unset'}, no complete "
              "~/.cache/mixnet-ms/peers/torch-*; WITH_PEERS=1 bash scripts/env.sh installs it): MindSpore rows only",
              file=sys.stderr)
        args.torch = False
    if args.ort and not ort_available():
        print("onnxruntime not found (pip install onnxruntime): no ONNX Runtime rows", file=sys.stderr)
        args.ort = False
    args.onnx_dir = tempfile.mkdtemp(prefix="throughput-onnx-", dir=args.workdir)
    start, load = time.time(), os.getloadavg()[0]
    print(f"{_cpu_name()}: {cpu_isa()}, {os.cpu_count()} CPUs", file=sys.stderr, flush=True)
    runs = []
    for repeat in range(args.repeat):
        rows = []
        for kind, model, impl, isa, order, mode, shape in plan(args):
            print(f"[{repeat + 1}/{args.repeat}] {kind} {model} {impl} {isa} {order} {mode} {shape[0]}x{shape[1]} ...",
                  file=sys.stderr, flush=True)
            row = run_worker(kind, model, impl, isa, order, mode, shape, args)
            if row is not None:
                rows.append(row)
                print(f"  {row['img_s']:.1f} img/s, compile {row['compile_s']:.1f} s, {row['nodes']} nodes, "
                      f"peak RSS {row['peak_rss_gib']:.2f} GiB", file=sys.stderr, flush=True)
        runs.append(rows)
    shutil.rmtree(args.onnx_dir, ignore_errors=True)
    rows = median_rows(runs) if not args.paired else [r for rows in runs for r in rows]
    print(paired_markdown(rows) if args.paired else markdown(rows))
    print(f"\n{_cpu_name()} ({cpu_isa()}), {os.cpu_count()} CPUs; load average {load:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end; median of {args.steps} steps after {args.warmup} warm-up, "
          f"{args.repeat} repeat(s); total {time.time() - start:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"cpu": _cpu_name(), "isa": cpu_isa(), "rows": rows, "runs": runs}, f, indent=1)
    return 0 if rows else 1


def _cpu_name() -> str:
    """The CPU model from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
