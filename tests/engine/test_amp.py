"""Mixed precision by MindCV's rules: amp_level O1 casts the white list's cells (MindSpore's, or amp_cast_list's) to
float16, O2 keeps the black list's cells in float32, O3 casts everything; a cell matches by isinstance (this
package's Conv2d and BatchNorm2d subclass MindSpore's); parameter names never change. PyNative, 32x32 inputs."""
import numpy as np
import pytest

import mindspore as ms
from mindspore import Tensor, nn

import config
from mindcv.engine.amp import CastOutput, apply_amp, cast_list_classes
from mindcv.engine.build import build_model
from mindcv.models import create_model
from mindcv.utils.cli import ConfigError

FP16, FP32 = "MixedPrecisionType.FP16", "MixedPrecisionType.FP32"


@pytest.fixture(scope="module", autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


def _model():
    return create_model("mixnet_s", num_classes=10, mixconv_impl="split")


def _precisions(model, kinds):
    """{precision: number of cells} of the cells of ``kinds``, and the classes of the cells wrapped by CastOutput."""
    found = {}
    for _, cell in model.cells_and_names():
        if isinstance(cell, kinds):
            key = str(cell.get_mixed_precision_type())
            found[key] = found.get(key, 0) + 1
    wrapped = {kind.__name__ for _, cell in model.cells_and_names() if isinstance(cell, CastOutput)
               for kind in (nn.Conv2d, nn.Dense, nn.BatchNorm2d) if isinstance(cell.cell, kind)}
    return found, wrapped


def _count(model, kinds) -> int:
    return sum(isinstance(c, kinds) for _, c in model.cells_and_names())


def test_o1_casts_the_white_list_cells_subclasses_included():
    model = _model()
    convs, dense = _count(model, nn.Conv2d), _count(model, nn.Dense)
    names = [p.name for p in model.get_parameters()]
    assert apply_amp(model, "O1") is model  # in place
    assert [p.name for p in model.get_parameters()] == names  # checkpoints load as before
    precisions, wrapped = _precisions(model, (nn.Conv2d, nn.Dense))
    assert precisions == {FP16: convs + dense} and convs > 20  # MindSpore 2.10's own O1 left all of them in fp32
    assert _precisions(model, nn.BatchNorm2d)[0] == {"MixedPrecisionType.NOTSET": _count(model, nn.BatchNorm2d)}
    assert wrapped == {"Conv2d", "Dense"}


class _Dense(nn.Dense):
    """A subclass, as this package's layers subclass MindSpore's."""


class _Tiny(nn.Cell):
    """conv -> BN -> ReLU -> pool -> dense, with a SequentialCell as MixNet has."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.SequentialCell([nn.Conv2d(3, 8, 3, has_bias=True), nn.BatchNorm2d(8), nn.ReLU()])
        self.classifier = _Dense(8, 5)

    def construct(self, x):
        return self.classifier(self.features(x).mean(axis=(2, 3)))


def test_o1_with_amp_cast_list_casts_only_those_cells_and_computes_so():
    """The O1 [nn.Dense] network's output is the float32 network's features through the classifier in float16."""
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
    net = _Tiny()
    net.set_train(False)
    features = net.features(x).mean(axis=(2, 3)).asnumpy()
    expected32 = net(x).asnumpy()
    weight, bias = net.classifier.weight.asnumpy(), net.classifier.bias.asnumpy()
    apply_amp(net, "O1", cast_list=cast_list_classes("[nn.Dense]"))
    assert str(net.features[0].get_mixed_precision_type()) == "MixedPrecisionType.NOTSET"
    assert isinstance(net.classifier, CastOutput) and isinstance(net.classifier.cell, _Dense)
    out = net(x)
    assert out.dtype == ms.float32  # the cast cell's output comes back in float32
    half = (features.astype(np.float16).astype(np.float32) @ weight.astype(np.float16).astype(np.float32).T
            + bias.astype(np.float16).astype(np.float32))
    np.testing.assert_allclose(out.asnumpy(), half, rtol=2e-3, atol=2e-3)
    assert not np.array_equal(out.asnumpy(), expected32)


def test_o1_with_amp_cast_list_in_mixnet():
    model = _model()
    apply_amp(model, "O1", cast_list=cast_list_classes("[nn.Dense]"))
    assert _precisions(model, nn.Dense) == ({FP16: 1}, {"Dense"})
    assert FP16 not in _precisions(model, nn.Conv2d)[0]


def test_o2_keeps_the_black_list_in_float32():
    model = _model()
    bns = _count(model, nn.BatchNorm2d)
    apply_amp(model, "O2")  # MindSpore's black list: the BatchNorm layers
    assert _precisions(model, nn.BatchNorm2d)[0] == {FP32: bns}
    assert _precisions(model, nn.Dense)[0] == {FP16: 1}
    model = _model()
    apply_amp(model, "O2", cast_list=cast_list_classes("[nn.Dense]"))  # amp_cast_list replaces the black list
    assert _precisions(model, nn.BatchNorm2d)[0] == {FP16: bns}
    assert _precisions(model, nn.Dense)[0] == {FP32: 1} and _precisions(model, nn.Dense)[1] == {"Dense"}


def test_o3_and_o0():
    model = _model()
    apply_amp(model, "O3", cast_list=cast_list_classes("[nn.Dense]"))  # no list at O3 (MindCV: no effect)
    assert _precisions(model, (nn.Dense, nn.BatchNorm2d))[0] == {FP16: 1 + _count(model, nn.BatchNorm2d)}
    model = _model()
    apply_amp(model, "O0", cast_list=cast_list_classes("[nn.Dense]"))
    assert _precisions(model, nn.Dense)[0] == {"MixedPrecisionType.NOTSET": 1}


def test_build_model_applies_amp_cast_list():
    args = config.parse_args(["--amp_level", "O1", "--amp_cast_list", "[nn.Dense]", "--mixconv_impl", "split",
                              "--image_resize", "32"])
    model = build_model(args, 10)
    assert _precisions(model, nn.Dense)[0] == {FP16: 1} and FP16 not in _precisions(model, nn.Conv2d)[0]


@pytest.mark.parametrize("value,expected", [
    ("[nn.Conv2d, nn.Dense]", "[nn.Conv2d, nn.Dense]"), ("nn.Dense", "[nn.Dense]"), ("(nn.Dense,)", "[nn.Dense]"),
    ("[mindspore.nn.BatchNorm2d]", "[nn.BatchNorm2d]"), (["nn.Conv2d", "nn.Conv2d"], "[nn.Conv2d]"),
])
def test_accepted_forms_are_kept_in_mindcv_form(tmp_path, value, expected):
    path = tmp_path / "r.yaml"
    path.write_text(f"amp_cast_list: {value!r}\n" if isinstance(value, str) else f"amp_cast_list: {value}\n")
    assert config.parse_args(["-c", str(path)]).amp_cast_list == expected


@pytest.mark.parametrize("value", ["os.system('x')", "[nn.Dense, print]", "[]", "nn.", "3", "[nn.Dense nn.Conv2d]"])
def test_bad_forms_are_one_line_errors(value):
    with pytest.raises(ConfigError) as err:
        config.parse_args(["--amp_level", "O2", "--amp_cast_list", value])
    assert "\n" not in str(err.value) and "option 'amp_cast_list' expects a list of mindspore.nn cell classes" in str(
        err.value)


def test_names_that_are_no_cell_or_match_nothing_are_errors():
    with pytest.raises(ConfigError, match="mindspore.nn has no cell class 'Nothing'"):
        cast_list_classes("[nn.Nothing]")
    with pytest.raises(ConfigError, match="mindspore.nn has no cell class 'get_activation'"):
        cast_list_classes("[nn.get_activation]")  # a function of mindspore.nn
    with pytest.raises(ConfigError, match=r"the network has no cell of \[nn.LSTM\]"):
        apply_amp(_model(), "O2", cast_list=cast_list_classes("[nn.LSTM]"))


def test_a_list_without_effect_at_o3_is_said(caplog):
    config.parse_args(["--amp_level", "O3", "--amp_cast_list", "[nn.Dense]"])
    assert "amp_cast_list [nn.Dense] has no effect with amp_level O3" in caplog.text
    caplog.clear()
    config.parse_args(["--amp_level", "O2", "--amp_cast_list", "[nn.Dense]"])
    assert "amp_cast_list" not in caplog.text
