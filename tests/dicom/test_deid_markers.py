"""No planted identifier survives de-identification, on real files of many kinds.

For each file we first PLANT unique marker values into every PS3.15 Table E.1-1
attribute that the engine must not keep (top level, nested in sequence items, and in
private elements), save it, de-identify the saved bytes, and then search the *raw
output bytes* for every marker. Pixel data must come out byte-identical.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from pydicom import config, dcmread
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite
from pydicom.sequence import Sequence
from pydicom.uid import UID

from tests.dicom.conftest import sample_bytes
from uploads.dicom import profile as prof
from uploads.dicom.deidentify import DeidOptions, deidentify_bytes

KEY = b"marker-test-key"
MARK = b"PHIMK"  # every text marker starts with this
NAME_MARK = "PHIMKFAMILYQ"
GIVEN_MARK = "PHIMKGIVENQ"
ID_MARK = "PHIMKID7Q"
FAKE_DATE = "19011231"
FAKE_DATETIME = "19011231235958"
FAKE_TIME = "231457.987654"
DS_MARK = "31415.92653"
IS_MARK = "271828183"
UID_MARK = "1.2.826.0.1.3680043.10.999"
DEFLATED = "1.2.840.10008.1.2.1.99"
_TEXT_VRS = {"AE", "CS", "SH", "LO", "LT", "ST", "UT", "UC", "UR", "PN"}
_BINARY_VRS = {"OB", "OW", "UN"}

PYDICOM_FILES = [
    "CT_small.dcm",  # GE CT with GE private tags
    "MR_small.dcm",
    "emri_small.dcm",  # multi-frame (10 frames)
    "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline
    "JPEG2000.dcm",  # JPEG 2000
    "MR_small_RLE.dcm",  # RLE lossless
    "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS
    "image_dfl.dcm",  # deflated transfer syntax
    "ExplVR_BigEnd.dcm",  # explicit VR big endian
    "rtplan.dcm",
    "rtdose.dcm",
    "rtstruct.dcm",  # no preamble / file meta
    "test-SR.dcm",  # structured report
    "liver.dcm",  # SEG (pydicom-data)
    "MR-SIEMENS-DICOM-WithOverlays.dcm",  # overlays + Siemens private (pydicom-data)
    "US1_J2KR.dcm",  # ultrasound, JPEG 2000 lossless (pydicom-data)
    "waveform_ecg.dcm",
]
SHARED_FILES = [
    "dcm_qa_ct/GE/01.dcm",
    "pydicom-data-git/liver_deflate.dcm",
    "pydicom-data-git/JLSL_RGB_ILV1.dcm",
    "pydicom-data-git/HTJ2KLossless_08_RGB.dcm",
]


@dataclass
class Plan:
    """What was planted: byte strings that must not appear in the output."""

    needles: set[bytes] = field(default_factory=set)
    count: int = 0


def _actions() -> dict[int, str]:
    options = DeidOptions().profile_columns()
    return {
        int(row.tag.replace(",", ""), 16): prof.effective_action(row, options)
        for row in prof.load_profile().rows
        if "X" not in row.tag and not row.is_private_row
    }


ACTIONS = _actions()


def _marker_value(tag: int, vr: str, action: str, index: int) -> object | None:
    """A unique marker the engine must not keep for this attribute, or None to skip."""
    text = f"PHIMK{index:04d}"
    if action == prof.CLEAN:
        # Cleaning keeps descriptive text but must cut out the patient's name and ID.
        if vr in ("LO", "LT", "ST", "UT", "UC"):
            return f"about {NAME_MARK} and {ID_MARK} here"
        if vr in ("SH", "CS", "AE"):
            return ID_MARK
        if vr == "PN":
            return f"{NAME_MARK}^{GIVEN_MARK}"
        if vr in _BINARY_VRS:
            return text.encode() + b"B"
        return None
    if vr == "DA":
        return FAKE_DATE
    if vr == "DT":
        return FAKE_DATETIME
    if vr == "TM":
        return None if action == prof.SHIFT else FAKE_TIME  # times are kept with dates
    if vr == "PN":
        return f"{text}^{text}"
    if vr in _TEXT_VRS:
        return text
    if vr == "DS":
        return DS_MARK
    if vr == "IS":
        return IS_MARK
    if vr in _BINARY_VRS:
        return text.encode() + b"B"  # even length
    return None


def _needles_for(value: object) -> set[bytes]:
    if isinstance(value, bytes):
        return {value}
    text = str(value)
    if text.startswith("about "):
        return {NAME_MARK.encode(), ID_MARK.encode()}
    return {text.split("^")[0].encode()}


def _plant_attributes(ds: Dataset, plan: Plan, start: int) -> int:
    index = start
    for tag, action in ACTIONS.items():
        if action == prof.KEEP or tag in (0x00100010, 0x00100020) or tag >> 16 in (0, 2):
            continue  # command and file meta groups cannot be in a stored data set
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            continue
        if " or " in vr or vr == "SQ":
            continue
        if vr == "UI":
            value: object = f"{UID_MARK}.{index}"
            plan.needles.add(UID_MARK.encode())
        else:
            maybe = _marker_value(tag, vr, action, index)
            if maybe is None:
                continue
            value = maybe
            plan.needles |= _needles_for(value)
        ds.add_new(tag, vr, value)
        plan.count += 1
        index += 1
    return index


def _item(**elements: object) -> Dataset:
    item = Dataset()
    for keyword, value in elements.items():
        setattr(item, keyword, value)
    return item


def plant(ds: Dataset) -> Plan:
    """Put markers everywhere the profile must remove, replace, shift or clean them."""
    plan = Plan()
    original_name = str(ds.get("PatientName", "") or "")
    for part in original_name.replace("=", "^").split("^"):
        if len(part) >= 4:
            plan.needles.add(part.encode())
    ds.PatientName = f"{NAME_MARK}^{GIVEN_MARK}"
    ds.PatientID = ID_MARK
    plan.needles |= {NAME_MARK.encode(), GIVEN_MARK.encode(), ID_MARK.encode()}
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        if keyword in ds and str(ds.get(keyword)):
            plan.needles.add(str(ds.get(keyword)).encode())

    index = _plant_attributes(ds, plan, 0)

    # Nested inside an item of a kept sequence, two levels deep, with a private element.
    inner = _item(StationName="PHIMKNEST1", PatientName="PHIMKNEST2^X", StudyDate=FAKE_DATE)
    inner.add_new(0x00090010, "LO", "PHIMKNEST3")
    inner.add_new(0x00091001, "LO", "PHIMKNEST4")
    outer = _item(
        InstitutionName="PHIMKNEST5",
        OperatorsName="PHIMKNEST6^Y",
        AccessionNumber="PHIMKNEST7",
        ReferencedSOPInstanceUID=f"{UID_MARK}.7001",
        PerformedProtocolCodeSequence=Sequence([inner]),
    )
    ds.ReferencedSeriesSequence = Sequence([outer])
    # Sequences the profile removes or rewrites, with identifiers inside.
    ds.OtherPatientIDsSequence = Sequence([_item(PatientID="PHIMKNEST8", IssuerOfPatientID="X")])
    ds.RequestAttributesSequence = Sequence(
        [_item(RequestedProcedureID="PHIMKNEST9", ScheduledProcedureStepID="PHIMKNESTA")]
    )
    ds.VerifyingObserverSequence = Sequence(
        [_item(VerifyingObserverName="PHIMKNESTB^Z", VerifyingOrganization="PHIMKNESTC")]
    )
    # Private elements: an unknown block, and an allow-listed tag holding text.
    ds.add_new(0x00330010, "LO", "PHIMKCREATOR")
    ds.add_new(0x00331001, "LO", "PHIMKPRIV1")
    ds.add_new(0x00190020, "LO", "GEMS_ACQU_01")
    ds.add_new(0x00192023, "UN", b"PHIMKPRIV2")  # safe tag, but not a number: removed
    # Overlay and curve data (removed as whole groups).
    ds.add_new(0x60023000, "OB", b"PHIMKOVLY0")
    ds.add_new(0x60024000, "LT", "PHIMKOVLY1")
    ds.add_new(0x50003000, "OB", b"PHIMKCURV0")
    plan.needles.add(MARK)
    plan.count = index
    return plan


def _planted_bytes(source: bytes) -> tuple[bytes, Plan]:
    with config.disable_value_validation():
        ds = dcmread(io.BytesIO(source), force=True)
        plan = plant(ds)
        if not ds.file_meta.get("TransferSyntaxUID"):
            ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2")  # rtstruct: implicit LE
        out = io.BytesIO()
        if ds.file_meta.TransferSyntaxUID.is_transfer_syntax:
            dcmwrite(out, ds, enforce_file_format=True)
        else:  # newer than pydicom (Deflated Image Frame Compression): explicit VR LE
            ds.preamble = b"\0" * 128
            dcmwrite(out, ds, implicit_vr=False, little_endian=True, force_encoding=True)
    return out.getvalue(), plan


def searchable(data: bytes) -> bytes:
    """The bytes to search: a deflated data set is inflated first (PS3.5 A.5)."""
    if DEFLATED.encode() not in data[:512]:
        return data
    (meta_length,) = struct.unpack("<I", data[140:144])
    start = 144 + meta_length
    return data[:start] + zlib.decompress(data[start:], -zlib.MAX_WBITS)


def _check(source: bytes, name: str) -> None:
    planted, plan = _planted_bytes(source)
    assert plan.count > 150, "markers were planted into the Table E.1-1 attributes"
    assert MARK in searchable(planted) and FAKE_DATE.encode() in searchable(planted)

    encoded, result = deidentify_bytes(planted, key=KEY, options=DeidOptions())
    output = searchable(encoded)

    survivors = sorted(n.decode("latin-1") for n in plan.needles if n in output)
    assert survivors == [], f"{name}: planted values survived: {survivors}"
    for needle in (FAKE_DATE, FAKE_DATETIME[:12], FAKE_TIME, DS_MARK, IS_MARK, UID_MARK):
        assert needle.encode() not in output, f"{name}: {needle} survived"

    before = dcmread(io.BytesIO(planted))
    after = dcmread(io.BytesIO(encoded))
    assert after.PatientIdentityRemoved == "YES"
    assert after.PatientID == result.patient_pseudonym == str(after.PatientName)
    assert after.LongitudinalTemporalInformationModified == "MODIFIED"
    assert after.SOPInstanceUID == result.sop_instance_uid != before.SOPInstanceUID
    assert after.file_meta.MediaStorageSOPInstanceUID == after.SOPInstanceUID
    assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID
    assert not [e.tag for e in after if e.tag.group & 0xFF00 in (0x5000, 0x6000)]
    assert all(e.tag.is_private is False or e.tag.group in (0x0019, 0x0025, 0x0043) for e in after)
    if "PixelData" in before:
        assert after.PixelData == before.PixelData  # byte-identical, also when compressed
        syntax = before.file_meta.TransferSyntaxUID
        if syntax.is_transfer_syntax and not syntax.is_compressed:
            assert np.array_equal(after.pixel_array, before.pixel_array)
    # Nothing but tags, keywords and action names in the report.
    report = repr(result.actions).encode()
    assert MARK not in report and ID_MARK.encode() not in report


@pytest.mark.parametrize("name", PYDICOM_FILES)
def test_no_planted_marker_survives(name: str) -> None:
    _check(sample_bytes(name), name)


@pytest.mark.parametrize("name", SHARED_FILES)
def test_no_planted_marker_survives_shared(name: str, shared_dir: Path) -> None:
    path = shared_dir / "dicom" / name
    if not path.exists():
        pytest.skip(f"{name} not in ../shared")
    _check(path.read_bytes(), name)


def test_sr_text_content_is_replaced() -> None:
    """Content Sequence is D: free text inside it (TEXT items) is replaced."""
    ds = dcmread(io.BytesIO(sample_bytes("test-SR.dcm")))
    texts = [str(i.TextValue) for i in _iter_items(ds.ContentSequence) if "TextValue" in i]
    assert texts, "the SR has TEXT content items"
    output, result = deidentify_bytes(sample_bytes("test-SR.dcm"), key=KEY)
    for text in texts:
        if len(text) > 8:
            assert text.encode() not in output
    after = dcmread(io.BytesIO(output))
    assert {str(i.TextValue) for i in _iter_items(after.ContentSequence) if "TextValue" in i} == {
        "ANONYMIZED"
    }
    assert "replaced" in result.action_for("TextValue")


def _iter_items(seq: Sequence) -> Iterator[Dataset]:
    for item in seq:
        yield item
        for elem in item:
            if elem.VR == "SQ":
                yield from _iter_items(elem.value)
