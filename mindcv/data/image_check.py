"""Cheap structural checks of encoded images, run before MindSpore's native decoder sees them.

Why: MindSpore 2.10's native JPEG decoder (``vision.Decode``, ``vision.RandomCropDecodeResize``)
kills the whole process (SIGSEGV / SIGABRT / SIGFPE) when libjpeg reports an error in a file's
headers, e.g. a damaged Huffman table, and a zero-byte or truncated file fails with an error that
does not name the file. These checks walk the container structure (JPEG markers and the header
fields libjpeg validates, PNG chunks and their CRCs, BMP header) without decoding pixels, in well
under a millisecond for an ImageNet JPEG, and return a reason string for a bad file. Damage inside
JPEG entropy-coded data is not detected here; libjpeg decodes such data with a warning.

Resource limits, checked before any pixel is decoded (the same in training, validation and infer.py): only
regular files are read (a device such as ``/dev/zero`` or a FIFO linked into a class folder is refused), files
above ``MAX_IMAGE_BYTES`` are not read, and an image whose header declares more than ``max_image_pixels()``
pixels (a decompression bomb: a 110 KB PNG can declare 30000 x 30000) is refused. The pixel limit is the
``max_image_pixels`` option of the scripts (``set_max_image_pixels`` from Python).
"""
import os
import re
import stat
import struct
import zlib
from typing import Dict, Optional, Set, Tuple

from ..choices import DEFAULT_MAX_IMAGE_PIXELS

__all__ = ["check_image_bytes", "image_format", "read_image_file", "max_image_pixels", "set_max_image_pixels",
           "DEFAULT_MAX_IMAGE_PIXELS", "MAX_IMAGE_BYTES"]

_JPEG_SOI = b"\xff\xd8"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# a marker that ends entropy-coded data: 0xFF followed by anything but stuffing, fill or RSTn
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_SOF_SUPPORTED = {0xC0, 0xC1, 0xC2}  # baseline, extended sequential, progressive Huffman
_SOF_UNSUPPORTED = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_MAX_JPEG_DIM = 65500
MAX_IMAGE_BYTES = 256 << 20  # a file above this is not read as one image
_limits = {"pixels": DEFAULT_MAX_IMAGE_PIXELS}


def max_image_pixels() -> int:
    """The largest number of pixels (width x height declared in the header) an image may have."""
    return _limits["pixels"]


def set_max_image_pixels(pixels: int) -> None:
    """Set the pixel limit of every image read from now on, in this process (validated: an integer >= 1)."""
    if isinstance(pixels, bool) or not isinstance(pixels, int) or pixels < 1:
        raise ValueError(f"max_image_pixels must be an integer >= 1, got {pixels!r}")
    _limits["pixels"] = pixels


def _pixel_limit_reason(width: int, height: int) -> Optional[str]:
    """Why an image of the declared size is refused (None: within the limit)."""
    limit = _limits["pixels"]
    if width * height <= limit:
        return None
    return (f"declared size {width}x{height} ({width * height:,} pixels) is above the limit of {limit:,} pixels "
            f"(a decompression bomb?); not decoded. Raise max_image_pixels to read it")


def _open_nonblocking(path: str, flags: int) -> int:
    """os.open for ``open(opener=...)``: a FIFO opens at once (and is then refused) instead of waiting for a writer."""
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def read_image_file(path: str) -> Tuple[Optional[bytes], Optional[str]]:
    """(encoded bytes, None) for a regular file of at most MAX_IMAGE_BYTES that passes ``check_image_bytes``,
    else (None, reason). Never blocks on a FIFO nor reads a device."""
    try:
        with open(path, "rb", opener=_open_nonblocking) as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                return None, "not a regular file (a device, FIFO or socket); only regular files are read"
            if info.st_size > MAX_IMAGE_BYTES:
                return None, (f"file of {info.st_size:,} bytes is larger than the {MAX_IMAGE_BYTES:,}-byte limit "
                              f"of one image")
            data = f.read(MAX_IMAGE_BYTES + 1)
    except OSError as err:
        return None, f"cannot read file ({err.strerror or err})"
    reason = check_image_bytes(data)
    return (None, reason) if reason else (data, None)


def image_format(data: bytes) -> Optional[str]:
    """'jpeg', 'png' or 'bmp' from the file signature, None for anything else."""
    if data[:2] == _JPEG_SOI:
        return "jpeg"
    if data[:8] == _PNG_SIGNATURE:
        return "png"
    if data[:2] == b"BM":
        return "bmp"
    return None


def check_image_bytes(data: bytes) -> Optional[str]:
    """None when the encoded image looks decodable, else a short reason (e.g. 'truncated JPEG')."""
    if len(data) == 0:
        return "empty file (0 bytes)"
    fmt = image_format(data)
    if fmt == "jpeg":
        return _check_jpeg(data)
    if fmt == "png":
        return _check_png(data)
    if fmt == "bmp":
        return _check_bmp(data)
    return "not a JPEG, PNG or BMP image (unknown file signature)"


