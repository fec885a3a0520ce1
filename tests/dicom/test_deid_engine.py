"""Behaviour of the de-identification engine on real files: UIDs, pseudonyms, dates,
options, references between objects, pixel review, errors."""

from __future__ import annotations

import datetime
import io
import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pydicom.data as pydicom_data
import pytest
from pydicom import config, dcmread
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import UID

from tests.dicom.conftest import sample_bytes, sample_path
from uploads.dicom.deidentify import (
    DEFAULT_UID_ROOT,
    DeidOptions,
    DeidResult,
    deidentify,
    deidentify_bytes,
    deidentify_file,
)
from uploads.dicom.errors import DicomInputError
from uploads.dicom.uids import is_valid_uid, remap_uid

KEY = b"engine-test-key"
UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


def read(data: bytes) -> Dataset:
    return dcmread(io.BytesIO(data), force=True)


def encode(ds: Dataset) -> bytes:
    out = io.BytesIO()
    with config.disable_value_validation():
        if not ds.file_meta.get("TransferSyntaxUID"):
            ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2")
        dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


def deid(data: bytes, key: bytes = KEY, **options: bool) -> tuple[Dataset, DeidResult]:
    encoded, result = deidentify_bytes(data, key=key, options=DeidOptions(**options))
    return read(encoded), result


def all_uids(ds: Dataset) -> list[str]:
    found: list[str] = []
    for elem in ds.iterall():
        if elem.VR == "UI" and elem.value:
            values = elem.value if isinstance(elem.value, list) else [elem.value]
            found.extend(str(v) for v in values)
    return found


# -- UIDs ------------------------------------------------------------------------------------


def test_same_key_same_uids_different_key_different_uids() -> None:
    data = sample_bytes("CT_small.dcm")
    first, r1 = deid(data)
    again, r2 = deid(data)
    other, r3 = deid(data, key=b"another-key")
    original = read(data)
    for keyword in (
        "SOPInstanceUID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "FrameOfReferenceUID",
    ):
        assert first.get(keyword) == again.get(keyword)
        assert first.get(keyword) != other.get(keyword)
        assert first.get(keyword) != original.get(keyword)
    assert (r1.sop_instance_uid, r1.study_instance_uid) == (
        r2.sop_instance_uid,
        r2.study_instance_uid,
    )
    assert r1.study_instance_uid != r3.study_instance_uid
    assert first.SOPClassUID == original.SOPClassUID  # class and syntax are not remapped
    assert first.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID


def test_every_written_uid_is_valid() -> None:
    for name in ("CT_small.dcm", "rtstruct.dcm", "rtdose.dcm", "emri_small.dcm", "test-SR.dcm"):
        ds, _ = deid(sample_bytes(name))
        for uid in [*all_uids(ds), str(ds.file_meta.MediaStorageSOPInstanceUID)]:
            assert len(uid) <= 64 and UID_RE.match(uid), (name, uid)


