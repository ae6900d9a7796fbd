"""FeatureExtractor / create_features: maps at strides 4, 8, 16, 32 for MixNet and the MobileNets."""
import numpy as np
import pytest

import mindspore as ms
from mindspore import nn

from mindcv.models import create_model
from mindcv.models import mobilenet  # noqa: F401  (registers the MobileNets)
from mindcv.models import create_features
from mindcv.models.features import FeatureExtractor, stage_feature_info


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    yield
    ms.set_context(mode=ms.PYNATIVE_MODE)


def _images(size: int, batch: int = 1) -> ms.Tensor:
    return ms.Tensor(np.random.default_rng(0).normal(size=(batch, 3, size, size)).astype(np.float32))


def _manual_features(model: nn.Cell, x: ms.Tensor, indices) -> list:
    """The block outputs at ``indices``, computed directly from the model's cells."""
    y, out = model.stem_conv(x), []
    for i in range(max(indices) + 1):
        y = model.layers[i](y)
        if i in indices:
            out.append(y.asnumpy())
    return out


@pytest.mark.parametrize("name,channels", [
    ("mixnet_s", [24, 40, 120, 200]),
    ("mobilenet_v2", [24, 32, 96, 320]),
])
def test_four_maps_at_strides_4_to_32_for_224(name, channels):
    features = create_features(name)
    assert features.out_channels == channels
    assert features.reductions == [4, 8, 16, 32]
    features.set_train(False)
    maps = features(_images(224))
    assert [tuple(m.shape) for m in maps] == [(1, c, s, s) for c, s in zip(channels, (56, 28, 14, 7))]


def test_mixnet_levels_come_from_block_args():
    model = create_model("mixnet_m")
    info = FeatureExtractor(model).feature_info
    strides = [b.stride for b in model.block_args]
    for level in info:
        i = level["index"]
        assert 2 * np.prod(strides[:i + 1]) == level["reduction"]
        assert i + 1 == len(strides) or strides[i + 1] == 2  # the last block before the next stride change
        assert level["num_chs"] == model.block_args[i].out_chs
    assert [lvl["num_chs"] for lvl in info] == [32, 40, 120, 200]


def test_maps_equal_the_model_blocks_and_parameters_keep_their_names():
    model = create_model("mobilenet_v2_mixconv357", num_classes=10)
    model.set_train(False)
    names_before = [p.name for p in model.get_parameters()]
    features = FeatureExtractor(model, out_indices=(1, 3))
    features.set_train(False)
    x = _images(64, batch=2)
    got = [m.asnumpy() for m in features(x)]
    want = _manual_features(model, x, [5, 16])
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert [p.name for p in model.get_parameters()] == names_before  # wrapping renames nothing
    own = {p.name for p in features.get_parameters()}
    assert own <= set(names_before)
    assert not any(n.startswith(("head_conv", "classifier")) for n in own)


def test_blocks_after_the_deepest_level_are_left_out():
    model = create_model("mobilenet_v1", num_classes=10)
    features = FeatureExtractor(model, out_indices=(0,))
    assert len(features.layers) == 3  # blocks 0..2 end at stride 4
    assert {p.name.split(".")[1] for p in features.trainable_params() if p.name.startswith("layers")} == {"0", "1", "2"}
    assert features(_images(64))[0].shape == (1, 128, 16, 16)


def test_classification_checkpoint_loads_into_the_extractor(tmp_path):
    ms.set_seed(1)
    trained = create_model("mixnet_s", num_classes=10)
    path = str(tmp_path / "mixnet_s.ckpt")
    ms.save_checkpoint(trained, path)
    ms.set_seed(2)
    features = create_features("mixnet_s", out_indices=(-1,), num_classes=10)
    not_loaded, _ = ms.load_param_into_net(features, ms.load_checkpoint(path))
    assert not not_loaded
    trained.set_train(False)
    features.set_train(False)
    x = _images(64)
    np.testing.assert_array_equal(features(x)[0].asnumpy(), _manual_features(trained, x, [15])[0])


def test_graph_mode_matches_pynative():
    model = create_model("mobilenet_v1_mixconv35", num_classes=10, width_multiplier=0.25)
    features = FeatureExtractor(model, out_indices=(0, 2))
    features.set_train(False)
    x = _images(64)
    eager = [m.asnumpy() for m in features(x)]
    ms.set_context(mode=ms.GRAPH_MODE)
    graph = [m.asnumpy() for m in features(x)]
    assert [g.shape for g in graph] == [(1, 32, 16, 16), (1, 128, 4, 4)]
    for g, e in zip(graph, eager):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


def test_create_features_forwards_model_options():
    features = create_features("mobilenet_v2", out_indices=[2, 3], width_multiplier=0.5)
    assert features.out_channels == [48, 160]
    assert features.reductions == [16, 32]
    assert [lvl["index"] for lvl in features.feature_info] == [12, 16]


def test_stage_feature_info_picks_the_last_block_per_stride():
    info = stage_feature_info([1, 2, 1, 2, 2, 1, 2], [8, 16, 16, 24, 32, 32, 64])
    assert [(lvl["index"], lvl["reduction"], lvl["num_chs"]) for lvl in info] == \
           [(2, 4, 16), (3, 8, 24), (5, 16, 32), (6, 32, 64)]
    with pytest.raises(ValueError, match="reductions"):
        stage_feature_info([1, 2, 2], [8, 16, 24])


@pytest.mark.parametrize("out_indices", [(0, 4), (2, 1), (1, 1), 3, [], ("a",), (True,)])
def test_bad_out_indices_are_value_errors(out_indices):
    with pytest.raises(ValueError, match="out_indices"):
        FeatureExtractor(create_model("mobilenet_v1", num_classes=10), out_indices=out_indices)


def test_models_without_stages_are_rejected():
    with pytest.raises(ValueError, match="stem_conv"):
        FeatureExtractor(nn.Dense(3, 4))


def test_create_model_features_only_returns_the_backbone():
    from mindcv.models import create_model

    backbone = create_model("mobilenet_v2", features_only=True, out_indices=(1, 2, 3))
    assert backbone.reductions == [8, 16, 32]
    assert backbone.out_channels == [32, 96, 320]
