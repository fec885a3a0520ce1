"""The hand-rolled PNG writer: every filter/level decodes back to the same pixels."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from uploads.dicom import png


def decode(data: bytes) -> tuple[np.ndarray, str]:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return np.asarray(img), img.mode


def images() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    ramp = np.tile(np.arange(256, dtype=np.uint8), (37, 1))
    return [
        rng.integers(0, 256, (61, 83), dtype=np.uint8),
        ramp,
        rng.integers(0, 256, (17, 29, 3), dtype=np.uint8),
        np.zeros((1, 1), np.uint8),
        np.full((1, 5, 3), 255, np.uint8),
    ]


@pytest.mark.parametrize("filter_type", [png.FILTER_NONE, png.FILTER_SUB, png.FILTER_UP])
@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_round_trip(filter_type: int, level: int) -> None:
    for image in images():
        data = png.encode_png(image, level=level, filter_type=filter_type)
        out, mode = decode(data)
        assert mode == ("L" if image.ndim == 2 else "RGB")
        np.testing.assert_array_equal(out, image)


def test_stdlib_zlib_backend_round_trips() -> None:
    image = images()[0]
    data = png.encode_png(image, compress=png.compress_stdlib)
    np.testing.assert_array_equal(decode(data)[0], image)


def test_datastream_structure_and_crcs() -> None:
    data = png.encode_png(images()[2])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, kinds = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        kinds.append(kind)
        pos += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (width, height, depth, colour) == (29, 17, 8, 2)


def test_filter_up_rows() -> None:
    image = np.array([[1, 2], [5, 1]], np.uint8)
    raw = png.filter_scanlines(image, png.FILTER_UP)
    assert raw == bytes([2, 1, 2, 2, 4, 255])  # 1 - 2 wraps to 255


def test_rejects_wrong_input() -> None:
    with pytest.raises(ValueError):
        png.encode_png(np.zeros((4, 4), np.uint16))
    with pytest.raises(ValueError):
        png.encode_png(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ValueError):
        png.encode_png(np.zeros((0, 4), np.uint8))
    with pytest.raises(ValueError):
        png.encode_png(np.zeros((4, 4), np.uint8), filter_type=4)
