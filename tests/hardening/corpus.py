"""Hostile and damaged inputs, built from real files in the test (nothing checked in).

Every builder returns bytes. :func:`bad_inputs` is the catalogue the bad-input tests feed
to every entry point: name -> :class:`Case` (the bytes and what must happen to them).
"""

from __future__ import annotations

import io
import stat
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)

#: Explicit VR little endian VRs with a 2-byte reserved field and a 4-byte length.
LONG_VRS = {
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"SQ",
    b"SV",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
    b"UV",
}
UNDEFINED = 0xFFFFFFFF
MAX_CUTS = 40

ACCEPT = "accept"
REJECT = "reject"


@dataclass(frozen=True)
class Case:
    """One input and its fate.

    ``expect``: stored by the portal (ACCEPT) or refused with a message (REJECT).
    ``reason``: a word the message must contain (case-insensitive).
    ``unreadable``: every reader must refuse it (not DICOM, cut inside an element, a bomb);
    False for well-formed DICOM that only the portal's index rules refuse.
    ``renders``: the renderer makes a PNG of it (else it refuses with a message).
    """

    data: bytes
    expect: str
    reason: str = ""
    unreadable: bool = True
    renders: bool | None = None

    @property
    def makes_png(self) -> bool:
        return self.expect == ACCEPT if self.renders is None else self.renders


@cache
def sample(name: str) -> bytes:
    path = get_testdata_file(name)
    assert path is not None, name
    return Path(str(path)).read_bytes()


def encode(ds: Dataset, *, implicit: bool = False, preamble: bool = True) -> bytes:
    """Encode ``ds``; ``preamble=False`` writes the bare data set (no preamble, no meta)."""
    out = DicomBytesIO()
    if preamble:
        ds.save_as(out, enforce_file_format=True)
    else:
        ds.preamble = None  # pydicom writes a preamble whenever the data set has one
        pydicom.dcmwrite(out, ds, implicit_vr=implicit, little_endian=True, force_encoding=True)
    return out.getvalue()


def fresh(name: str = "MR_small.dcm", **changes: object) -> Dataset:
    """A real file with new UIDs (so copies never deduplicate) and optional changes."""
    ds = pydicom.dcmread(io.BytesIO(sample(name)))
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    return ds


def good_file(name: str = "MR_small.dcm", **changes: object) -> bytes:
    return encode(fresh(name, **changes))


# -- truncation at element boundaries --------------------------------------------------------


def _skip_undefined(data: bytes, pos: int) -> int:
    """Position after the sequence delimiter of an undefined-length value at ``pos``."""
    while pos + 8 <= len(data):
        group, element, length = struct.unpack_from("<HHI", data, pos)
        pos += 8
        if (group, element) == (0xFFFE, 0xE0DD):
            return pos
        if (group, element) == (0xFFFE, 0xE000) and length == UNDEFINED:
            pos = _skip_item(data, pos)
        elif (group, element) == (0xFFFE, 0xE000):
            pos += length
    return len(data)


def _skip_item(data: bytes, pos: int) -> int:
    while pos + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, pos)
        if (group, element) == (0xFFFE, 0xE00D):
            return pos + 8
        _, _, pos = _element(data, pos)
    return len(data)


def _element(data: bytes, pos: int) -> tuple[int, int, int]:
    """(value start, value length, next element) of the explicit VR LE element at ``pos``."""
    vr = data[pos + 4 : pos + 6]
    if vr in LONG_VRS:
        (length,) = struct.unpack_from("<I", data, pos + 8)
        value = pos + 12
    else:
        (length,) = struct.unpack_from("<H", data, pos + 6)
        value = pos + 8
    if length == UNDEFINED:
        end = _skip_undefined(data, value)
        return value, end - value, end
    return value, length, value + length


def element_offsets(data: bytes) -> list[tuple[int, int, int]]:
    """(start, value start, end) of every top-level element of an explicit VR little endian
    PS3.10 file, File Meta Information included."""
    assert data[128:132] == b"DICM"
    offsets = []
    pos = 132
    while pos + 8 <= len(data):
        value, _, end = _element(data, pos)
        offsets.append((pos, value, end))
        pos = end
    assert pos == len(data), "walker out of step"
    return offsets