class _JpegState:
    """What the marker walk has seen so far."""

    def __init__(self) -> None:
        self.components: Dict[int, int] = {}  # component id -> quantisation table id
        self.quant_tables: Set[int] = set()
        self.huff_tables: Set[tuple] = set()  # (class, id), class 0 = DC, 1 = AC
        self.sof: Optional[int] = None
        self.progressive = False
        self.scans = 0


def _check_jpeg(data: bytes) -> Optional[str]:
    """Walk the JPEG markers to EOI, validating what libjpeg would reject with an error."""
    state = _JpegState()
    pos, n = 2, len(data)
    while True:
        pos = data.find(b"\xff", pos)  # bytes before a marker are a libjpeg warning, not an error
        if pos < 0 or pos + 1 >= n:
            return "truncated JPEG (no end-of-image marker)"
        while pos + 1 < n and data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        if pos + 1 >= n:
            return "truncated JPEG (no end-of-image marker)"
        marker = data[pos + 1]
        pos += 2
        if marker == 0xD9:  # EOI
            if state.scans == 0:
                return "JPEG has no image data (end-of-image before any scan)"
            return None
        if marker == 0x01 or 0xD0 <= marker <= 0xD7 or marker == 0x00:
            continue  # standalone markers (TEM, RSTn) and stray stuffing
        if pos + 2 > n:
            return "truncated JPEG (segment header cut off)"
        length = struct.unpack(">H", data[pos:pos + 2])[0]
        if length < 2:
            return f"corrupt JPEG (segment 0xFF{marker:02X} has length {length})"
        if pos + length > n:
            return "truncated JPEG (segment cut off)"
        body = data[pos + 2:pos + length]
        reason = _check_jpeg_segment(marker, body, state)
        if reason is not None:
            return reason
        pos += length
        if marker == 0xDA:  # entropy-coded data follows the scan header: skip to the next marker
            match = _NEXT_MARKER.search(data, pos)
            if match is None:
                return "truncated JPEG (image data cut off, no end-of-image marker)"
            pos = match.start()


def _check_jpeg_segment(marker: int, body: bytes, state: _JpegState) -> Optional[str]:
    """Validate one marker segment's body; None when fine."""
    if marker in _SOF_SUPPORTED:
        return _check_sof(marker, body, state)
    if marker in _SOF_UNSUPPORTED:
        return f"unsupported JPEG coding (SOF marker 0xFF{marker:02X}: lossless, hierarchical or arithmetic)"
    if marker == 0xC4:
        return _check_dht(body, state)
    if marker == 0xDB:
        return _check_dqt(body, state)
    if marker == 0xDA:
        return _check_sos(body, state)
    if marker == 0xDD:
        return None if len(body) == 2 else "corrupt JPEG (bad restart-interval segment)"
    if 0xE0 <= marker <= 0xEF or marker == 0xFE:
        return None  # APPn, COM: skipped by libjpeg
    if marker == 0xDC:
        return "unsupported JPEG (DNL marker)"
    return f"corrupt JPEG (unknown marker 0xFF{marker:02X})"


def _check_sof(marker: int, body: bytes, state: _JpegState) -> Optional[str]:
    """Frame header: precision, size, components and their sampling factors."""
    if state.sof is not None:
        return "corrupt JPEG (two frame headers)"
    if len(body) < 6:
        return "corrupt JPEG (frame header too short)"
    precision, height, width, ncomp = struct.unpack(">BHHB", body[:6])
    if precision != 8:
        return f"unsupported JPEG sample precision {precision} (only 8-bit)"
    if not (0 < height <= _MAX_JPEG_DIM and 0 < width <= _MAX_JPEG_DIM):
        return f"corrupt JPEG (image size {width}x{height})"
    too_large = _pixel_limit_reason(width, height)
    if too_large:
        return too_large
    if ncomp not in (1, 3, 4) or len(body) != 6 + 3 * ncomp:
        return f"corrupt JPEG (frame header with {ncomp} components)"
    h_factors, v_factors = [], []
    for i in range(ncomp):
        cid, sampling, qtable = body[6 + 3 * i:9 + 3 * i]
        h, v = sampling >> 4, sampling & 15
        if not (1 <= h <= 4 and 1 <= v <= 4) or qtable > 3 or cid in state.components:
            return "corrupt JPEG (bad component in frame header)"
        state.components[cid] = qtable
        h_factors.append(h)
        v_factors.append(v)
    if any(max(h_factors) % h or max(v_factors) % v for h, v in zip(h_factors, v_factors)):
        return "unsupported JPEG (fractional chroma sampling)"
    state.sof = marker
    state.progressive = marker == 0xC2
    return None


