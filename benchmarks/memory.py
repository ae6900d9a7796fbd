"""Resident memory of a MixNet training process on CPU, phase by phase, next to PyTorch eager (geffnet).

    python benchmarks/memory.py                                   # mixnet_s, auto and split, 224x224 batch 16
    python benchmarks/memory.py --impls auto --shapes 32x64 --steps 5
    python benchmarks/memory.py --mode eval

Every configuration runs in its own subprocess (peak RSS is per process) and prints, after each phase
(``import mindspore``, ``import mindcv``, model built, graph compiled, each step), the process's current
resident set (VmRSS), its peak so far (VmHWM) and glibc's heap: bytes in use, bytes free inside the heap
(freed but kept: fragmentation) and bytes in mmap'd chunks (large blocks, e.g. MindSpore's memory pool),
read from /proc/self/status and mallinfo2() - measured only: nothing changes the allocator. PyTorch
(geffnet, eager, the same shapes, SGD with momentum) runs when its peer is found (see throughput.py's
``--torch-peer``). The last column of the summary is the peak RSS relative to PyTorch's.
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys
import time

# shared with throughput.py (which imports no MindSpore at module level): as a script, this file's folder is
# sys.path[0]; as part of the benchmarks package (python -m benchmarks.memory), the relative import finds it
try:
    from .throughput import find_torch_peer, parse_shape, torch_available
except ImportError:
    from throughput import find_torch_peer, parse_shape, torch_available

RESULT_TAG = "MEMORY_RESULT "


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _mallinfo():
    """glibc's heap statistics (None when the C library has no mallinfo2, e.g. musl or glibc < 2.33)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        return libc.mallinfo2
    except (OSError, AttributeError):
        return None


def snapshot(phase: str, mallinfo) -> dict:
    """RSS, peak RSS and heap figures of this process now, in GiB."""
    row = {"phase": phase}
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                row[key] = int(value.split()[0]) / 2 ** 20
    if mallinfo is not None:
        info = mallinfo()
        row.update(heap_used=info.uordblks / 2 ** 30, heap_free=info.fordblks / 2 ** 30, mmap=info.hblkhd / 2 ** 30)
    return row


def worker(args: argparse.Namespace) -> list:
    """Run one configuration in this process; returns its phase rows."""
    mallinfo = _mallinfo()
    rows = [snapshot("start", mallinfo)]
    size, batch = args.shapes[0]
    if args.impls[0] == "torch":
        import geffnet
        import torch

        rows.append(snapshot("import torch", mallinfo))
        torch.set_num_threads(os.cpu_count() or 1)
        torch.manual_seed(0)
        model = geffnet.create_model(args.model, pretrained=False)
        model.train(args.mode == "train")
        rows.append(snapshot("model", mallinfo))
        x = torch.randn(batch, 3, size, size)
        y = torch.randint(0, 1000, (batch,))
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()
        for i in range(args.steps):
            start = time.perf_counter()
            if args.mode == "train":
                opt.zero_grad()
                loss_fn(model(x), y).backward()
                opt.step()
            else:
                with torch.no_grad():
                    model(x)
            rows.append(snapshot(f"step {i + 1} ({time.perf_counter() - start:.1f} s)", mallinfo))
        return rows

    import numpy as np

    import mindspore as ms
    from mindspore import nn

    rows.append(snapshot("import mindspore", mallinfo))
    from mindcv.models import create_model

    rows.append(snapshot("import mindcv", mallinfo))
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_seed(0)
    model = create_model(args.model, num_classes=1000, mixconv_impl=args.impls[0])
    rows.append(snapshot("model", mallinfo))
    rng = np.random.default_rng(0)
    x = ms.Tensor(rng.normal(size=(batch, 3, size, size)).astype(np.float32))
    if args.mode == "train":
        y = ms.Tensor(rng.integers(0, 1000, size=(batch,)).astype(np.int32))
        loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
        opt = nn.Momentum(model.trainable_params(), learning_rate=0.01, momentum=0.9)
        net, inputs = nn.TrainOneStepCell(nn.WithLossCell(model, loss), opt), (x, y)
        net.set_train(True)
    else:
        model.set_train(False)
        net, inputs = model, (x,)
    start = time.perf_counter()
    net.compile(*inputs)
    rows.append(snapshot(f"compile ({time.perf_counter() - start:.0f} s)", mallinfo))
    for i in range(args.steps):
        start = time.perf_counter()
        net(*inputs).asnumpy()
        rows.append(snapshot(f"step {i + 1} ({time.perf_counter() - start:.1f} s)", mallinfo))
    return rows


def run(impl: str, shape: tuple, args: argparse.Namespace):
    """One configuration in a subprocess; its rows, or None with a message."""
    env = dict(os.environ, GLOG_v=os.environ.get("GLOG_v", "3"))
    if impl == "torch":
        env["PYTHONPATH"] = args.torch_peer
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--model", args.model, "--impls", impl,
           "--shapes", f"{shape[0]}x{shape[1]}", "--steps", str(args.steps), "--mode", args.mode]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    for line in result.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    tail = (result.stdout + result.stderr).strip().splitlines()[-8:]
    print(f"  {impl} {shape} failed (exit {result.returncode}):\n    " + "\n    ".join(tail), file=sys.stderr)
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--model", default="mixnet_s", choices=("mixnet_s", "mixnet_m", "mixnet_l"))
    parser.add_argument("--impls", nargs="+", default=["auto", "split"],
                        help="MixConv implementations (split, fused, native, auto); PyTorch is added when found")
    parser.add_argument("--shapes", nargs="+", type=parse_shape, default=[(224, 16)], help="SIZExBATCH")
    parser.add_argument("--mode", choices=("train", "eval"), default="train")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--torch-peer", default=find_torch_peer(),
                        help="directory holding torch and geffnet ($TORCH_PEER_PATH, else the newest peer)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch run")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(RESULT_TAG + json.dumps(worker(args)), flush=True)
        return 0
    impls = list(args.impls)
    if not args.no_torch and torch_available(args.torch_peer):
        impls.append("torch")
    summary = []
    for shape in args.shapes:
        for impl in impls:
            rows = run(impl, shape, args)
            if rows is None:
                continue
            print(f"\n{args.model} {args.mode} {shape[0]}x{shape[1]} {impl}: GiB")
            print(f"  {'phase':<24} {'RSS':>6} {'peak':>6} {'heap used':>10} {'heap free':>10} {'mmap':>6}")
            for r in rows:
                heap = (f"{r['heap_used']:>10.2f} {r['heap_free']:>10.2f} {r['mmap']:>6.2f}"
                        if "heap_used" in r else "")
                print(f"  {r['phase']:<24} {r['VmRSS']:>6.2f} {r['VmHWM']:>6.2f} {heap}")
            summary.append((shape, impl, max(r["VmHWM"] for r in rows)))
    print("\npeak RSS (GiB)")
    for shape, impl, peak in summary:
        peer = [p for s, i, p in summary if s == shape and i == "torch"]
        ratio = f"  {peak / peer[0]:.2f}x PyTorch" if peer and impl != "torch" else ""
        print(f"  {shape[0]}x{shape[1]} {impl:<8} {peak:.2f}{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