def _spread(items: list[tuple[int, bool]], count: int) -> set[tuple[int, bool]]:
    """``count`` items evenly spread over ``items``, the first and last included."""
    if len(items) <= count:
        return set(items)
    step = (len(items) - 1) / (count - 1)
    return {items[round(i * step)] for i in range(count)}


def cut_points(data: bytes, limit: int = MAX_CUTS) -> list[tuple[int, bool]]:
    """Up to ``limit`` (offset, on_boundary) cut points: two thirds at element starts
    (boundaries), one third inside headers and values; evenly spread over the file's
    elements, always with the last boundaries (around the Pixel Data)."""
    offsets = element_offsets(data)
    boundaries = [(start, True) for start, _, _ in offsets if start > 0]
    inside = []
    for start, value, end in offsets:
        inside.append((start + 5, False))  # inside the header
        if end - value > 1:
            inside.append(((value + end) // 2, False))  # inside the value
    chosen = _spread(boundaries, limit * 2 // 3) | set(boundaries[-3:])
    chosen |= _spread(inside, limit - len(chosen))
    return sorted(p for p in chosen if 0 < p[0] < len(data))


def truncations() -> dict[str, Case]:
    """A real MR file cut at element boundaries and inside elements.

    A cut inside an element must be refused as truncated. A cut on a boundary leaves a
    shorter, well-formed file: refused while the Pixel Data is missing, accepted when
    only the trailing padding (FFFC,FFFC) after the Pixel Data is gone.
    """
    data = good_file()
    pixels_end = max(
        end
        for start, _, end in element_offsets(data)
        if struct.unpack_from("<HH", data, start) == (0x7FE0, 0x0010)
    )
    cases = {}
    for offset, boundary in cut_points(data):
        expect = ACCEPT if boundary and offset >= pixels_end else REJECT
        name = f"cut-{offset:05d}{'-boundary' if boundary else ''}.dcm"
        unreadable = not boundary and expect == REJECT
        # Cut after the Pixel Data (inside the trailing padding): still renders.
        cases[name] = Case(
            data[:offset], expect, unreadable=unreadable, renders=offset >= pixels_end
        )
    return cases


# -- preamble and meta -----------------------------------------------------------------------


def no_preamble_with_meta() -> bytes:
    """The File Meta Information and data set without the 128-byte preamble and DICM."""
    return good_file()[132:]


def implicit_no_preamble_no_meta() -> bytes:
    """A bare implicit VR little endian data set: valid (PS3.5 default), must be accepted."""
    ds = fresh()
    del ds.file_meta
    return encode(ds, implicit=True, preamble=False)


def garbage_preamble() -> bytes:
    """The preamble is free-form: random bytes there must not matter."""
    data = good_file()
    return bytes(range(128)) + data[128:]


def short_preamble() -> bytes:
    """A 100-byte preamble: DICM is not at 128, the file starts with zeros."""
    data = good_file()
    return data[28:]


def wrong_magic() -> bytes:
    data = good_file()
    return data[:128] + b"DICN" + data[132:]


def meta_without_data_set() -> bytes:
    """Preamble + File Meta Information and nothing else."""
    data = good_file()
    meta_end = element_offsets(data)[0][2] + struct.unpack_from("<I", data, 140)[0]
    return data[:meta_end]


def no_meta_with_preamble(implicit: bool = False) -> bytes:
    """Preamble and DICM followed directly by a data set (no group 0002)."""
    ds = fresh()
    del ds.file_meta
    return b"\0" * 128 + b"DICM" + encode(ds, implicit=implicit, preamble=False)


# -- lies about lengths and VRs --------------------------------------------------------------


def _patch_length(data: bytes, keyword: str, length: int) -> bytes:
    tag = pydicom.datadict.tag_for_keyword(keyword)
    assert tag is not None
    for start, _, _ in element_offsets(data):
        group, element = struct.unpack_from("<HH", data, start)
        if (group << 16 | element) == tag:
            out = bytearray(data)
            if data[start + 4 : start + 6] in LONG_VRS:
                struct.pack_into("<I", out, start + 8, length)
            else:
                struct.pack_into("<H", out, start + 6, length)
            return bytes(out)
    raise AssertionError(f"{keyword} not found")


def length_past_end() -> bytes:
    """Study Description claims 60000 bytes; the file is much shorter."""
    return _patch_length(good_file(StudyDescription="HEAD"), "StudyDescription", 60000)


def odd_length() -> bytes:
    """Rows (US, 2 bytes) claims 3 bytes: every later element is read out of step."""
    return _patch_length(good_file(), "Rows", 3)


def enormous_length() -> bytes:
    """Pixel Data (OW) declares 0xFFFFFFF0 bytes."""
    return _patch_length(good_file(), "PixelData", 0xFFFFFFF0)


def wrong_vr() -> bytes:
    """Rows claims VR 'UT' (a 4-byte length follows), so the header is read wrongly."""
    data = good_file()
    tag = pydicom.datadict.tag_for_keyword("Rows")
    for start, _, _ in element_offsets(data):
        group, element = struct.unpack_from("<HH", data, start)
        if (group << 16 | element) == tag:
            return data[: start + 4] + b"UT" + data[start + 6 :]
    raise AssertionError("Rows not found")


def broken_sequence_delimiter() -> bytes:
    """An undefined-length sequence whose Sequence Delimitation Item is damaged."""
    ds = fresh()
    item = Dataset()
    item.CodeValue = "T-A0100"
    item.CodingSchemeDesignator = "SRT"
    item.CodeMeaning = "Brain"
    ds.AnatomicRegionSequence = [item]
    ds["AnatomicRegionSequence"].is_undefined_length = True
    ds.AnatomicRegionSequence[0].is_undefined_length_sequence_item = True
    data = encode(ds)
    delimiter = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    assert data.count(delimiter) == 1
    return data.replace(delimiter, struct.pack("<HHI", 0xFFFE, 0xE0DE, 0xFFFFFF00))


def unterminated_sequence() -> bytes:
    """An undefined-length sequence that never ends: its delimiters are cut off."""
    ds = fresh()
    item = Dataset()
    item.CodeMeaning = "Brain"
    ds.AnatomicRegionSequence = [item]
    ds["AnatomicRegionSequence"].is_undefined_length = True
    ds.AnatomicRegionSequence[0].is_undefined_length_sequence_item = True
    del ds.PixelData  # the sequence is the last element
    data = encode(ds)
    return data[: data.rindex(struct.pack("<HH", 0xFFFE, 0xE00D))]


# -- sizes and pixel data --------------------------------------------------------------------


def one_by_one() -> bytes:
    """A real, valid 1×1 secondary capture image."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "OT"
    ds.PatientName = "One^Pixel"
    ds.PatientID = "1PX"
    ds.Rows = ds.Columns = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = b"\x00\x10"
    return encode(ds)


def huge_declared() -> bytes:
    """65535×65535 declared, 64×64 of pixel data present."""
    return good_file(Rows=65535, Columns=65535)


def rle_bomb() -> bytes:
    """RLE Lossless declaring 16384×16384 (268 M values, within the index limits) with a
    few hundred bytes of runs: decoding would need 512 MB for one frame."""
    ds = fresh("MR_small_RLE.dcm", Rows=16384, Columns=16384)
    # One segment of replicate runs (-127 => 128 copies), header: 1 segment at offset 64.
    runs = bytes([0x81, 0x00]) * 200
    segment = struct.pack("<16I", 1, 64, *([0] * 14)) + runs
    ds.PixelData = pydicom.encaps.encapsulate([segment])
    ds["PixelData"].VR = "OB"
    return encode(ds)


def deflate_bomb(inflated_mb: int = 512) -> bytes:
    """Deflated Explicit VR Little Endian: a tiny file whose data set inflates to
    ``inflated_mb`` MB (a private OB element of zeros) before the image."""
    ds = fresh()
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    plain = fresh()
    del plain.file_meta
    header = encode(plain, preamble=False)
    # Prepend a (0009,0010) creator + (0009,1000) OB of zeros, streamed into the deflater.
    creator = struct.pack("<HH2sH", 0x0009, 0x0010, b"LO", 4) + b"BOMB"
    size = inflated_mb * 1024**2
    blob = struct.pack("<HH2sHI", 0x0009, 0x1000, b"OB", 0, size)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    # (0008,xxxx) come first: split the plain data set before group 0009.
    split = _first_offset_at_or_after(header, 0x0009)
    parts = [deflater.compress(header[:split] + creator + blob)]
    zeros = b"\0" * 1024**2
    for _ in range(inflated_mb):
        parts.append(deflater.compress(zeros))
    parts.append(deflater.compress(header[split:]))
    parts.append(deflater.flush())
    meta_only = DicomBytesIO()
    pydicom.filewriter.write_file_meta_info(meta_only, ds.file_meta, enforce_standard=True)
    return b"\0" * 128 + b"DICM" + meta_only.getvalue() + b"".join(parts)


def _first_offset_at_or_after(body: bytes, group: int) -> int:
    pos = 0
    while pos + 8 <= len(body):
        this, _ = struct.unpack_from("<HH", body, pos)
        if this >= group:
            return pos
        _, _, pos = _element(body, pos)
    return len(body)


def jpeg_lying_dims() -> bytes:
    """A JPEG Lossless image whose DICOM header says 100×100 but whose JPEG frame header
    (SOF) claims 60000×60000: a decoder that trusts the stream allocates gigabytes."""
    ds = fresh("SC_rgb_jpeg_gdcm.dcm")
    frames = list(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1))
    frame = bytearray(frames[0])
    for marker in (b"\xff\xc3", b"\xff\xc0", b"\xff\xc1"):
        at = frame.find(marker)
        if at >= 0:
            struct.pack_into(">HH", frame, at + 5, 60000, 60000)
            break
    else:
        raise AssertionError("no SOF marker")
    ds.PixelData = pydicom.encaps.encapsulate([bytes(frame)])
    return encode(ds)


# -- not DICOM -------------------------------------------------------------------------------


def pdf_named_dcm() -> bytes:
    return b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" + b"x" * 500


def png_named_dcm() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\0" * 200


def text_named_dcm() -> bytes:
    return b"Patient scans are on the CD in the drawer.\n" * 10


def tar_archive() -> bytes:
    """A tar (not ZIP) holding a good DICOM file."""
    out = io.BytesIO()
    data = good_file()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("scan/image.dcm")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


# -- archives --------------------------------------------------------------------------------


def zip_of(entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # Unix: external_attr carries the mode
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return out.getvalue()


def zip_with_hostile_paths() -> bytes:
    """Traversal in every spelling, a symbolic link, and one good entry."""
    good = good_file()
    return zip_of(
        {
            "../../escape.dcm": good_file(),
            "/etc/absolute.dcm": good_file(),
            "..\\..\\windows.dcm": good_file(),
            "C:\\drive.dcm": good_file(),
            "ok/good-inside.dcm": good,
        },
        symlinks={"link.dcm": "/etc/passwd"},
    )


def flat_zip_bomb(megabytes: int = 400) -> bytes:
    """One entry of ``megabytes`` MB of zeros (about 1000:1), streamed, never in memory."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("bomb/zeros.dcm", "w", force_zip64=True) as handle:
            zeros = b"\0" * 1024**2
            for _ in range(megabytes):
                handle.write(zeros)
        archive.writestr("good.dcm", good_file())
    return out.getvalue()


def nested_zip_bomb(inner: int = 8, megabytes: int = 100) -> bytes:
    """42.zip in miniature: ``inner`` archives of one ``megabytes`` MB zero entry each,
    plus an archive nested three levels deep and a good file."""
    layer = flat_zip_bomb(megabytes)
    deep = zip_of({"level3.zip": zip_of({"level2.zip": zip_of({"deep.dcm": good_file()})})})
    entries = {f"part{i}.zip": layer for i in range(inner)}
    entries["deep.zip"] = deep
    entries["good.dcm"] = good_file()
    return zip_of(entries)


def zip_many_entries(count: int = 50_001) -> bytes:
    """More entries than the archive limit (tiny, stored)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for i in range(count):
            archive.writestr(f"{i}", b"")
    return out.getvalue()


@cache
def bad_inputs() -> dict[str, Case]:
    """The catalogue: name -> Case (built once). Tests add one good file to each batch."""
    cases = {
        "empty.dcm": Case(b"", REJECT, "empty"),
        "no-preamble-with-meta.dcm": Case(no_preamble_with_meta(), ACCEPT),
        "implicit-no-preamble-no-meta.dcm": Case(implicit_no_preamble_no_meta(), ACCEPT),
        "garbage-preamble.dcm": Case(garbage_preamble(), ACCEPT),
        "no-meta-with-preamble.dcm": Case(no_meta_with_preamble(), ACCEPT),
        "no-meta-implicit-with-preamble.dcm": Case(no_meta_with_preamble(implicit=True), ACCEPT),
        "short-preamble.dcm": Case(short_preamble(), REJECT),
        "wrong-magic.dcm": Case(wrong_magic(), REJECT),
        "meta-only.dcm": Case(meta_without_data_set(), REJECT),
        "report.pdf.dcm": Case(pdf_named_dcm(), REJECT, "PDF"),
        "picture.dcm": Case(png_named_dcm(), REJECT, "PNG"),
        "readme.dcm": Case(text_named_dcm(), REJECT, "text"),
        "scans.tar": Case(tar_archive(), REJECT, "tar"),
        "length-past-end.dcm": Case(length_past_end(), REJECT),
        "odd-length.dcm": Case(odd_length(), REJECT),
        # The renderer reads the frame it needs from what is there; the portal refuses it.
        "enormous-length.dcm": Case(enormous_length(), REJECT, renders=True),
        "wrong-vr.dcm": Case(wrong_vr(), REJECT),
        "broken-sequence-delimiter.dcm": Case(broken_sequence_delimiter(), REJECT),
        "unterminated-sequence.dcm": Case(unterminated_sequence(), REJECT),
        "one-by-one.dcm": Case(one_by_one(), ACCEPT),
        "huge-declared.dcm": Case(huge_declared(), REJECT, "too large", unreadable=False),
        # Indexed without decoding the pixels; the renderer refuses them.
        "rle-bomb.dcm": Case(rle_bomb(), ACCEPT, renders=False),
        "jpeg-lying-dims.dcm": Case(jpeg_lying_dims(), ACCEPT, renders=False),
        "deflate-bomb.dcm": Case(deflate_bomb(64), REJECT, "inflate"),
    }
    cases.update(truncations())
    return cases


@dataclass(frozen=True)
class Entry:
    """An expected archive entry: ``part`` of its name, its fate, a word of the reason."""

    part: str
    expect: str
    reason: str = ""


@cache
def archives() -> dict[str, tuple[bytes, list[Entry]]]:
    """Hostile archives (built once): name -> (bytes, expected entries)."""
    return {
        "hostile-paths.zip": (
            zip_with_hostile_paths(),
            [
                Entry("escape.dcm", REJECT, "'..'"),
                Entry("absolute.dcm", REJECT, "absolute"),
                Entry("windows.dcm", REJECT, "'..'"),
                Entry("drive.dcm", REJECT, "absolute"),
                Entry("link.dcm", REJECT, "symbolic link"),
                Entry("good-inside.dcm", ACCEPT),
            ],
        ),
        "flat-bomb.zip": (
            flat_zip_bomb(200),
            [Entry("zeros.dcm", REJECT, "ratio"), Entry("flat-bomb.zip!/good.dcm", ACCEPT)],
        ),
        "nested-bomb.zip": (
            nested_zip_bomb(10, 50),
            [
                Entry("part0.zip!/bomb/zeros.dcm", REJECT, "ratio"),
                Entry("part9.zip!/bomb/zeros.dcm", REJECT, "ratio"),
                Entry("level3.zip", REJECT, "nested"),
                Entry("nested-bomb.zip!/good.dcm", ACCEPT),
            ],
        ),
        "many-entries.zip": (zip_many_entries(), [Entry("many-entries.zip", REJECT, "entries")]),
    }
