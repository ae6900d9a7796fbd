"""MobileNetV1/V2 with MixConv depthwise convs: published counts, hand-computed MixConv blocks, options, errors."""
import numpy as np
import pytest

import mindspore as ms
from mindspore import nn

from mindcv.models import create_model, list_models, mobilenet
from mindcv.models.layers.mixconv import MixConv2d
from mindcv.models.summary import count_macs, count_params


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


def _mixconvs(net: nn.Cell):
    return [cell for _, cell in net.cells_and_names() if isinstance(cell, MixConv2d)]


def _params(cell: nn.Cell) -> int:
    return count_params(cell)


# Published: MobileNetV1 4,231,976 trainable / 4,253,864 with BN statistics (Keras' MobileNet summary);
# MobileNetV2 3,504,872 (torchvision); multiply-adds 569M (V1 paper) and 300M (V2 paper).
def test_mobilenet_v1_published_counts():
    net = create_model("mobilenet_v1")
    assert count_params(net) == 4_231_976
    assert count_params(net, trainable_only=False) == 4_253_864
    assert abs(count_macs(net, (224, 224))["total"] - 569e6) / 569e6 < 0.005


def test_mobilenet_v2_published_counts():
    net = create_model("mobilenet_v2")
    assert count_params(net) == 3_504_872
    assert abs(count_macs(net, (224, 224))["total"] - 300e6) / 300e6 < 0.005


def test_v2_mixconv357_block_matches_hand_count():
    # layers[1]: 16 -> 24, expansion 6 (96 channels), stride 2.
    # expand 16*96 + BN 2*96 + dw + BN 2*96 + project 96*24 + BN 2*24 = 4272 + dw
    # MixConv357 equal split 32/32/32: 32*(9 + 25 + 49) = 2656; exponential 48/24/24: 48*9 + 24*25 + 24*49 = 2208
    equal = create_model("mobilenet_v2_mixconv357", num_classes=10).layers[1]
    exponential = create_model("mobilenet_v2_mixconv357", num_classes=10, partition="exponential").layers[1]
    vanilla = create_model("mobilenet_v2", num_classes=10).layers[1]
    assert _params(vanilla) == 4272 + 96 * 9
    assert _params(equal) == 4272 + 2656
    assert _params(exponential) == 4272 + 2208
    assert _mixconvs(equal)[0].split_channels == [32, 32, 32]
    assert _mixconvs(exponential)[0].split_channels == [48, 24, 24]


def test_v1_mixconv357_block_matches_hand_count():
    # layers[0]: 32 -> 64, stride 1. Equal split of 32 into 3: 10 each, remainder 2 to the first -> 12/10/10.
    # dw 12*9 + 10*25 + 10*49 = 848, BN 2*32, pointwise 32*64, BN 2*64
    block = create_model("mobilenet_v1_mixconv357").layers[0]
    assert _params(block) == 848 + 64 + 2048 + 128