def _check_dht(body: bytes, state: _JpegState) -> Optional[str]:
    """Huffman tables: ids, symbol counts and a code space that does not overflow."""
    pos = 0
    while pos < len(body):
        if pos + 17 > len(body):
            return "corrupt JPEG (Huffman table cut off)"
        tclass, tid = body[pos] >> 4, body[pos] & 15
        counts = body[pos + 1:pos + 17]
        total = sum(counts)
        if tclass > 1 or tid > 3 or total > 256 or pos + 17 + total > len(body):
            return "corrupt JPEG (bad Huffman table)"
        code = 0
        for bits, count in enumerate(counts, start=1):
            code += count
            if code >= (1 << bits):  # libjpeg also rejects the all-ones code
                return "corrupt JPEG (bad Huffman table code lengths)"
            code <<= 1
        symbols = body[pos + 17:pos + 17 + total]
        if tclass == 0 and any(s > 15 for s in symbols):
            return "corrupt JPEG (bad DC Huffman table symbol)"
        state.huff_tables.add((tclass, tid))
        pos += 17 + total
    return None


def _check_dqt(body: bytes, state: _JpegState) -> Optional[str]:
    """Quantisation tables: precision, id and length."""
    pos = 0
    while pos < len(body):
        precision, tid = body[pos] >> 4, body[pos] & 15
        size = 64 * (precision + 1)
        if precision > 1 or tid > 3 or pos + 1 + size > len(body):
            return "corrupt JPEG (bad quantisation table)"
        state.quant_tables.add(tid)
        pos += 1 + size
    return None


def _check_sos(body: bytes, state: _JpegState) -> Optional[str]:
    """Scan header: frame seen, known components, defined tables, valid spectral selection."""
    if state.sof is None:
        return "corrupt JPEG (scan before frame header)"
    if any(q not in state.quant_tables for q in state.components.values()):
        return "corrupt JPEG (missing quantisation table)"
    if len(body) < 1:
        return "corrupt JPEG (scan header too short)"
    ns = body[0]
    if not 1 <= ns <= 4 or len(body) != 4 + 2 * ns:
        return "corrupt JPEG (bad scan header)"
    ss, se, approx = body[1 + 2 * ns], body[2 + 2 * ns], body[3 + 2 * ns]
    ah, al = approx >> 4, approx & 15
    if state.progressive:
        if ss > se or se > 63 or (ss == 0 and se != 0) or ah > 13 or al > 13 or (ss > 0 and ns != 1):
            return "corrupt JPEG (bad progressive scan parameters)"
    for i in range(ns):
        cid, tables = body[1 + 2 * i], body[2 + 2 * i]
        if cid not in state.components:
            return "corrupt JPEG (scan names an unknown component)"
        dc, ac = tables >> 4, tables & 15
        needs_dc = ss == 0 and ah == 0
        needs_ac = se > 0 if state.progressive else True
        if (needs_dc and (0, dc) not in state.huff_tables) or (needs_ac and (1, ac) not in state.huff_tables):
            return "corrupt JPEG (scan uses an undefined Huffman table)"
    state.scans += 1
    return None


def _check_png(data: bytes) -> Optional[str]:
    """Walk PNG chunks: IHDR first and sane, every CRC right, IEND present."""
    pos, n, first = 8, len(data), True
    while True:
        if pos + 12 > n:
            return "truncated PNG (no IEND chunk)"
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        if pos + 12 + length > n:
            return "truncated PNG (chunk cut off)"
        chunk = data[pos + 4:pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        if zlib.crc32(chunk) & 0xFFFFFFFF != crc:
            return f"corrupt PNG (CRC mismatch in chunk {ctype!r})"
        if first:
            if ctype != b"IHDR" or length != 13:
                return "corrupt PNG (first chunk is not IHDR)"
            width, height = struct.unpack(">II", chunk[4:12])
            if width == 0 or height == 0:
                return f"corrupt PNG (image size {width}x{height})"
            too_large = _pixel_limit_reason(width, height)
            if too_large:
                return too_large
            first = False
        if ctype == b"IEND":
            return None
        pos += 12 + length


def _check_bmp(data: bytes) -> Optional[str]:
    """BMP: header present and the declared pixel data inside the file."""
    if len(data) < 26:
        return "truncated BMP (header cut off)"
    file_size, _, offset, header_size = struct.unpack("<IIiI", data[2:18])
    if offset <= 0 or offset >= len(data) or (file_size and file_size > len(data)):
        return "truncated BMP (pixel data cut off)"
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        width, height = struct.unpack("<HH", data[18:22])
    else:
        width, height = struct.unpack("<ii", data[18:26])
    return _pixel_limit_reason(abs(width), abs(height))  # a negative height means rows stored top-down
