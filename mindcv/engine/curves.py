"""Training curves as a picture: ``curves.png`` beside ``metrics.csv`` (loss, learning rate, validation top-1 /
top-5 against epoch), drawn with matplotlib when it is installed (an optional dependency)."""
import csv
import os
from typing import Dict, List, Optional

from ..utils.io import atomic_path
from ..utils.logger import get_logger

logger = get_logger(__name__)

__all__ = ["write_curves", "CURVES_FILE"]

CURVES_FILE = "curves.png"
_warned = []


def _read(path: str) -> Dict[str, List[float]]:
    """The numeric columns of metrics.csv (blank cells, e.g. epochs without validation, become NaN)."""
    columns: Dict[str, List[float]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                try:
                    columns.setdefault(key, []).append(float(value))
                except (TypeError, ValueError):
                    columns.setdefault(key, []).append(float("nan"))
    return columns


def write_curves(metrics_csv: str, output: Optional[str] = None) -> Optional[str]:
    """Draw the curves of ``metrics_csv`` into ``output`` (default: curves.png beside it), atomically.

    Returns the path written, or None when matplotlib is missing (said once in the log) or there is no row yet.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        from matplotlib import pyplot as plt
    except ImportError:
        if not _warned:
            _warned.append(True)
            logger.info("matplotlib is not installed: no %s (pip install matplotlib to get the training curves)",
                        CURVES_FILE)
        return None
    columns = _read(metrics_csv)
    epochs = columns.get("epoch", [])
    if not epochs:
        return None
    output = output or os.path.join(os.path.dirname(os.path.abspath(metrics_csv)), CURVES_FILE)
    figure, (loss_ax, lr_ax, acc_ax) = plt.subplots(1, 3, figsize=(13, 3.6))
    loss_ax.plot(epochs, columns.get("loss", []), marker="o", label="train loss")
    if "val_loss" in columns:
        loss_ax.plot(epochs, columns["val_loss"], marker="o", label="val loss")
    lr_ax.plot(epochs, columns.get("lr", []), marker="o", color="tab:green")
    for key, label in (("val_top1", "val top-1"), ("val_top5", "val top-5")):
        if key in columns:
            acc_ax.plot(epochs, columns[key], marker="o", label=label)
    for ax, title in ((loss_ax, "loss"), (lr_ax, "learning rate (end of epoch)"), (acc_ax, "validation accuracy %")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    loss_ax.legend()
    if acc_ax.lines:
        acc_ax.legend()
    figure.tight_layout()
    with atomic_path(output, suffix=".tmp.png") as tmp:
        figure.savefig(tmp, format="png", dpi=90)
    plt.close(figure)
    return output