def test_uid_root_and_hmac_scheme() -> None:
    default = remap_uid("1.2.3.4", key=b"k")
    assert default.startswith(f"{DEFAULT_UID_ROOT}.") and is_valid_uid(default)
    assert len(default) <= 44
    value = int(default.split(".")[2])
    assert (value >> 76) & 0xF == 8  # an RFC 9562 version 8 UUID under 2.25
    custom = remap_uid("1.2.3.4", key=b"k", root="1.2.826.0.1.3680043.9.7433")
    assert custom.startswith("1.2.826.0.1.3680043.9.7433.") and len(custom) == 64
    assert is_valid_uid(custom)
    assert remap_uid("1.2.3.4\x00", key=b"k") == default  # padding ignored
    encoded, result = deidentify_bytes(
        sample_bytes("MR_small.dcm"), key=KEY, uid_root="1.2.826.0.1.3680043.9.7433"
    )
    assert result.sop_instance_uid.startswith("1.2.826.0.1.3680043.9.7433.")
    assert read(encoded).SOPInstanceUID == result.sop_instance_uid
    with pytest.raises(ValueError):
        deidentify_bytes(sample_bytes("MR_small.dcm"), key=KEY, uid_root="1.02.3")


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # rtdose.dcm's own UID
def test_rt_set_references_resolve_after_deidentification() -> None:
    """RT Plan -> RT Struct, RT Dose -> RT Plan, one Frame of Reference and Study."""
    plan, struct, dose = (
        read(sample_bytes(n)) for n in ("rtplan.dcm", "rtstruct.dcm", "rtdose.dcm")
    )
    # pydicom's RT files do not reference each other natively: link them.
    frame = struct.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID
    for ds in (plan, struct, dose):
        ds.StudyInstanceUID = struct.StudyInstanceUID
        ds.PatientID = "RT-PATIENT-1"
    plan.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID = struct.SOPInstanceUID
    dose.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID = plan.SOPInstanceUID
    dose.FrameOfReferenceUID = frame
    plan.FrameOfReferenceUID = frame
    outputs = {}
    for name, ds in (("plan", plan), ("struct", struct), ("dose", dose)):
        encoded, result = deidentify_bytes(encode(ds), key=KEY)
        outputs[name] = (read(encoded), result)
    new_plan, plan_result = outputs["plan"]
    new_struct, struct_result = outputs["struct"]
    new_dose, dose_result = outputs["dose"]
    assert new_plan.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID == (
        new_struct.SOPInstanceUID
    )
    assert new_dose.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == new_plan.SOPInstanceUID
    new_frame = new_struct.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID
    assert new_frame != frame
    assert new_dose.FrameOfReferenceUID == new_plan.FrameOfReferenceUID == new_frame
    assert {roi.ReferencedFrameOfReferenceUID for roi in new_struct.StructureSetROISequence} == {
        new_frame
    }
    studies = {
        plan_result.study_instance_uid,
        struct_result.study_instance_uid,
        dose_result.study_instance_uid,
    }
    assert len(studies) == 1 and struct.StudyInstanceUID not in studies
    assert (
        plan_result.patient_pseudonym
        == struct_result.patient_pseudonym
        == (dose_result.patient_pseudonym)
    )


# -- patient pseudonym and dates -------------------------------------------------------------


def two_studies_of_one_patient() -> tuple[bytes, bytes]:
    ct, mr = read(sample_bytes("CT_small.dcm")), read(sample_bytes("MR_small.dcm"))
    for ds, date in ((ct, "20200101"), (mr, "20200301")):
        ds.PatientID = "SAME-PATIENT-42"
        ds.PatientName = "Doe^Jane"
        ds.StudyDate = date
        ds.AcquisitionDateTime = f"{date}101500.25+0100"
    return encode(ct), encode(mr)


def as_date(text: str) -> datetime.date:
    return datetime.datetime.strptime(text[:8], "%Y%m%d").date()


def test_same_patient_same_pseudonym_and_consistent_date_shift() -> None:
    ct_bytes, mr_bytes = two_studies_of_one_patient()
    ct, ct_result = deid(ct_bytes)
    mr, mr_result = deid(mr_bytes)
    assert (
        ct.PatientID == mr.PatientID == ct_result.patient_pseudonym == mr_result.patient_pseudonym
    )
    assert re.fullmatch(r"PSN-[A-Z2-7]{10}", ct.PatientID)
    assert str(ct.PatientName) == ct.PatientID
    # Interval kept: 60 days between the studies before and after.
    assert (as_date(mr.StudyDate) - as_date(ct.StudyDate)).days == 60
    shift = (as_date(ct.StudyDate) - datetime.date(2020, 1, 1)).days
    assert -3650 <= shift <= -1
    # DateTime shifted by the same days; time of day and offset kept.
    assert as_date(ct.AcquisitionDateTime) == as_date(ct.StudyDate)
    assert str(ct.AcquisitionDateTime)[8:] == "101500.25+0100"
    assert ct.StudyTime == read(ct_bytes).StudyTime  # times are kept
    assert ct.LongitudinalTemporalInformationModified == "MODIFIED"
    assert ct_result.dates_shifted and "date-shifted" in ct_result.action_for("StudyDate")
    # A different patient gets another pseudonym and (almost surely) another shift.
    other = read(ct_bytes)
    other.PatientID = "SOMEONE-ELSE"
    other_ds, other_result = deid(encode(other))
    assert other_result.patient_pseudonym != ct_result.patient_pseudonym == ct.PatientID
    assert other_ds.PatientID == other_result.patient_pseudonym


