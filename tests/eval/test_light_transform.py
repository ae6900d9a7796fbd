"""The MindSpore-free pieces of infer.py's ONNX path: the NumPy eval transforms equal MindSpore's to the last bit
(bilinear and bicubic, down- and up-scaling, PNG / JPEG / BMP, grey, palette and alpha images), the image listing
and stdlib modules equal mindcv.data's, and metadata appended to an ONNX file is read by onnx and onnxruntime."""
import io
import os

import numpy as np
import pytest
from mindspore.dataset.transforms import Compose
from PIL import Image

from mindcv.data import create_transforms, image_files
from mindcv.data.constants import IMAGE_EXTENSIONS
from mindcv.data.imagenet_classes import imagenet_wnids
from mindcv.eval.light_data import IMAGE_EXTENSIONS as LIGHT_EXTENSIONS
from mindcv.eval.light_data import data_module, image_files_recursive
from mindcv.eval.light_transform import light_eval_transform, resize_uint8

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def encoded(pixels: np.ndarray, mode: str, fmt: str) -> np.ndarray:
    image = Image.fromarray(pixels).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return np.frombuffer(buffer.getvalue(), np.uint8)


CASES = [  # (height, width, image_resize, crop_pct, interpolation, mode, format)
    (40, 36, 32, 0.875, "bilinear", "RGB", "PNG"), (300, 401, 224, 0.875, "bicubic", "RGB", "JPEG"),
    (37, 90, 32, 1.0, "bilinear", "L", "PNG"), (90, 37, 24, 0.9, "bicubic", "P", "PNG"),
    (51, 336, 224, 0.875, "bicubic", "RGB", "BMP"), (20, 23, 48, 1.0, "bilinear", "RGBA", "PNG"),
    (481, 640, 64, 0.95, "bilinear", "L", "JPEG"), (33, 33, 16, 0.875, "bicubic", "RGBA", "PNG"),
]


@pytest.mark.parametrize("height,width,size,crop_pct,interpolation,mode,fmt", CASES)
def test_numpy_eval_transform_equals_mindspores(height, width, size, crop_pct, interpolation, mode, fmt):
    rng = np.random.default_rng(height * width)
    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    smooth = (np.cumsum(np.cumsum(rng.integers(0, 9, (height, width, 3)), 0), 1) % 256).astype(np.uint8)
    ours = light_eval_transform(size, crop_pct, interpolation, MEAN, STD)
    theirs = Compose(create_transforms("imagenet", image_resize=size, is_training=False, crop_pct=crop_pct,
                                       interpolation=interpolation, mean=MEAN, std=STD))
    for pixels in (noise, smooth):
        data = encoded(pixels, mode, fmt)
        expected = theirs(data)
        got = ours(data)
        assert got.dtype == np.float32 and got.shape == expected.shape == (3, size, size)
        assert np.array_equal(got, expected)


def test_resize_equals_mindspores_for_random_shapes():
    import mindspore.dataset.vision as vision
    from mindspore.dataset.vision import Inter

    rng = np.random.default_rng(0)
    for trial in range(24):
        source = rng.integers(0, 256, (int(rng.integers(5, 120)), int(rng.integers(5, 160)), 3), dtype=np.uint8)
        height, width = int(rng.integers(4, 200)), int(rng.integers(4, 200))
        for name, inter in (("bilinear", Inter.BILINEAR), ("bicubic", Inter.BICUBIC)):
            expected = vision.Resize((height, width), inter)(source)
            assert np.array_equal(resize_uint8(source, height, width, name), expected), (trial, name)


def test_other_interpolations_fall_back_to_mindspore():
    assert light_eval_transform(32, 0.875, "area", MEAN, STD) is None
    assert light_eval_transform(32, 0.875, "pilcubic", MEAN, STD) is None


def test_decode_failure_is_a_runtime_error_naming_decode():
    transform = light_eval_transform(32, 1.0, "bilinear", MEAN, STD)
    with pytest.raises(RuntimeError, match="decode"):
        transform(np.frombuffer(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, np.uint8))


def test_listing_and_stdlib_modules_are_mindcv_datas(tmp_path):
    assert LIGHT_EXTENSIONS == IMAGE_EXTENSIONS
    for rel in ("a/x.PNG", "a/.hidden.png", ".h/y.jpg", "b/c/z.jpeg", "b/notes.txt", "w.bmp"):
        os.makedirs(os.path.dirname(tmp_path / rel), exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    assert image_files_recursive(str(tmp_path)) == image_files(str(tmp_path), recursive=True)
    assert len(image_files_recursive(str(tmp_path))) == 3
    assert data_module("imagenet_classes").imagenet_wnids() == imagenet_wnids()
    assert data_module("image_check").check_image_bytes(b"not an image")
    with pytest.raises(ValueError):
        data_module("dataset_factory")


def test_metadata_appended_to_an_onnx_file_is_read_back(tmp_path):
    onnx = pytest.importorskip("onnx", reason="the onnx package builds the test model")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    from onnx import TensorProto, helper

    from mindcv.eval.onnx_runner import append_onnx_metadata

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 2, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = str(tmp_path / "m.onnx")
    onnx.save(model, path)
    props = {"image_resize": "32", "class_names": '["z\u00e9ro", "un"]', "long": "v" * 300}
    append_onnx_metadata(path, props)
    assert {p.key: p.value for p in onnx.load(path).metadata_props} == props
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert dict(session.get_modelmeta().custom_metadata_map) == props
