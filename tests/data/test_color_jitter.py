"""color_jitter as MindCV reads it: a number b (brightness = contrast = saturation = b, hue unchanged) or
[brightness, contrast, saturation(, hue)]; ignored when auto_augment is set; any other form is a one-line error."""
import subprocess
import sys

import pytest
from mindspore.dataset import vision

import config
from mindcv.data import create_transforms
from mindcv.utils.cli import ConfigError
from tests.mindcv_peer import load_peer_module

ROOT = config.os.path.dirname(config.os.path.abspath(config.__file__))


def _recipe(tmp_path, text: str) -> str:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return str(path)


def _jitter_ops(ops) -> list:
    return [op for op in ops if isinstance(op, vision.RandomColorAdjust)]


def _ranges(op) -> tuple:
    """The ranges RandomColorAdjust draws its factors from."""
    return tuple(tuple(round(v, 6) for v in getattr(op, name)) for name in ("brightness", "contrast", "saturation",
                                                                             "hue"))


# (YAML text, value after parsing, expected ranges of brightness, contrast, saturation, hue)
FORMS = [
    ("0.4", 0.4, ((0.6, 1.4), (0.6, 1.4), (0.6, 1.4), (0, 0))),
    ("1.5", 1.5, ((0, 2.5), (0, 2.5), (0, 2.5), (0, 0))),  # the lower end clipped at 0
    ("0.0", 0.0, ((1, 1), (1, 1), (1, 1), (0, 0))),  # MindCV builds the op; it changes nothing
    ("[0.4, 0.3, 0.2]", [0.4, 0.3, 0.2], ((0.6, 1.4), (0.7, 1.3), (0.8, 1.2), (0, 0))),
    ("[0.4, 0.3, 0.2, 0.1]", [0.4, 0.3, 0.2, 0.1], ((0.6, 1.4), (0.7, 1.3), (0.8, 1.2), (-0.1, 0.1))),
    ("[0.4]", 0.4, ((0.6, 1.4), (0.6, 1.4), (0.6, 1.4), (0, 0))),  # one number in a list is that number
    ("'1e-1'", 0.1, ((0.9, 1.1), (0.9, 1.1), (0.9, 1.1), (0, 0))),  # PyYAML reads 1e-1 as a string
]


@pytest.mark.parametrize("text,value,ranges", FORMS, ids=[f[0] for f in FORMS])
def test_each_form_builds_mindcv_colour_jitter(tmp_path, text, value, ranges):
    args = config.parse_args(["-c", _recipe(tmp_path, f"color_jitter: {text}\n")])
    assert args.color_jitter == value
    ops = create_transforms("", 32, is_training=True, color_jitter=args.color_jitter)
    jitter = _jitter_ops(ops)
    assert len(jitter) == 1 and _ranges(jitter[0]) == ranges
    names = [type(op).__name__ for op in ops]
    assert names.index("RandomColorAdjust") == names.index("RandomHorizontalFlip") + 1  # before Normalize


@pytest.mark.parametrize("value", [0.4, [0.4, 0.3, 0.2], [0.4, 0.3, 0.2, 0.1], 0.0])
def test_same_op_as_mindcv(value):
    peer = load_peer_module("data", "transforms_factory")
    ours = _jitter_ops(create_transforms("", 32, is_training=True, color_jitter=value))
    theirs = _jitter_ops(peer.transforms_imagenet_train(32, color_jitter=value))
    assert [_ranges(op) for op in ours] == [_ranges(op) for op in theirs] and len(ours) == 1


@pytest.mark.parametrize("value", [0.4, [0.4, 0.4, 0.4], [0.1, 0.2, 0.3, 0.4]])
def test_ignored_with_auto_augment(value):
    ops = create_transforms("", 32, is_training=True, color_jitter=value, auto_augment="randaug-m9-mstd0.5")
    assert not _jitter_ops(ops) and len(ops) == 5  # crop, flip, RandAugment, Normalize, HWC2CHW
    peer = load_peer_module("data", "transforms_factory")
    assert not _jitter_ops(peer.transforms_imagenet_train(32, color_jitter=value, auto_augment="randaug-m9-mstd0.5"))


def test_none_means_no_jitter(tmp_path):
    args = config.parse_args(["-c", _recipe(tmp_path, "color_jitter: null\n")])
    assert args.color_jitter is None
    assert not _jitter_ops(create_transforms("", 32, is_training=True, color_jitter=None))


@pytest.mark.parametrize("argv,value", [
    (["--color_jitter", "0.3"], 0.3),
    (["--color_jitter", "0.1", "0.2", "0.3"], [0.1, 0.2, 0.3]),
    (["--color_jitter", "0.1", "0.2", "0.3", "0.05"], [0.1, 0.2, 0.3, 0.05]),
    (["--color_jitter", "None"], None),
])
def test_command_line_forms_and_saved_config(tmp_path, argv, value):
    args = config.parse_args(argv)
    assert args.color_jitter == value
    saved = config.save_config(args, str(tmp_path / "config.yaml"))
    assert config.parse_args(["-c", saved]).color_jitter == value  # the effective config reloads as it was


BAD = ["[0.4, 0.4]", "[0.1, 0.2, 0.3, 0.4, 0.5]", "-0.1", "[0.4, -0.4, 0.4]", "[0.1, 0.1, 0.1, 0.6]", "strong",
       "[[0.6, 1.4], [0.6, 1.4], [0.6, 1.4]]", "true", "{brightness: 0.4}", "[]", "[0.4, x, 0.4]", ".inf"]


@pytest.mark.parametrize("text", BAD)
def test_bad_forms_are_one_line_errors(tmp_path, text):
    path = _recipe(tmp_path, f"color_jitter: {text}\n")
    with pytest.raises(ConfigError) as err:
        config.parse_args(["-c", path])
    message = str(err.value)
    assert "\n" not in message and "option 'color_jitter'" in message and path in message
    assert "a list of 3 or 4 numbers" in message and "[brightness, contrast, saturation(, hue <= 0.5)]" in message


def test_bad_form_in_library_call_names_it():
    with pytest.raises(ValueError, match="color_jitter must be a number >= 0, or a list of 3 or 4 numbers"):
        create_transforms("", 32, is_training=True, color_jitter=[0.4, 0.4])


def test_train_script_reports_a_bad_form_in_one_line():
    run = subprocess.run([sys.executable, "train.py", "--color_jitter", "0.4", "0.4"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip().startswith("train.py: error: config: option 'color_jitter' expects")
    assert len(run.stderr.strip().splitlines()) == 1
