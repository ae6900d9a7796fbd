"""check_image_bytes: good files pass, empty / truncated / corrupt ones get a reason."""
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from mindcv.data.image_check import check_image_bytes, image_format


def _encode(fmt: str, mode: str = "RGB", **kwargs) -> bytes:
    """A 48x32 noisy image encoded as fmt."""
    pixels = np.random.default_rng(3).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt,mode,kwargs", [
    ("JPEG", "RGB", {}), ("JPEG", "RGB", {"progressive": True}), ("JPEG", "L", {}), ("JPEG", "CMYK", {}),
    ("JPEG", "RGB", {"optimize": True, "subsampling": 0}), ("PNG", "RGB", {}), ("PNG", "RGBA", {}),
    ("PNG", "P", {}), ("BMP", "RGB", {}),
])
def test_valid_images_pass(fmt, mode, kwargs):
    data = _encode(fmt, mode, **kwargs)
    assert check_image_bytes(data) is None
    assert image_format(data) == {"JPEG": "jpeg", "PNG": "png", "BMP": "bmp"}[fmt]


def test_empty_and_unknown_files():
    assert "empty" in check_image_bytes(b"")
    assert "signature" in check_image_bytes(b"GIF89a not supported here")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_are_reported(fmt):
    data = _encode(fmt)
    for cut in (len(data) // 3, len(data) - 3):
        assert "truncated" in check_image_bytes(data[:cut])


def _huffman_table_offset(data: bytes) -> int:
    """Offset of the first DHT segment's table counts."""
    return data.index(b"\xff\xc4") + 5


def test_damaged_huffman_table_is_rejected():
    # This damage kills the process (SIGSEGV/SIGABRT) inside MindSpore's native JPEG decoder.
    data = bytearray(_encode("JPEG"))
    offset = _huffman_table_offset(bytes(data))
    data[offset:offset + 16] = bytes([255] * 16)  # code lengths that overflow the code space
    assert "Huffman" in check_image_bytes(bytes(data))


def test_png_crc_mismatch_is_rejected():
    data = bytearray(_encode("PNG"))
    idat = data.index(b"IDAT")
    data[idat + 10] ^= 0xFF
    assert "CRC" in check_image_bytes(bytes(data))


def test_png_with_zero_size_is_rejected():
    header = struct.pack(">II5B", 0, 10, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    assert "size" in check_image_bytes(data)