@pytest.mark.parametrize("arch", ["v1", "v2"])
def test_mixconv_variant_total_follows_from_the_depthwise_convs(arch):
    vanilla = create_model(f"mobilenet_{arch}")
    mixed = create_model(f"mobilenet_{arch}_mixconv3579")
    extra = 0
    for block in vanilla.block_args:
        channels = block.in_chs * block.expand_ratio
        sizes = [channels // 4] * 4
        sizes[0] += channels - sum(sizes)
        extra += sum(c * k * k for c, k in zip(sizes, (3, 5, 7, 9))) - channels * 9
    assert count_params(mixed) - count_params(vanilla) == extra


@pytest.mark.parametrize("name,kernels,count", [
    ("mobilenet_v1", [3], 13), ("mobilenet_v1_dw9", [9], 13), ("mobilenet_v1_mixconv35", [3, 5], 13),
    ("mobilenet_v2_mixconv357", [3, 5, 7], 17), ("mobilenet_v2_dw5", [5], 17),
])
def test_every_depthwise_conv_is_the_requested_mixconv(name, kernels, count):
    net = create_model(name, num_classes=10)
    convs = _mixconvs(net)
    assert len(convs) == count
    assert all(conv.kernel_sizes == kernels for conv in convs)
    plain_grouped = [c for _, c in net.cells_and_names() if isinstance(c, nn.Conv2d) and c.group > 1
                     and c.kernel_size[0] not in kernels]
    assert not plain_grouped


def test_caller_kernels_override_the_named_variant():
    net = create_model("mobilenet_v2_mixconv357", num_classes=10, dw_kernels=[3, 5, 7, 9, 11])
    assert {tuple(c.kernel_sizes) for c in _mixconvs(net)} == {(3, 5, 7, 9, 11)}


def test_paper_claim_mixconv_cheaper_than_vanilla_large_kernels():
    for arch, mixed, large in (("v1", "mixconv357", "dw7"), ("v2", "mixconv3579", "dw9")):
        m, v = create_model(f"mobilenet_{arch}_{mixed}"), create_model(f"mobilenet_{arch}_{large}")
        assert count_params(m) < count_params(v)
        assert count_macs(m, (32, 32))["total"] < count_macs(v, (32, 32))["total"]


def test_dilated_mixconv_has_vanilla_parameters_and_same_output_size():
    net = create_model("mobilenet_v2_mixconv357", num_classes=10, dilated=True)
    convs = _mixconvs(net)
    assert all(c.kernel_sizes == [3, 3, 3] and c.dilations == [1, 2, 3] for c in convs)
    assert count_params(net) == count_params(create_model("mobilenet_v2", num_classes=10))
    net.set_train(False)
    out = net.forward_features(ms.Tensor(np.ones((1, 3, 64, 64), np.float32)))
    assert out.shape == (1, 1280, 2, 2)


def test_dilation_per_group():
    net = create_model("mobilenet_v1_mixconv35", num_classes=10, dilation=[1, 2])
    assert all(c.dilations == [1, 2] for c in _mixconvs(net))


def test_width_multiplier_rounds_channels_to_multiples_of_8():
    half = create_model("mobilenet_v2", width_multiplier=0.5)
    assert half.stem_conv[0].weight.shape[0] == 16
    assert [b.out_chs for b in half.block_args][:4] == [8, 16, 16, 16]  # 24 * 0.5 = 12 -> 16
    assert half.classifier.weight.shape == (1000, 1280)  # V2 keeps 1280 below width 1
    wide = create_model("mobilenet_v2", width_multiplier=1.4)
    assert wide.classifier.weight.shape == (1000, 1792)
    v1 = create_model("mobilenet_v1", width_multiplier=0.25)
    assert v1.classifier.weight.shape == (1000, 256)
    assert v1.stem_conv[0].weight.shape == (8, 3, 3, 3)


def test_v2_residuals_and_drop_path():
    net = create_model("mobilenet_v2", num_classes=10, drop_path_rate=0.2)
    blocks = list(net.layers)
    assert sum(b.residual for b in blocks) == 10
    rates = [1 - b.drop_path.keep_prob for b in blocks if b.drop_path is not None]
    assert len(rates) == 10 and rates == sorted(rates) and 0 < rates[0] < rates[-1] <= 0.2


@pytest.mark.parametrize("name", ["mobilenet_v1_mixconv357", "mobilenet_v2_mixconv3579"])
def test_forward_shapes_and_finite(name):
    ms.set_seed(0)
    net = create_model(name, num_classes=7, in_channels=1, drop_rate=0.0)
    x = ms.Tensor(np.random.default_rng(0).normal(size=(2, 1, 64, 64)).astype(np.float32))
    net.set_train(False)
    assert net(x).shape == (2, 7)
    net.set_train(True)  # batch statistics: activations of order 1 (the untrained running ones shrink them)
    out = net(x).asnumpy()
    assert np.isfinite(out).all()
    assert np.abs(out[0] - out[1]).max() > 1e-3 * np.abs(out).max()  # the two images give different logits


def test_training_step_lowers_the_loss():
    ms.set_seed(0)
    net = create_model("mobilenet_v2_mixconv357", num_classes=4, width_multiplier=0.35, drop_rate=0.0)
    loss_fn = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    step = nn.TrainOneStepCell(nn.WithLossCell(net, loss_fn), nn.Adam(net.trainable_params(), learning_rate=3e-3))
    step.set_train(True)
    rng = np.random.default_rng(0)
    x = ms.Tensor(rng.normal(size=(4, 3, 32, 32)).astype(np.float32))
    y = ms.Tensor(rng.integers(0, 4, 4).astype(np.int32))
    losses = [float(step(x, y).asnumpy()) for _ in range(4)]
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.5 * losses[0], losses


def test_registry_lists_the_named_variants():
    names = set(list_models("mobilenet_v2*"))
    assert {"mobilenet_v2", "mobilenet_v2_mixconv357", "mobilenet_v2_mixconv3579", "mobilenet_v2_dw9"} <= names
    assert mobilenet.mobilenet_v2_mixconv357.__name__ == "mobilenet_v2_mixconv357"
    assert "mobilenet_v2_mixconv357" in mobilenet.__all__


@pytest.mark.parametrize("kwargs,word", [
    ({"dw_kernels": [4]}, "dw_kernels"),
    ({"dw_kernels": []}, "dw_kernels"),
    ({"dw_kernels": "357"}, "dw_kernels"),
    ({"partition": "log"}, "partition"),
    ({"dw_kernels": [3, 5, 7], "dilation": [1, 2]}, "dilation"),
    ({"dilation": 0}, "dilation"),
    ({"width_multiplier": 0}, "width_multiplier"),
    ({"drop_rate": 1.0}, "drop_rate"),
    ({"num_classes": 0}, "num_classes"),
    ({"pretrained": True}, "no weights"),
])
def test_bad_options_are_value_errors_naming_the_argument(kwargs, word):
    with pytest.raises(ValueError, match=word):
        create_model("mobilenet_v2", **kwargs)


def test_v1_rejects_drop_path_and_unknown_arch():
    with pytest.raises(ValueError, match="drop_path_rate"):
        create_model("mobilenet_v1", drop_path_rate=0.1)
    with pytest.raises(ValueError, match="arch='v3'"):
        mobilenet.MobileNet(arch="v3")


def test_benchmark_table_script_prints_one_row_per_variant(capsys):
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "mixconv_table.py")
    spec = importlib.util.spec_from_file_location("mixconv_table", path)
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    assert table.main(["--archs", "v1", "--size", "32", "--runs", "1", "--warmup", "0", "--mode", "pynative"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| mobilenet_v1")]
    assert [r.split("|")[1].strip() for r in rows] == [f"mobilenet_v1{s}" for s in table.KERNEL_SETS]
    assert rows[0].split("|")[3].strip() == "4.232" and rows[0].split("|")[4].strip() == "+0.0 %"
    assert all(float(r.split("|")[4].strip().rstrip(" %")) > 0 for r in rows[1:])  # every variant adds parameters
