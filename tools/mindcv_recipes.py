"""Check MindCV's own training recipes against this project's command line, and list the option values they use.

MindCV (mindspore-lab/mindcv) keeps one YAML recipe per model under ``configs/`` (179 files at HEAD 51b0636).
With ``model: mixnet_s`` put in, each should parse here (config.parse_args) without a 'no effect' warning::

    python tools/mindcv_recipes.py --git-dir /path/to/mindcv/.git --rev 51b0636     # from a clone, no checkout
    python tools/mindcv_recipes.py /path/to/mindcv/configs                         # or from a folder

prints one line per refused or warned recipe and the counts. ``--table`` prints instead the distinct values of
the options that change what a training step computes, in groups of options that act together (optimizer,
schedule, loss, precision, augmentation, ...): tests/e2e/test_mindcv_recipes.py holds that table (written with
this script, not MindCV's files) and trains every value of every group on CPU.
"""
import argparse
import glob
import logging
import os
import subprocess
import sys
import tempfile
from typing import Dict, Iterable, List, Tuple

import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import config  # noqa: E402  (the repository's command line)
from mindcv.utils.cli import UserError  # noqa: E402

# Options that change what a training step computes, grouped where they act together (a value of one group can be
# combined with any value of another); each value reduced to what changes the computation (e.g. a probability to
# whether it is on). The test trains every distinct group value at least once.
GROUPS: Dict[str, Tuple[str, ...]] = {
    "optimizer": ("opt", "use_nesterov"),
    "decay_filter": ("weight_decay_filter",),
    "schedule": ("scheduler", "lr_epoch_stair", "num_cycles"),
    "loss": ("loss", "label_smoothing", "aux_factor"),
    "amp": ("amp_level",),
    "loss_scale": ("loss_scale_type", "drop_overflow_update"),
    "augment": ("auto_augment", "color_jitter"),
    "interpolation": ("interpolation", "vflip"),
    "erasing": ("re_prob", "re_value"),
    "mixing": ("mixup", "cutmix", "cutmix_prob"),
    "step": ("ema", "clip_grad", "gradient_accumulation_steps"),
    "repeats": ("aug_repeats",),
}
# options that only need to parse (paths, names, sizes, counts, rates): their distinct values, or a number's range
NOT_LISTED = ("model", "data_dir", "ckpt_path", "ckpt_save_dir", "config")
ON_OFF = ("label_smoothing", "aux_factor", "vflip", "re_prob", "mixup", "cutmix", "cutmix_prob")


def reduced(name: str, value):
    """The part of an option's value that changes a training step's computation."""
    if name in ON_OFF:
        return bool(value)
    if name == "num_cycles":
        return value > 1
    if name == "gradient_accumulation_steps":
        return value > 1
    if name == "aug_repeats":
        return value if value > 1 else 0
    if name == "color_jitter":  # its form; a number's size does not change the path
        return None if value is None else ("list of %d" % len(value) if isinstance(value, list) else "number")
    if name == "re_value":
        return value if value == "random" else "number"
    return value


def group_values(args: argparse.Namespace) -> Dict[str, Tuple]:
    """{group: tuple of reduced values} of a parsed recipe (color_jitter unused when auto_augment is set)."""
    values = {}
    for group, names in GROUPS.items():
        row = [reduced(n, getattr(args, n)) for n in names]
        if group == "augment" and args.auto_augment:
            row[names.index("color_jitter")] = "ignored"
        if group == "erasing" and not args.re_prob:
            row = [False, "-"]
        if group == "mixing" and not (args.cutmix_prob and (args.mixup or args.cutmix)):
            row = [False, False, False]  # cutmix_prob 0 or no alpha: no batch is mixed
        values[group] = tuple(row)
    return values


def read_recipes(folder: str = "", git_dir: str = "", rev: str = "HEAD") -> Iterable[Tuple[str, dict]]:
    """(name, mapping) of every YAML recipe under a folder, or under configs/ of a git revision."""
    if git_dir:
        listing = subprocess.run(["git", f"--git-dir={git_dir}", "ls-tree", "-r", "--name-only", rev, "configs"],
                                 capture_output=True, text=True, check=True).stdout.split()
        for path in sorted(p for p in listing if p.endswith((".yaml", ".yml"))):
            text = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{rev}:{path}"], capture_output=True,
                                  text=True, check=True).stdout
            yield path, yaml.safe_load(text)
        return
    for path in sorted(glob.glob(os.path.join(folder, "**", "*.y*ml"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            yield os.path.relpath(path, folder), yaml.safe_load(f)


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def check(recipe: dict, model: str = "mixnet_s") -> Tuple[argparse.Namespace, List[str]]:
    """Parse a recipe with ``model`` put in: (args, 'no effect' warnings); raises UserError when refused."""
    handler = _Warnings()
    logging.getLogger(config.logger.name).addHandler(handler)
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            yaml.safe_dump(dict(recipe, model=model), f)
        args = config.parse_args(["-c", f.name])
    finally:
        logging.getLogger(config.logger.name).removeHandler(handler)
        os.unlink(f.name)
    return args, [m for m in handler.messages if "no effect" in m]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", default="", help="MindCV's configs/ folder")
    parser.add_argument("--git-dir", default="", help="a MindCV git directory (read with git show, no checkout)")
    parser.add_argument("--rev", default="HEAD", help="the revision of --git-dir (MindCV's HEAD was 51b0636)")
    parser.add_argument("--table", action="store_true", help="print the distinct values of the option groups")
    options = parser.parse_args(argv)
    if not options.folder and not options.git_dir:
        parser.error("give MindCV's configs/ folder or --git-dir")
    logging.getLogger(config.logger.name).setLevel(logging.WARNING)
    accepted, refused, warned = 0, 0, 0
    distinct: Dict[str, Dict[Tuple, int]] = {group: {} for group in GROUPS}
    others: Dict[str, set] = {}
    for name, recipe in read_recipes(options.folder, options.git_dir, options.rev):
        try:
            args, warnings = check(recipe)
        except UserError as err:
            refused += 1
            print(f"refused {name}: {err}")
            continue
        accepted += 1
        if warnings:
            warned += 1
            print(f"warned  {name}: {'; '.join(warnings)}")
        for group, value in group_values(args).items():
            distinct[group][value] = distinct[group].get(value, 0) + 1
        for key in recipe:
            if key not in NOT_LISTED and not any(key in names for names in GROUPS.values()):
                value = getattr(args, key)
                others.setdefault(key, set()).add(tuple(value) if isinstance(value, list) else value)
    if options.table:
        print("# group: (option names) then each distinct value with the number of recipes using it")
        for group, names in GROUPS.items():
            print(f"{group!r}: {names!r},")
            for value, count in sorted(distinct[group].items(), key=lambda item: -item[1]):
                print(f"    {value!r},  # {count}")
        print("# other options: every distinct value (strings, booleans, lists) or the range of the numbers")
        for key in sorted(others):
            values = others[key]
            numbers = sorted(v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool))
            rest = sorted((v for v in values if v not in numbers), key=repr)
            shown = rest + ([numbers[0], numbers[-1]] if len(numbers) > 2 else numbers)
            print(f"{key!r}: {shown!r},")
    print(f"{accepted + refused} recipes: {accepted} accepted ({warned} with a 'no effect' warning), {refused} refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
