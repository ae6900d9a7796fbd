"""The allowed values of the options, shared by config.py (checks, help, docs) and the factories that use them.

Kept free of MindSpore (and of every other import) so that ``--help`` and option errors answer at once.
"""
from typing import List, Tuple

OPTIMIZERS: Tuple[str, ...] = ("sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad", "lamb")
WEIGHT_DECAY_FILTERS: Tuple[str, ...] = ("disable", "auto", "norm_and_bias")
LOSSES: Tuple[str, ...] = ("CE", "BCE")
SCHEDULERS: Tuple[str, ...] = (
    "constant",
    "cosine_decay",
    "warmup_cosine_decay",  # MindCV's alias of cosine_decay
    "exponential_decay",
    "polynomial_decay",
    "step_decay",
    "multi_step_decay",
    "one_cycle",
    "cyclic",
)
AMP_LEVELS: Tuple[str, ...] = ("O0", "O1", "O2", "O3")
JIT_LEVELS: Tuple[str, ...] = ("O0", "O1", "O2")  # O2 (GE): Ascend only, deprecated since MindSpore 2.9
# precision of amp_level O1-O3: bfloat16 needs no loss scaling (Ascend only: no bfloat16 Conv2D on CPU)
AMP_DTYPES: Tuple[str, ...] = ("float16", "bfloat16")
# data parallelism: graph (graph-mode auto-parallel DATA_PARALLEL) or pynative (mindspore.jit + DistributedGradReducer)
DP_MODES: Tuple[str, ...] = ("graph", "pynative")
DEVICE_TARGETS: Tuple[str, ...] = ("Ascend", "GPU", "CPU")
LOSS_SCALE_TYPES: Tuple[str, ...] = ("fixed", "dynamic", "auto")
CKPT_SAVE_POLICIES: Tuple[str, ...] = ("latest_k", "top_k")
# interpolation names of the option (the transforms also accept the aliases linear and cubic)
INTERPOLATIONS: Tuple[str, ...] = ("bilinear", "bicubic", "nearest", "area", "pilcubic", "antialias")
# how the MixConv layers run: split (MindCV's graph), fused (one conv), native (CPU C++ op), auto (by device)
MIXCONV_IMPLS: Tuple[str, ...] = ("auto", "split", "fused", "native")
# dataset names read as an image-folder tree (<root>/<split>/<class>/<image>); digits is the embedded demo set
FOLDER_DATASETS: Tuple[str, ...] = ("", "imagenet", "folder")
DATASETS: Tuple[str, ...] = FOLDER_DATASETS + ("digits",)
AUTO_AUGMENT_POLICIES: Tuple[str, ...] = ("randaug", "autoaug", "autoaugr", "trivialaugwide")

# ImageNet mean and std in 0-255 pixel units, as MindCV passes them to vision.Normalize
IMAGENET_DEFAULT_MEAN: List[float] = [0.485 * 255, 0.456 * 255, 0.406 * 255]
IMAGENET_DEFAULT_STD: List[float] = [0.229 * 255, 0.224 * 255, 0.225 * 255]
DEFAULT_CROP_PCT: float = 0.875
