"""Parameters, multiply-adds and CPU forward time of MobileNetV1/V2 with vanilla vs MixConv depthwise kernels.

    python benchmarks/mixconv_table.py [--archs v1 v2] [--batch-size 1] [--runs 7] [--warmup 2] [--mode graph]

Prints a Markdown table: for each of MobileNetV1 / V2, the depthwise kernels 3x3 (the plain network),
5x5, 7x7, 9x9 (vanilla large kernels) and MixConv35 / 357 / 3579, with trainable parameters,
multiply-adds per 224x224 image (conv + dense, ``mindcv.models.summary.count_macs``) and the
forward time of a batch after warm-up (median and minimum). This is the cost side of the paper's
Figure 4; its accuracy side needs ImageNet training and is not measured here.
"""
import argparse
import json
import os
import statistics
import sys
import time
from typing import Dict, List, Sequence

import numpy as np  # noqa: E402

import mindspore as ms  # noqa: E402

from mindcv.models import create_model  # noqa: E402
from mindcv.models import mobilenet  # noqa: E402,F401  (registers the MobileNets)
from mindcv.models.summary import count_macs, count_params  # noqa: E402

KERNEL_SETS = ("", "_dw5", "_dw7", "_dw9", "_mixconv35", "_mixconv357", "_mixconv3579")
MODES = {"pynative": ms.PYNATIVE_MODE, "graph": ms.GRAPH_MODE}


def model_names(archs: Sequence[str]) -> List[str]:
    """Registered names of the table's rows, vanilla 3x3 first in each family."""
    return [f"mobilenet_{arch}{suffix}" for arch in archs for suffix in KERNEL_SETS]


def kernels_label(name: str) -> str:
    """How the depthwise convs of a variant look: '3x3', '9x9' or 'MixConv 3,5,7'."""
    kernels = mobilenet.VARIANTS[name][1]
    return f"{kernels[0]}x{kernels[0]}" if len(kernels) == 1 else "MixConv " + ",".join(map(str, kernels))


def _input(batch_size: int, size: int) -> ms.Tensor:
    """A fixed random batch of images."""
    return ms.Tensor(np.random.default_rng(0).normal(size=(batch_size, 3, size, size)).astype(np.float32))


def _timed_forward(net: ms.nn.Cell, x: ms.Tensor) -> float:
    """Wall time in ms of one forward pass, output copied to the host."""
    start = time.perf_counter()
    net(x).asnumpy()
    return (time.perf_counter() - start) * 1e3


def measure(names: Sequence[str], args: argparse.Namespace) -> List[Dict[str, float]]:
    """Parameters, multiply-adds and forward times; timed runs go round-robin over the models so that
    load from other processes spreads evenly over them."""
    nets = {name: create_model(name) for name in names}
    rows = {name: {"model": name, "kernels": kernels_label(name), "params": count_params(net),
                   "macs": count_macs(net, (args.size, args.size))["total"], "times": []}
            for name, net in nets.items()}
    ms.set_context(mode=MODES[args.mode])
    x = _input(args.batch_size, args.size)
    for net in nets.values():
        net.set_train(False)
        for _ in range(args.warmup):  # includes the graph compilation in graph mode
            _timed_forward(net, x)
    for _ in range(args.runs):
        for name, net in nets.items():
            rows[name]["times"].append(_timed_forward(net, x))
    for row in rows.values():
        row["ms"], row["ms_min"] = statistics.median(row["times"]), min(row["times"])
    return list(rows.values())


def markdown(rows: List[Dict[str, float]], args: argparse.Namespace) -> str:
    """The results as a Markdown table, with parameter and MAC changes relative to each family's 3x3."""
    base = {r["model"].split("_")[1]: r for r in rows if r["kernels"] == "3x3"}
    lines = [f"| model | depthwise | params (M) | vs 3x3 | MACs (M) | vs 3x3 | forward ms (batch {args.batch_size}, "
             f"{args.mode}): median / min |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        b = base[r["model"].split("_")[1]]
        lines.append(f"| {r['model']} | {r['kernels']} | {r['params'] / 1e6:.3f} | "
                     f"{100 * (r['params'] / b['params'] - 1):+.1f} % | {r['macs'] / 1e6:.1f} | "
                     f"{100 * (r['macs'] / b['macs'] - 1):+.1f} % | {r['ms']:.0f} / {r['ms_min']:.0f} |")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=["v1", "v2"], choices=sorted(mobilenet.ARCHS),
                        help="MobileNet versions")
    parser.add_argument("--size", type=int, default=224, help="input height = width")
    parser.add_argument("--batch-size", type=int, default=1, help="batch of the timed forward passes")
    parser.add_argument("--warmup", type=int, default=2, help="untimed forward passes first")
    parser.add_argument("--runs", type=int, default=7,
                        help="timed forward passes per model (median and minimum reported)")
    parser.add_argument("--mode", choices=sorted(MODES), default="graph",
                        help="MindSpore execution mode (graph: each model compiles during its warm-up)")
    parser.add_argument("--json", default="", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    for key in ("size", "batch_size", "runs"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be >= 1, got {getattr(args, key)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    start, load = time.time(), os.getloadavg()[0]
    rows = measure(model_names(args.archs), args)
    print(markdown(rows, args))
    print(f"\n{args.size}x{args.size} input; MACs of conv + dense layers; forward time of {args.runs} runs per model "
          f"(round-robin over the models) after {args.warmup} warm-up; {os.cpu_count()} CPUs, load average "
          f"{load:.1f} at the start; total {time.time() - start:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
