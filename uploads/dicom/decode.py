"""Decode a JPEG 2000 frame at a reduced resolution when only a smaller image is shown.

A JPEG 2000 codestream (ISO/IEC 15444-1, used by DICOM for JPEG 2000 and HTJ2K, PS3.5
A.4.4 and A.4.11-A.4.13) is a wavelet pyramid: after ``N`` decomposition levels the
image at ``1/2**r`` of its size (``0 <= r <= N``) is the low-pass band of level ``r``,
and a decoder can reconstruct it without decoding the code-blocks of the finer levels
(ISO/IEC 15444-1 B.5, "resolution levels"). Rendering a 1024² slice into a 512-pixel
viewport therefore needs only a quarter of the entropy decoding.

The reduced image is a low-pass (wavelet) reduction of the full image, not a sample of
it; the renderer still resizes it to the requested size afterwards, so the result
differs from "full decode, then resize" only by the difference between two low-pass
filters (measured in ``tests/dicom/test_decode_reduced.py``).

Pillow's JPEG 2000 plugin (OpenJPEG) is used because it exposes the resolution factor
(``Image.reduce``); pylibjpeg-openjpeg 2.6 does not. Pillow returns samples of more
than 8 bits as ``I;16`` shifted left to 16 bits, and signed samples offset by
``2**(precision-1)``; :func:`decode_reduced` undoes both exactly (checked bit for bit
against pylibjpeg-openjpeg at full resolution in the tests).

Plain Python + numpy + Pillow; every function returns ``None`` (never raises) when the
reduced path does not apply, so the caller falls back to a full decode.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

__all__ = ["Codestream", "decode_reduced", "parse_codestream", "reduction_for"]

#: Marker codes, ISO/IEC 15444-1 Table A.2.
_SOC, _SIZ, _COD, _SOT, _SOD = 0xFF4F, 0xFF51, 0xFF52, 0xFF90, 0xFF93

#: Photometric interpretations whose decoded JPEG 2000 samples are used as they are:
#: greyscale, and colour that the decoder returns as RGB (PS3.5 8.2.4: YBR_ICT/YBR_RCT
#: mean the codestream's multiple component transform is on and undone by the decoder).
_GREY = ("MONOCHROME1", "MONOCHROME2")
_COLOUR = ("RGB", "YBR_ICT", "YBR_RCT")


@dataclass(frozen=True)
class Codestream:
    """What the main header of a JPEG 2000 codestream says (ISO/IEC 15444-1 A.5, A.6)."""

    width: int
    height: int
    components: int
    precision: int
    signed: bool
    levels: int  #: decomposition levels of the default coding style (COD SPcod)
    mct: bool  #: multiple component transform on (COD SGcod)


def parse_codestream(data: bytes) -> Codestream | None:
    """Read SIZ (A.5.1) and COD (A.6.1) from a codestream's main header; None if absent.

    Only the main header is read (markers up to the first SOT). All components must
    share one precision and signedness and be unsubsampled, else None. Tile-part COD or
    COC markers may lower the number of levels for a tile; the decoder then fails and the
    caller falls back to a full decode.
    """
    try:
        if len(data) < 4 or struct.unpack(">H", data[:2])[0] != _SOC:
            return None
        pos, siz, cod = 2, None, None
        while pos + 4 <= len(data):
            marker, length = struct.unpack(">HH", data[pos : pos + 4])
            if marker in (_SOT, _SOD) or marker >> 8 != 0xFF or length < 2:
                break
            body = data[pos + 4 : pos + 2 + length]
            if marker == _SIZ:
                siz = body
            elif marker == _COD:
                cod = body
            pos += 2 + length
        if siz is None or cod is None or len(siz) < 36 or len(cod) < 10:
            return None
        xsiz, ysiz, xo, yo = struct.unpack(">IIII", siz[2:18])
        (count,) = struct.unpack(">H", siz[34:36])
        comps = [siz[36 + 3 * i : 39 + 3 * i] for i in range(count)]
        if count < 1 or len(siz) < 36 + 3 * count or xo or yo:
            return None
        if len({c[0] for c in comps}) != 1 or any(c[1:] != b"\x01\x01" for c in comps):
            return None
        ssiz = comps[0][0]
        return Codestream(
            width=xsiz,
            height=ysiz,
            components=count,
            precision=(ssiz & 0x7F) + 1,
            signed=bool(ssiz & 0x80),
            levels=cod[5],
            mct=bool(cod[4]),
        )
    except (struct.error, IndexError):
        return None


def reduction_for(rows: int, cols: int, levels: int, width: int, height: int) -> int:
    """Return the largest r ≤ `levels` whose image (⌈cols/2^r⌉ x ⌈rows/2^r⌉) still
    covers `width` x `height` (ISO/IEC 15444-1 B.5: resolution r has those sizes when the
    image origin is 0), so the reduced image is only ever shrunk, never enlarged."""
    r = 0
    while (
        r < levels
        and math.ceil(cols / 2 ** (r + 1)) >= width
        and math.ceil(rows / 2 ** (r + 1)) >= height
    ):
        r += 1
    return r


def _pillow_sizes_match(stream: Codestream, reduce: int) -> bool:
    """Whether Pillow's size for level `reduce` is OpenJPEG's ⌈n/2^r⌉ on both axes.

    Pillow 13 sizes the image ``int((n + 2**(r-1)) / 2**r)`` (rounding half up), and its
    decoder then rejects the tile when that is one pixel short (e.g. 1841 at r=2).
    """
    power = 1 << reduce
    return all(
        (n + (power >> 1)) // power == math.ceil(n / power) for n in (stream.width, stream.height)
    )


def decode_reduced(
    data: bytes,
    stream: Codestream,
    reduce: int,
    *,
    photometric: str,
    bits_allocated: int,
    signed: bool,
) -> tuple[np.ndarray, str] | None:
    """Decode `data` (one frame's codestream) at resolution ``1/2**reduce``.

    ``reduce=0`` decodes the full image (slower than pylibjpeg-openjpeg: used in tests
    to check the sample mapping bit for bit).

    Returns (stored values, photometric interpretation of the result) with the dtype a
    full decode by pydicom gives (``uint8``/``uint16``/``int16`` from Bits Allocated and
    Pixel Representation), or None when the reduced path does not apply (no reduction,
    more than 16 bits, a sign or colour model that differs from the data set's, an
    OpenJPEG error): then decode the whole frame with pydicom instead.
    """
    if reduce < 0 or reduce > stream.levels or stream.precision > 16:
        return None
    if (
        stream.signed != signed
        or bits_allocated not in (8, 16)
        or stream.precision > bits_allocated
    ):
        return None
    if stream.components == 1 and photometric in _GREY:
        out_pi = photometric
    elif stream.components == 3 and photometric in _COLOUR and bits_allocated == 8:
        if photometric != "RGB" and not stream.mct:
            return None  # YBR_ICT/RCT without the transform in the codestream: damaged
        out_pi = "RGB"
    else:
        return None
    if stream.components == 1 and stream.precision <= 8 and signed:
        return None  # Pillow maps these to "L" with an offset; too rare to be worth it
    while reduce > 0 and not _pillow_sizes_match(stream, reduce):
        reduce -= 1  # a finer level is still ≥ the output, only slower
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=["JPEG2000"]) as im:
                im.reduce = reduce  # type: ignore[assignment]  # plugin property
                im.load()
                arr = np.asarray(im)
    except Exception:  # any decoder failure: the caller decodes in full
        return None
    expected = (math.ceil(stream.height / 2**reduce), math.ceil(stream.width / 2**reduce))
    if arr.shape[:2] != expected:
        return None
    dtype = np.dtype(f"{'i' if signed else 'u'}{bits_allocated // 8}")
    if arr.dtype == np.uint8:
        values = arr >> (8 - stream.precision) if stream.precision < 8 else arr
        return (values if dtype == np.uint8 else values.astype(dtype)), out_pi
    if arr.dtype != np.uint16 or arr.ndim != 2:
        return None
    values = (arr >> (16 - stream.precision)).astype(np.int32)
    if signed:
        values -= 1 << (stream.precision - 1)
    return values.astype(dtype), out_pi