def test_without_the_dates_option_dates_follow_the_basic_profile() -> None:
    ct_bytes, _ = two_studies_of_one_patient()
    ct, result = deid(ct_bytes, retain_longitudinal_modified_dates=False)
    assert ct.StudyDate == ""  # Z
    assert ct.SeriesDate == "19000101"  # X/D -> dummy
    assert ct.LongitudinalTemporalInformationModified == "REMOVED"
    assert not result.dates_shifted
    assert "StudyTime" not in ct or ct.StudyTime == ""  # Z


def test_pseudonym_without_patient_id_uses_name_and_birth_date() -> None:
    ds = read(sample_bytes("MR_small.dcm"))
    ds.PatientID = ""
    ds.PatientName = "Roe^Richard"
    ds.PatientBirthDate = "19700101"
    first = deid(encode(ds))[1].patient_pseudonym
    ds.PatientBirthDate = "19700102"
    assert deid(encode(ds))[1].patient_pseudonym != first


# -- options ---------------------------------------------------------------------------------


def test_patient_characteristics_option() -> None:
    data = sample_bytes("CT_small.dcm")
    original = read(data)
    kept, _ = deid(data)
    assert kept.PatientSex == original.PatientSex and kept.PatientAge == original.PatientAge
    assert kept.PatientWeight == original.PatientWeight
    dropped, result = deid(data, retain_patient_characteristics=False)
    assert dropped.PatientSex == ""  # Z
    assert "PatientAge" not in dropped and "PatientWeight" not in dropped  # X
    assert result.action_for("PatientAge") == {"removed"}


def test_device_and_institution_options() -> None:
    data = sample_bytes("CT_small.dcm")
    original = read(data)
    default, _ = deid(data)
    assert default.InstitutionName == "ANONYMIZED" and default.StationName == "ANONYMIZED"
    kept, _ = deid(data, retain_device_identity=True, retain_institution_identity=True)
    assert kept.InstitutionName == original.InstitutionName
    assert kept.StationName == original.StationName


def test_clean_descriptors_cuts_out_names_and_ids() -> None:
    ds = read(sample_bytes("CT_small.dcm"))
    ds.PatientName = "Mustermann^Erika"
    ds.PatientID = "ID-778899"
    ds.StudyDescription = "CT head for MUSTERMANN erika ID-778899 follow-up"
    ds.SeriesDescription = "axial 5mm"
    cleaned, result = deid(encode(ds))
    assert cleaned.StudyDescription == "CT head for ********** ***** ********* follow-up"
    assert cleaned.SeriesDescription == "axial 5mm"
    assert "cleaned" in result.action_for("StudyDescription")
    removed, _ = deid(encode(ds), clean_descriptors=False)
    assert "StudyDescription" not in removed and "SeriesDescription" not in removed


def test_safe_private_option() -> None:
    data = sample_bytes("CT_small.dcm")
    original = read(data)
    kept, result = deid(data)
    assert kept[0x00191023].value == original[0x00191023].value  # GEMS_ACQU_01 table speed
    assert kept[0x00190010].value == "GEMS_ACQU_01"
    assert 0x00090010 not in kept and 0x00091001 not in kept  # GEMS_IDEN_01 is not safe
    assert "kept-safe-private" in result.action_for("0019,1023")
    none, _ = deid(data, retain_safe_private=False)
    assert not [e.tag for e in none if e.tag.is_private]


