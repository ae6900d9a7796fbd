"""config.py: defaults < YAML < command line, value checks, recipes, saving and reloading."""
import os

import pytest
import yaml

import config
from config import OPTIONS, ConfigError, load_config, parse_args, save_config
from mindcv.utils.cli import run_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = {size: os.path.join(ROOT, "configs", "mixnet", f"mixnet_{size}_ascend.yaml") for size in "sml"}


def write_yaml(tmp_path, text: str, name: str = "recipe.yaml") -> str:
    """A YAML file with ``text`` under tmp_path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def cli_error(argv, capsys) -> str:
    """Parse ``argv`` as an entry point does; expect one error line on stderr and status 2; return that line."""
    assert run_main("train.py", lambda a: parse_args(a) and 0, argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("train.py: error: ") and err.count("\n") == 1, err
    return err


# --- defaults and precedence -------------------------------------------------------------------

def test_defaults_are_the_option_table_defaults():
    args = parse_args([])
    for name, opt in OPTIONS.items():
        assert getattr(args, name) == config.convert_value(opt, opt.default), name
    assert args.config == ""


def test_mindcv_defaults_kept():
    """The defaults a MindCV user relies on (MindCV config.py)."""
    args = parse_args([])
    assert (args.opt, args.lr, args.weight_decay, args.momentum) == ("adam", 0.001, 1e-6, 0.9)
    assert (args.scheduler, args.decay_epochs, args.warmup_epochs, args.min_lr) == ("cosine_decay", 100, 3, 1e-6)
    assert (args.weight_decay_filter, args.loss_scale_type, args.loss_scale) == ("disable", "fixed", 1.0)
    assert (args.batch_size, args.epoch_size, args.amp_level, args.cutmix_prob) == (128, 90, "O0", 1.0)
    assert args.scale == (0.08, 1.0) and args.ratio == (0.75, 1.333)
    assert args.mean == pytest.approx([0.485 * 255, 0.456 * 255, 0.406 * 255])


def test_yaml_overrides_defaults_and_cli_overrides_yaml(tmp_path):
    path = write_yaml(tmp_path, "lr: 0.5\nbatch_size: 32\nopt: momentum\n")
    args = parse_args(["-c", path, "--lr", "0.25"])
    assert args.lr == 0.25  # command line wins
    assert args.batch_size == 32 and args.opt == "momentum"  # from the YAML
    assert args.epoch_size == OPTIONS["epoch_size"].default  # untouched default
    assert args.config == path


# --- booleans and lists from the command line --------------------------------------------------

@pytest.mark.parametrize("word", ["False", "false", "0", "no", "off", "FALSE"])
def test_false_words_mean_false(word):
    assert parse_args(["--distribute", word]).distribute is False
    assert parse_args(["--shuffle", word]).shuffle is False  # default True


@pytest.mark.parametrize("word", ["True", "true", "1", "yes", "on"])
def test_true_words_mean_true(word):
    assert parse_args(["--distribute", word]).distribute is True


def test_bare_flag_means_true_and_yaml_bools(tmp_path):
    assert parse_args(["--ema"]).ema is True
    path = write_yaml(tmp_path, "shuffle: false\nema: 1\nclip_grad: 'yes'\n")
    args = parse_args(["-c", path])
    assert (args.shuffle, args.ema, args.clip_grad) == (False, True, True)


def test_bad_bool_is_an_error(capsys):
    err = cli_error(["--distribute", "maybe"], capsys)
    assert "--distribute" in err and "maybe" in err and "boolean" in err


def test_list_options_from_command_line():
    args = parse_args(["--scale", "0.5", "1.0", "--mean", "1", "2", "3", "--std", "4", "5", "6",
                       "--multi_step_decay_milestones", "10", "20"])
    assert args.scale == (0.5, 1.0)
    assert args.mean == [1.0, 2.0, 3.0] and args.std == [4.0, 5.0, 6.0]
    assert args.multi_step_decay_milestones == [10, 20]
    assert parse_args(["--multi_step_decay_milestones"]).multi_step_decay_milestones == []


def test_pair_needs_two_values(capsys):
    assert "expected 2 arguments" in cli_error(["--scale", "0.5"], capsys)


@pytest.mark.parametrize("tokens, expected", [(["random"], "random"), (["0.5"], 0.5), (["1"], 1),
                                               (["0.1", "0.2", "0.3"], [0.1, 0.2, 0.3])])
def test_re_value_forms(tokens, expected):
    assert parse_args(["--re_value", *tokens]).re_value == expected


def test_null_words_for_nullable_options():
    args = parse_args(["--auto_augment", "None", "--num_classes", "null", "--drop_rate", "~"])
    assert (args.auto_augment, args.num_classes, args.drop_rate) == (None, None, None)


# --- value checks ------------------------------------------------------------------------------

def test_yaml_string_where_float_expected_names_key_value_type_and_file(tmp_path):
    path = write_yaml(tmp_path, "lr: fast\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    msg = str(exc.value)
    assert path in msg and "'lr'" in msg and "'fast'" in msg and "a number" in msg


def test_yaml_exponent_strings_are_numbers(tmp_path):
    path = write_yaml(tmp_path, "min_lr: 1e-5\nweight_decay: 2E-5\nepoch_size: 1e3\n")
    raw = yaml.safe_load(open(path, encoding="utf-8"))
    assert isinstance(raw["min_lr"], str)  # what PyYAML does; config.py must still read a float
    values = load_config(path)
    assert values["min_lr"] == 1e-5 and values["weight_decay"] == 2e-5
    assert values["epoch_size"] == 1000 and isinstance(values["epoch_size"], int)


def test_fractional_int_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="'epoch_size' expects an integer, got 1.5"):
        load_config(write_yaml(tmp_path, "epoch_size: 1.5\n"))


def test_bool_is_not_a_number(tmp_path):
    with pytest.raises(ConfigError, match="'lr' expects a number"):
        load_config(write_yaml(tmp_path, "lr: true\n"))


def test_unknown_yaml_key_names_key_file_and_closest(tmp_path):
    path = write_yaml(tmp_path, "lr: 0.1\nwarmup_epoch: 5\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    msg = str(exc.value)
    assert "'warmup_epoch'" in msg and path in msg and "did you mean 'warmup_epochs'" in msg


def test_unknown_yaml_key_via_parse_args_exits(tmp_path, capsys):
    err = cli_error(["-c", write_yaml(tmp_path, "learning_rate: 0.1\n")], capsys)
    assert "unknown key 'learning_rate'" in err


def test_missing_config_file_names_path(tmp_path, capsys):
    missing = str(tmp_path / "nope.yaml")
    assert f"config file not found: {missing}" in cli_error(["-c", missing], capsys)


def test_yaml_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write_yaml(tmp_path, "- lr\n- 0.1\n"))


def test_unknown_cli_flag_suggests_closest(capsys):
    err = cli_error(["--lrr", "0.1"], capsys)
    assert "--lrr" in err and "did you mean --lr?" in err


def test_no_abbreviations(capsys):
    """--warmup must not silently mean --warmup_epochs (or --warmup_factor)."""
    assert "unrecognized options: --warmup" in cli_error(["--warmup", "3"], capsys)


@pytest.mark.parametrize("key, bad", [("opt", "adm"), ("scheduler", "cosine"), ("loss", "focal"),
                                      ("amp_level", "O4"), ("loss_scale_type", "static"),
                                      ("weight_decay_filter", "bn"), ("mode", "2"), ("interpolation", "cubicc")])
def test_enumerated_values_checked_in_yaml_and_cli(tmp_path, capsys, key, bad):
    allowed = [str(c) for c in OPTIONS[key].choices]
    with pytest.raises(ConfigError) as exc:
        load_config(write_yaml(tmp_path, f"{key}: {bad}\n"))
    assert all(choice in str(exc.value) for choice in allowed)
    err = cli_error([f"--{key}", bad], capsys)
    assert f"--{key}" in err and all(choice in err for choice in allowed)


def test_enumerated_values_match_case_insensitively():
    args = parse_args(["--opt", "Momentum", "--loss", "ce", "--device_target", "cpu", "--amp_level", "o3"])
    assert (args.opt, args.loss, args.device_target, args.amp_level) == ("momentum", "CE", "CPU", "O3")


@pytest.mark.parametrize("argv, phrase", [(["--hflip", "1.5"], "in [0, 1]"),
                                          (["--batch_size", "0"], ">= 1"),
                                          (["--label_smoothing", "1.0"], "in [0, 1)"),
                                          (["--crop_pct", "0"], "in (0, 2]"),
                                          (["--loss_scale", "0.5"], ">= 1")])
def test_ranges(capsys, argv, phrase):
    assert phrase in cli_error(argv, capsys)


def test_range_checked_in_yaml(tmp_path):
    with pytest.raises(ConfigError, match=r"'scale' expects a list of 2 floats, each a number in \(0, 1\]"):
        load_config(write_yaml(tmp_path, "scale: [0.0, 1.0]\n"))


def test_cross_option_rules(capsys):
    assert "drop_overflow_update" in cli_error(["--loss_scale_type", "dynamic"], capsys)
    assert "val_while_train" in cli_error(["--ckpt_save_policy", "top_k"], capsys)
    assert "mean and std" in cli_error(["--mean", "1", "2"], capsys)
    ok = parse_args(["--loss_scale_type", "dynamic", "--drop_overflow_update", "true"])
    assert ok.loss_scale_type == "dynamic"


def test_deprecated_filter_bias_and_bn_maps_to_weight_decay_filter():
    assert parse_args(["--filter_bias_and_bn", "true"]).weight_decay_filter == "norm_and_bias"
    assert parse_args(["--filter_bias_and_bn", "false"]).weight_decay_filter == "disable"
    with pytest.raises(ConfigError, match="contradicts"):
        parse_args(["--filter_bias_and_bn", "true", "--weight_decay_filter", "auto"])


# --- saving, formatting, reference --------------------------------------------------------------

def test_save_config_round_trip(tmp_path):
    args = parse_args(["-c", RECIPES["l"], "--lr", "1e-5", "--scale", "0.3", "1.0", "--re_value", "random",
                       "--data_dir", "yes", "--auto_augment", "None", "--num_samples", "7"])
    out = tmp_path / "run" / "effective.yaml"
    save_config(args, str(out))
    assert sorted(os.listdir(out.parent)) == ["effective.yaml"]  # no temporary file left behind
    again = parse_args(["-c", str(out)])
    mine, theirs = vars(args), vars(again)
    for values in (mine, theirs):
        values.pop("config"), values.pop("explicit_options")
    assert mine == theirs
    assert again.data_dir == "yes"  # a string that YAML would read as a bool survives


def test_save_config_overwrites_atomically(tmp_path):
    out = tmp_path / "cfg.yaml"
    out.write_text("old", encoding="utf-8")
    save_config(parse_args(["--lr", "0.3"]), str(out))
    assert load_config(str(out))["lr"] == 0.3


def test_format_config_lists_every_option_and_marks_changes():
    text = config.format_config(parse_args(["--lr", "0.3"]))
    lines = text.splitlines()
    for name in OPTIONS:
        assert any(line[3:].startswith(name + " ") for line in lines), name
    lr_line = next(line for line in lines if line[3:].startswith("lr "))
    batch_line = next(line for line in lines if line[3:].startswith("batch_size "))
    assert lr_line.lstrip().startswith("*") and not batch_line.lstrip().startswith("*")


def test_markdown_reference_has_one_row_per_option():
    rows = [line for line in config.options_markdown().splitlines() if line.startswith("| `--")]
    assert [row.split("`")[1][2:] for row in rows] == list(OPTIONS)


def test_resolve_jit_level():
    from mindcv.engine.context import resolve_jit_level

    assert resolve_jit_level(None, "Ascend") == "O0"  # MindSpore 2.10: O2 (GE) deprecated, O1 experimental
    assert resolve_jit_level(None, "CPU") == "O0"
    assert resolve_jit_level("O1", "Ascend") == "O1"
    assert resolve_jit_level("O2", "Ascend") == "O2"  # still honoured when asked for (with a deprecation line)


# --- the allowed values agree with the factories --------------------------------------------------

def _sources() -> str:
    """The code that reads options: the scripts (config.py's deprecated-key mapping included) and the package."""
    paths = [os.path.join(ROOT, f) for f in ("train.py", "validate.py", "infer.py", "export.py", "config.py")]
    for folder, _, files in os.walk(os.path.join(ROOT, "mindcv")):
        paths += [os.path.join(folder, f) for f in files if f.endswith(".py")]
    return "\n".join(open(p, encoding="utf-8").read() for p in paths)


def test_every_option_is_read():
    """Every option does something: some code reads ``args.<name>`` (MindCV's options included: none is accepted
    only to be ignored)."""
    import re

    code = _sources()
    read = set(re.findall(r"\bargs\.(\w+)", code)) | set(re.findall(r"getattr\(args, \"(\w+)\"", code))
    assert [name for name in OPTIONS if name not in read] == []
    assert not hasattr(config.Option("x", "int", 0, ""), "unused")  # no mechanism left for ignored options


def test_choices_are_the_factories_own():
    import mindcv.choices
    from mindcv.optim import OPTIMIZERS
    from mindcv.scheduler import SCHEDULERS
    assert OPTIONS["opt"].choices is OPTIMIZERS is mindcv.choices.OPTIMIZERS
    assert OPTIONS["scheduler"].choices is SCHEDULERS


def test_interpolations_exist_in_mindspore():
    from mindspore.dataset.vision import Inter
    for name in OPTIONS["interpolation"].choices:
        assert hasattr(Inter, name.upper()), name


# --- MindCV's mixnet recipes ---------------------------------------------------------------------

COMMON = dict(mode=0, distribute=True, val_while_train=True, dataset="imagenet", batch_size=128, image_resize=224,
              scale=(0.08, 1.0), ratio=(0.75, 1.333), hflip=0.5, interpolation="bicubic", re_prob=0.25,
              crop_pct=0.875, mixup=0.2, cutmix=1.0, num_classes=1000, epoch_size=600, amp_level="O3",
              loss="CE", label_smoothing=0.1, scheduler="cosine_decay", min_lr=1e-5, opt="momentum",
              momentum=0.9, weight_decay=2e-5, use_nesterov=False, weight_decay_filter="disable")
SPECIFIC = {
    "s": dict(model="mixnet_s", lr=0.2, warmup_epochs=15, decay_epochs=585, auto_augment="randaug-m9-mstd0.5",
              cutmix_prob=0.0, loss_scale=256.0, loss_scale_type="fixed", num_parallel_workers=8, drop_rate=None),
    "m": dict(model="mixnet_m", lr=0.2, warmup_epochs=15, decay_epochs=585, auto_augment="randaug-m9-mstd0.5",
              cutmix_prob=0.0, loss_scale=1024.0, loss_scale_type="fixed", num_parallel_workers=8, drop_rate=0.25),
    "l": dict(model="mixnet_l", lr=0.25, warmup_epochs=20, decay_epochs=580,
              auto_augment="randaug-m9-mstd0.5-inc1", cutmix_prob=1.0, loss_scale=16777216.0,
              loss_scale_type="dynamic", drop_overflow_update=True, num_parallel_workers=16, drop_rate=None),
}


@pytest.mark.parametrize("size", "sml")
def test_mindcv_recipes(size):
    args = parse_args(["-c", RECIPES[size]])
    for key, value in {**COMMON, **SPECIFIC[size]}.items():
        assert getattr(args, key) == value, key
    assert args.warmup_epochs + args.decay_epochs == args.epoch_size  # cosine reaches min_lr at the end


@pytest.mark.parametrize("size", "sml")
def test_recipes_use_only_known_keys(size):
    raw = yaml.safe_load(open(RECIPES[size], encoding="utf-8"))
    assert set(raw) <= set(OPTIONS)


def test_explicit_options_are_those_of_the_file_and_the_command_line(tmp_path):
    path = write_yaml(tmp_path, "lr: 0.1\nimage_resize: 96\n")
    args = parse_args(["-c", path, "--crop_pct=0.9"])
    assert args.explicit_options == ["crop_pct", "image_resize", "lr"]
    assert parse_args([]).explicit_options == []


def test_docs_options_is_the_generated_reference():
    with open(os.path.join(ROOT, "docs", "options.md"), encoding="utf-8") as f:
        assert f.read() == config.options_document(), "regenerate it: python config.py > docs/options.md"
