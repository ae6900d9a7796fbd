"""Judging a model per class: every image's top-k predictions in the split's order (gathered over ranks), the
accuracy of each class, the confusion matrix (CSV, and PNG when matplotlib is installed) and an optional
per-image predictions CSV (as timm's ``--results-file``)."""
import csv
import io
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..utils.distributed import DistInfo, all_reduce_sum
from ..utils.io import atomic_path, atomic_write_text
from ..utils.logger import get_logger

logger = get_logger(__name__)

__all__ = ["gather_predictions", "class_report", "write_class_report", "write_predictions_csv"]


def gather_predictions(labels: np.ndarray, topk: np.ndarray, shard: Sequence[int], total: int,
                       dist: DistInfo) -> Dict[str, np.ndarray]:
    """Every image's label and top-k classes in the split's order, from each rank's ``shard`` (its indices)."""
    k = topk.shape[1] if topk.ndim == 2 else 1
    table = np.zeros((total, k + 2), np.float64)  # present, label, top-k
    rows = np.asarray(list(shard), np.int64)[: len(labels)]
    table[rows, 0] = 1.0
    table[rows, 1] = labels
    table[rows, 2:] = topk.reshape(len(labels), k)
    table = np.asarray(all_reduce_sum(table.reshape(-1), dist)).reshape(total, k + 2)
    seen = table[:, 0] > 0
    return {"labels": table[seen, 1].astype(np.int64), "topk": table[seen, 2:].astype(np.int64),
            "positions": np.nonzero(seen)[0]}


def class_report(labels: np.ndarray, top1: np.ndarray, num_classes: int) -> Dict[str, np.ndarray]:
    """Images, top-1 hits and accuracy (%) per class, and the confusion matrix (rows: true, columns: predicted)."""
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (labels, top1), 1)
    images = confusion.sum(axis=1)
    hits = np.diag(confusion)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(images > 0, 100.0 * hits / np.maximum(images, 1), np.nan)
    return {"images": images, "hits": hits, "accuracy": accuracy, "confusion": confusion}


def _csv_text(header: List[str], rows: List[List[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _confusion_png(confusion: np.ndarray, names: List[str], path: str) -> Optional[str]:
    """The confusion matrix as a picture (row-normalised colours, counts written for up to 30 classes)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError:
        logger.info("matplotlib is not installed: no confusion-matrix picture (the CSV is written)")
        return None
    n = len(names)
    size = min(4 + 0.35 * n, 24)
    figure, ax = plt.subplots(figsize=(size, size))
    shares = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    if n <= 30:
        ax.set_xticks(range(n), labels=names, rotation=90)
        ax.set_yticks(range(n), labels=names)
        for i in range(n):
            for j in range(n):
                if confusion[i, j]:
                    ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if shares[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (rows: true class)")
    figure.tight_layout()
    with atomic_path(path, suffix=".tmp.png") as tmp:
        figure.savefig(tmp, format="png", dpi=80)
    plt.close(figure)
    return path


def write_class_report(report: Dict[str, np.ndarray], names: List[str], stem: str) -> Dict[str, str]:
    """``<stem>.per_class.csv``, ``<stem>.confusion.csv`` and ``<stem>.confusion.png``; returns what was written."""
    per_class = [[i, names[i], int(report["images"][i]), int(report["hits"][i]),
                  "" if np.isnan(report["accuracy"][i]) else round(float(report["accuracy"][i]), 4)]
                 for i in range(len(names))]
    written = {"per_class_csv": atomic_write_text(stem + ".per_class.csv", _csv_text(
        ["class", "name", "images", "top1_hits", "top1_accuracy"], per_class))}
    confusion = report["confusion"]
    written["confusion_csv"] = atomic_write_text(stem + ".confusion.csv", _csv_text(
        ["true \\ predicted"] + names, [[names[i]] + [int(v) for v in confusion[i]] for i in range(len(names))]))
    png = _confusion_png(confusion, names, stem + ".confusion.png")
    if png:
        written["confusion_png"] = png
    worst = [row for row in sorted(per_class, key=lambda r: (r[4] == "", r[4])) if row[4] != ""][:5]
    logger.info("lowest per-class top-1: %s", ", ".join(f"{r[1]} {r[4]:.1f} % ({r[2]} images)" for r in worst))
    return written


def write_predictions_csv(path: str, image_paths: List[str], labels: np.ndarray, topk: np.ndarray,
                          names: List[str]) -> str:
    """One row per image: file, true class, then the top-k class indices and names (timm's results file)."""
    k = topk.shape[1]
    header = ["image", "label", "label_name"] + [f"top{i + 1}" for i in range(k)] + \
             [f"top{i + 1}_name" for i in range(k)]
    rows = [[path, int(label), names[int(label)]] + [int(c) for c in top] + [names[int(c)] for c in top]
            for path, label, top in zip(image_paths, labels, topk)]
    return atomic_write_text(os.path.abspath(path), _csv_text(header, rows))
