"""Images/second of the ImageNet data pipelines (MindCV's mixnet_s recipe) on generated JPEGs.

Train: read + decode + RandomResizedCrop 224 bicubic + hflip 0.5 + randaug-m9-mstd0.5 + normalize +
RandomErasing 0.25 + batch + the recipe's Mixup step (mixup 0.2, cutmix 1.0, cutmix_prob 0.0).
Eval: read + decode + resize 256 bicubic + centre crop 224 + normalize + batch.
Each is timed per worker count, after one warm-up batch. The JPEGs (default 500x375, about the
size of an average ImageNet photo) are written to a temporary folder and removed afterwards.

    python benchmarks/data_pipeline.py                 # ~20 s: 1 and 2 workers
    python benchmarks/data_pipeline.py --workers 1 2 4 --images 512 --compare-reader
"""
import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from typing import Dict, List

os.environ.setdefault("GLOG_v", "3")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import mindspore.dataset as ds  # noqa: E402

from mindcv.data import create_dataset, create_loader, create_transforms  # noqa: E402

RECIPE = dict(interpolation="bicubic", hflip=0.5, auto_augment="randaug-m9-mstd0.5", re_prob=0.25)


def photo_like_jpeg(seed: int, width: int, height: int) -> bytes:
    """A smooth, textured RGB JPEG (quality 90) that compresses like a photo."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, width)[None, :, None]
    y = np.linspace(0, 1, height)[:, None, None]
    phase = rng.uniform(0, 6.28, 3)
    base = np.sin(rng.uniform(3, 12) * x + rng.uniform(2, 8) * y + phase) * 90 + 128
    pixels = np.clip(base + rng.normal(0, 18, (height, width, 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def write_jpegs(root: str, count: int, width: int, height: int, classes: int = 4) -> int:
    """Write count JPEGs as root/train/c<k>/<n>.JPEG; returns the mean file size in bytes."""
    sizes = []
    for n in range(count):
        class_dir = os.path.join(root, "train", f"c{n % classes}")
        os.makedirs(class_dir, exist_ok=True)
        data = photo_like_jpeg(n, width, height)
        sizes.append(len(data))
        with open(os.path.join(class_dir, f"{n:05d}.JPEG"), "wb") as f:
            f.write(data)
    return int(np.mean(sizes))


def time_loader(loader, images_per_epoch: int, batch_size: int) -> float:
    """Images per second over one epoch, not counting the first (warm-up) batch."""
    iterator = loader.create_tuple_iterator(output_numpy=True, num_epochs=1)
    next(iterator)
    start, seen = time.perf_counter(), 0
    for images, _ in iterator:
        seen += images.shape[0]
    elapsed = time.perf_counter() - start
    assert seen == images_per_epoch - batch_size, f"expected {images_per_epoch - batch_size} images, got {seen}"
    return seen / elapsed


def build(root: str, training: bool, workers: int, batch_size: int, native_reader: bool):
    """The recipe's loader over root/train, with our reader or MindSpore's ImageFolderDataset."""
    if native_reader:
        dataset = ds.ImageFolderDataset(os.path.join(root, "train"), shuffle=training, num_parallel_workers=workers)
    else:
        dataset = create_dataset("", root, "train", shuffle=training, num_parallel_workers=workers)
    transform = create_transforms("imagenet", 224, is_training=training, crop_pct=0.875,
                                  **(RECIPE if training else {"interpolation": "bicubic"}))
    mixing = dict(mixup=0.2, cutmix=1.0, cutmix_prob=0.0, num_classes=4) if training else {}
    return create_loader(dataset, batch_size, drop_remainder=True, is_training=training, transform=transform,
                         num_parallel_workers=workers, **mixing)


def run(args: argparse.Namespace) -> List[Dict]:
    """Time every (pipeline, worker count[, reader]) combination; returns one row per run."""
    root = tempfile.mkdtemp(prefix="mindcv-bench-")
    try:
        mean_size = write_jpegs(root, args.images, args.width, args.height)
        print(f"{args.images} generated JPEGs of {args.width}x{args.height}, {mean_size / 1024:.0f} KiB on average; "
              f"batch {args.batch_size}; {os.cpu_count()} CPU cores")
        results = []
        readers = [False, True] if args.compare_reader else [False]
        for training in (True, False):
            for workers in args.workers:
                for native in readers:
                    loader = build(root, training, workers, args.batch_size, native)
                    rate = time_loader(loader, args.images, args.batch_size)
                    row = dict(pipeline="train" if training else "eval", workers=workers,
                               reader="ImageFolderDataset" if native else "create_dataset", img_per_s=rate)
                    results.append(row)
                    print(f"{row['pipeline']:5s}  workers={workers}  reader={row['reader']:18s}  "
                          f"{rate:7.1f} images/s")
        return results
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv=None) -> int:
    """Parse the options and print the throughput table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=320, help="JPEGs generated (one epoch each run)")
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="num_parallel_workers to try")
    parser.add_argument("--compare-reader", action="store_true",
                        help="also time MindSpore's ImageFolderDataset reader (no bad-file checks)")
    args = parser.parse_args(argv)
    if args.images <= args.batch_size or any(w < 1 for w in args.workers):
        parser.error("--images must exceed --batch-size and --workers must be >= 1")
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
