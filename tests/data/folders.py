"""Helpers of the data tests: tiny generated JPEG folders in the ImageNet layout."""
import io
import os
from typing import Dict, List

import numpy as np
from PIL import Image

CLASSES = ["cat", "dog", "fox"]
VAL_CLASSES = ["dog", "fox"]  # val lacks 'cat': its labels must still follow train's class order
TRAIN_PER_CLASS = 4
VAL_PER_CLASS = 2


def jpeg_bytes(seed: int, size=(40, 30)) -> bytes:
    """A small noisy RGB JPEG whose content depends on seed (so every file is distinct)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def write_folder(root: str, per_split: Dict[str, int], classes: List[str] = CLASSES, first_seed: int = 0) -> str:
    """Write root/<split>/<class>/img_<n>.JPEG files; sizes alternate landscape / portrait."""
    seed = first_seed
    for split, count in per_split.items():
        for name in classes:
            os.makedirs(os.path.join(root, split, name), exist_ok=True)
            for i in range(count):
                size = (40, 30) if i % 2 == 0 else (30, 44)
                with open(os.path.join(root, split, name, f"img_{i}.JPEG"), "wb") as f:
                    f.write(jpeg_bytes(seed, size))
                seed += 1
    return root


def rows(dataset, num_epochs: int = 1) -> list:
    """All rows of a dataset as lists of numpy arrays."""
    return [list(r) for r in dataset.create_tuple_iterator(output_numpy=True, num_epochs=num_epochs)]
