"""Resource limits of image reading (issue 26): the declared size is checked from the header before decoding
(JPEG, PNG, BMP; a settable limit), only regular files are read, large files are not, and a symlink loop in a
class folder is not followed."""
import io
import os
import struct
import threading
import zlib

import numpy as np
import pytest
from PIL import Image

from mindcv.data import image_files
from mindcv.data import image_check
from mindcv.data.image_check import (DEFAULT_MAX_IMAGE_PIXELS, check_image_bytes, max_image_pixels, read_image_file,
                                     set_max_image_pixels)


@pytest.fixture(autouse=True)
def default_limit():
    set_max_image_pixels(DEFAULT_MAX_IMAGE_PIXELS)
    yield
    set_max_image_pixels(DEFAULT_MAX_IMAGE_PIXELS)


def png_header_only(width, height):
    """A PNG declaring width x height whose chunks are all valid (no pixel data needed to be refused)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def encoded(fmt, size=(40, 30)):
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8)).save(buffer, fmt)
    return buffer.getvalue()


def with_jpeg_size(data, width, height):
    """A JPEG whose frame header declares another size (the scan data is left as it is)."""
    data = bytearray(data)
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def with_bmp_size(data, width, height):
    data = bytearray(data)
    data[18:26] = struct.pack("<ii", width, -height)  # negative height: rows top-down
    return bytes(data)


def test_the_default_limit_refuses_a_declared_30000_square_in_every_format():
    assert max_image_pixels() == DEFAULT_MAX_IMAGE_PIXELS == 100_000_000
    bombs = {"png": png_header_only(30000, 30000), "jpeg": with_jpeg_size(encoded("JPEG"), 30000, 30000),
             "bmp": with_bmp_size(encoded("BMP"), 30000, 30000)}
    for name, data in bombs.items():
        reason = check_image_bytes(data)
        assert reason and reason.startswith("declared size 30000x30000 (900,000,000 pixels) is above the limit of "
                                             "100,000,000 pixels"), (name, reason)
    assert check_image_bytes(png_header_only(10000, 10000)) is None  # exactly at the limit: read
    for fmt in ("JPEG", "PNG", "BMP"):
        assert check_image_bytes(encoded(fmt)) is None


def test_the_limit_is_settable_and_checked():
    set_max_image_pixels(40 * 30 - 1)
    assert "above the limit of 1,199 pixels" in check_image_bytes(encoded("PNG"))
    set_max_image_pixels(40 * 30)
    assert check_image_bytes(encoded("PNG")) is None
    for bad in (0, -1, 1.5, True, "100"):
        with pytest.raises(ValueError, match="max_image_pixels must be an integer >= 1"):
            set_max_image_pixels(bad)


def test_only_regular_files_of_bounded_size_are_read(tmp_path, monkeypatch):
    good = tmp_path / "good.png"
    good.write_bytes(encoded("PNG"))
    assert read_image_file(str(good)) == (good.read_bytes(), None)
    os.symlink("/dev/zero", tmp_path / "zero.png")
    assert read_image_file(str(tmp_path / "zero.png"))[1].startswith("not a regular file")
    os.mkfifo(tmp_path / "fifo.png")  # opening a FIFO for reading would wait for a writer
    reader = threading.Thread(target=lambda: setattr(reader, "result", read_image_file(str(tmp_path / "fifo.png"))))
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive() and reader.result[1].startswith("not a regular file")
    size = good.stat().st_size
    monkeypatch.setattr(image_check, "MAX_IMAGE_BYTES", size - 1)
    assert read_image_file(str(good))[1] == (f"file of {size:,} bytes is larger than the {size - 1:,}-byte limit of "
                                             f"one image")
    assert read_image_file(str(tmp_path / "missing.png"))[1] == "cannot read file (No such file or directory)"


def test_a_symlink_loop_in_a_class_folder_is_not_followed(tmp_path):
    folder = tmp_path / "a"
    (folder / "sub").mkdir(parents=True)
    for name in ("x.png", "sub/y.png"):
        (folder / name).write_bytes(encoded("PNG"))
    os.symlink(".", folder / "loop")
    os.symlink("..", folder / "sub" / "up")
    os.symlink(str(folder / "sub"), folder / "alias")  # the same folder twice: listed once
    found = image_files(str(folder), recursive=True)
    assert [os.path.realpath(p) for p in found] == [str(folder / "sub" / "y.png"), str(folder / "x.png")]
