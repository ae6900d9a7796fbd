"""eval_shuffle (MindCV's option): the evaluation images are read in a seeded random order, and validate.py's
results (counts, accuracies, every image's prediction) are identical to those of the split's order."""
import numpy as np
import pytest

import config
import validate
from mindcv.data.dataset_factory import FolderIndex
from mindcv.engine import eval_shard, make_eval_loader_factory
from mindcv.utils.distributed import DistInfo
from test_validate import COMMON, assert_matches, assert_per_class, case, read_json  # noqa: F401 (fixture)


def test_validate_results_do_not_depend_on_eval_shuffle(case, tmp_path):
    """The shuffled run gives the numbers computed by hand in the split's order (test_validate.py checks the
    unshuffled run against the same numbers): counts, accuracies, every image's prediction (per class, and the
    per-image CSV in the split's order); the mean loss to float32 rounding (summed in another order)."""
    out, images = tmp_path / "shuffled.json", tmp_path / "shuffled.csv"
    code = validate.main(["--data_dir", case["root"], "--ckpt_path", case["ckpt"], "--results_json", str(out),
                          "--results_csv", str(images), "--eval_shuffle", "True"] + COMMON)
    assert code == 0
    assert_matches(read_json(out), case["expected"])
    assert_per_class(str(tmp_path / "shuffled"), case, str(images))


def test_the_loader_reads_the_shuffled_shard(case):
    n = len(case["samples"])
    for shuffle in (False, True):  # two ranks partition the images exactly, shuffled or not
        args = config.parse_args(["--eval_shuffle", str(shuffle), "--seed", "3"])
        shards = [eval_shard(args, n, DistInfo(rank, 2)) for rank in (0, 1)]
        assert sorted(shards[0] + shards[1]) == list(range(n)) and [len(s) for s in shards] == [8, 7]
    args = config.parse_args(["--data_dir", case["root"], "--eval_shuffle", "True", "--seed", "3"] + COMMON)
    order = eval_shard(args, n, DistInfo())
    assert sorted(order) == list(range(n)) and order != list(range(n))
    assert order == eval_shard(args, n, DistInfo())  # drawn from the seed: the same in every run
    assert order != eval_shard(config.parse_args(["--eval_shuffle", "True", "--seed", "4"]), n, DistInfo())
    index = FolderIndex.scan(args.dataset, args.data_dir, args.val_split)
    loader = make_eval_loader_factory(args, index, DistInfo(), len(index.class_names))
    labels = np.concatenate([label.asnumpy() for _, label in loader()])
    assert labels.tolist() == [case["labels"][i] for i in order]
    assert labels.tolist() != case["labels"]  # the test tells the two orders apart
