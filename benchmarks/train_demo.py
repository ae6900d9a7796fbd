"""Run the CPU demo recipe end to end and print its wall time and final validation accuracy.

    python benchmarks/train_demo.py [--config configs/mixnet/mixnet_s_demo.yaml] [extra train.py options]

Prints one line per epoch from the run's metrics.csv and a summary line:
    demo: <epochs> epochs, wall <s> s (compile <s> s), final val top-1 <x> %, best <y> %
"""
import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "configs", "mixnet", "mixnet_s_demo.yaml"))
    known, extra = parser.parse_known_args()
    out = tempfile.mkdtemp(prefix="mixnet_demo_")
    cmd = [sys.executable, os.path.join(ROOT, "train.py"), "-c", known.config, "--ckpt_save_dir", out] + extra
    env = dict(os.environ, GLOG_v=os.environ.get("GLOG_v", "3"))
    start = time.time()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.time() - start
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
        print(f"demo failed with exit code {result.returncode} after {wall:.0f} s")
        return result.returncode
    with open(os.path.join(out, "metrics.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        print(f"epoch {r['epoch']:>3}  loss {float(r['loss']):.4f}  {float(r['images_per_sec']):6.1f} img/s  "
              f"{float(r['epoch_seconds']):5.1f} s  val top-1 {float(r['val_top1'] or 'nan'):6.2f} %")
    compile_s = re.search(r"compiled in ([\d.]+) s", result.stdout)
    top1 = [float(r["val_top1"]) for r in rows if r["val_top1"]]
    print(f"demo: {len(rows)} epochs, wall {wall:.0f} s (compile {compile_s.group(1) if compile_s else '?'} s), "
          f"final val top-1 {top1[-1]:.2f} %, best {max(top1):.2f} %  (outputs in {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