def test_option_names_round_trip() -> None:
    options = DeidOptions.from_names(["retain-patient-characteristics", " clean_descriptors "])
    assert options.names() == ("retain_patient_characteristics", "clean_descriptors")
    assert not options.retain_safe_private
    assert DeidOptions.from_names(DeidOptions().names()) == DeidOptions()
    changed = DeidOptions().with_changes(
        enable=["retain-device-identity"], disable=["clean-descriptors"]
    )
    assert changed.retain_device_identity and not changed.clean_descriptors
    with pytest.raises(ValueError, match="unknown de-identification option"):
        DeidOptions.from_names(["retain_everything"])


def test_method_attributes_list_profile_and_options() -> None:
    ds, _ = deid(sample_bytes("MR_small.dcm"))
    assert ds.PatientIdentityRemoved == "YES"
    methods = list(ds.DeidentificationMethod)
    assert methods[0].startswith("PS3.15 2025a") and all(len(m) <= 64 for m in methods)
    codes = {item.CodeValue for item in ds.DeidentificationMethodCodeSequence}
    assert codes == {"113100", "113105", "113107", "113108", "113111"}
    assert {item.CodingSchemeDesignator for item in ds.DeidentificationMethodCodeSequence} == {
        "DCM"
    }
    meta = ds.file_meta
    assert meta.ImplementationVersionName == "DICOMPORTAL_DEID"
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


# -- structure -------------------------------------------------------------------------------


def test_nested_sequences_are_processed() -> None:
    ds = read(sample_bytes("CT_small.dcm"))
    item = Dataset()
    item.PatientID = "NESTED-ID-1"
    item.AccessionNumber = "ACC-NESTED"
    ds.OtherPatientIDsSequence = [item]
    ds.PatientName = "Nestor^Nina"
    request = Dataset()
    request.RequestedProcedureID = "RP-1"
    request.RequestedProcedureDescription = "MRI for NESTOR"
    ds.RequestAttributesSequence = [request]
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ref.ReferencedSOPInstanceUID = "1.2.3.4.5.6.7"
    ref.InstitutionName = "Nested Hospital"
    ds.ReferencedImageSequence = [ref]
    ds.ReferencedPatientSequence = [Dataset()]
    out, result = deid(encode(ds))
    assert result.action_for("OtherPatientIDsSequence") == {"removed"}
    assert "OtherPatientIDsSequence" not in out  # X
    assert "ReferencedPatientSequence" not in out  # X
    assert "RequestAttributesSequence" in out  # C with clean descriptors: items kept, cleaned
    assert "RequestedProcedureID" not in out.RequestAttributesSequence[0]  # X inside
    assert out.RequestAttributesSequence[0].RequestedProcedureDescription == "MRI for ******"
    image = out.ReferencedImageSequence[0]  # X/Z/U*: kept, UIDs inside remapped
    assert image.ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert image.ReferencedSOPInstanceUID == remap_uid("1.2.3.4.5.6.7", key=KEY)
    assert image.InstitutionName == "ANONYMIZED"


def test_request_attributes_removed_without_clean_descriptors() -> None:
    ds = read(sample_bytes("CT_small.dcm"))
    request = Dataset()
    request.RequestedProcedureID = "RP-1"
    ds.RequestAttributesSequence = [request]
    out, _ = deid(encode(ds), clean_descriptors=False)
    assert "RequestAttributesSequence" not in out


def test_overlays_are_removed_and_pixels_untouched() -> None:
    data = sample_bytes("MR-SIEMENS-DICOM-WithOverlays.dcm")
    original = read(data)
    assert [e for e in original if e.tag.group & 0xFF00 == 0x6000]
    out, result = deid(data)
    assert not [e for e in out if e.tag.group & 0xFF00 == 0x6000]
    assert out.PixelData == original.PixelData
    assert "removed" in result.action_for("6000,3000")


def test_deidentify_changes_the_given_dataset_in_place() -> None:
    ds = dcmread(sample_path("MR_small.dcm"))
    old_uid = ds.SOPInstanceUID
    result = deidentify(ds, key=KEY)
    assert ds.SOPInstanceUID == result.sop_instance_uid != old_uid
    assert ds.PatientID == result.patient_pseudonym
    with pytest.raises(ValueError):
        deidentify(dcmread(sample_path("MR_small.dcm")), key=b"")


def test_deidentify_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.dcm"
    result = deidentify_file(sample_path("CT_small.dcm"), target, key=KEY)
    assert dcmread(target).SOPInstanceUID == result.sop_instance_uid


# -- pixel review ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("CT_small.dcm", False),
        ("MR_small.dcm", False),
        ("liver.dcm", False),
        ("US1_J2KR.dcm", True),  # ultrasound
        ("SC_rgb_jpeg_dcmtk.dcm", True),  # secondary capture
        ("OT-PAL-8-face.dcm", True),
    ],
)
def test_needs_pixel_review(name: str, expected: bool) -> None:
    _, result = deid(sample_bytes(name))
    assert result.needs_pixel_review is expected
    assert bool(result.pixel_review_reason) is expected


def test_burned_in_annotation_flags() -> None:
    ds = read(sample_bytes("CT_small.dcm"))
    ds.BurnedInAnnotation = "YES"
    assert deid(encode(ds))[1].pixel_review_reason.startswith("Burned In Annotation is YES")
    us = read(sample_bytes("US1_J2KR.dcm"))
    us.BurnedInAnnotation = "NO"  # trusted for ultrasound
    assert not deid(encode(us))[1].needs_pixel_review
    sc = read(sample_bytes("SC_rgb_jpeg_dcmtk.dcm"))
    sc.BurnedInAnnotation = "NO"  # not trusted for a screen capture
    assert deid(encode(sc))[1].needs_pixel_review


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"%PDF-1.7\n" + b"x" * 300, "PDF"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 300, "JPEG"),
        (b"[autorun]\nopen=viewer.exe\n", "text"),
        (b"MZ" + b"\0" * 500, "Windows program"),
        (sample_bytes("CT_small.dcm")[:3000], "truncated"),
        (sample_bytes("MR_truncated.dcm"), "truncated"),
        (sample_bytes("rtplan_truncated.dcm"), "truncated"),
        (sample_bytes("nested_priv_SQ.dcm"), "SOP"),
    ],
)
def test_bad_input_gives_a_plain_error(data: bytes, words: str) -> None:
    with pytest.raises(DicomInputError) as caught:
        deidentify_bytes(data, key=KEY)
    assert words in str(caught.value)
    assert caught.value.message == str(caught.value)


def test_dicomdir_is_refused() -> None:
    data = (
        Path(str(sample_path("CT_small.dcm"))).parent / "dicomdirtests" / "DICOMDIR"
    ).read_bytes()
    with pytest.raises(DicomInputError, match="DICOMDIR"):
        deidentify_bytes(data, key=KEY)


def test_nothing_identifying_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    ds = read(sample_bytes("rtdose.dcm"))  # has an invalid UID pydicom warns about
    ds.PatientName = "Loggable^Lucy"
    ds.InstitutionName = "LOGGABLE HOSPITAL"
    with caplog.at_level(logging.DEBUG), _no_warnings():
        _, result = deid(encode(ds))
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "Loggable" not in text and "LOGGABLE" not in text and "0123.4567" not in text
    assert "Loggable" not in repr(result) and "LOGGABLE" not in repr(result)


@contextmanager
def _no_warnings() -> Iterator[None]:
    """Fail if a warning (which would quote a value) escapes the engine."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize(
    "name", ["chrRuss.dcm", "chrGreek.dcm", "chrJapMulti.dcm", "chrKoreanMulti.dcm", "chrX2.dcm"]
)
def test_names_in_other_character_sets_are_replaced(name: str) -> None:
    data = (Path(pydicom_data.__file__).parent / "charset_files" / name).read_bytes()
    original = read(data)
    parts = [p for p in re.split(r"[\^=]", str(original.PatientName)) if len(p) >= 2]
    assert parts
    ds, result = deid(data)
    text = " ".join(str(e.value) for e in ds.iterall() if e.VR in ("PN", "LO", "SH", "LT", "ST"))
    assert [p for p in parts if p in text] == []
    assert str(ds.PatientName) == result.patient_pseudonym
    assert ds.SpecificCharacterSet == original.SpecificCharacterSet
