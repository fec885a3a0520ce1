"""Issue 18: the signed report's measurements as a DICOM SR (TID 1500 Measurement Report)
in the study's DICOM export; highdicom reads it back and dciodvfy (dicom3tools) finds no
error in it."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import Comprehensive3DSRStorage

from reports import services
from reports.sr import build_sr
from tests.conftest import missing
from tests.reports.factories import case_of, sign_report
from uploads.models import Instance, Study
from uploads.sharing.exports import write_dicom_zip

pytestmark = pytest.mark.django_db


def signed_with_annotations(study: Study, radiologist: Any) -> Any:
    instance = Instance.objects.filter(series__study=study).order_by("pk")[0]
    marks = [
        {"id": "a1", "instance_id": instance.pk, "frame": 0, "kind": "length",
         "points": [[10, 64], [74, 64]]},
        {"id": "a2", "instance_id": instance.pk, "frame": 0, "kind": "angle",
         "points": [[10, 10], [40, 40], [70, 40]]},
        {"id": "a3", "instance_id": instance.pk, "frame": 0, "kind": "rectangle",
         "points": [[20, 30], [50, 70]]},
        {"id": "a4", "instance_id": instance.pk, "frame": 0, "kind": "ellipse",
         "points": [[30, 40], [90, 70]]},
        {"id": "a5", "instance_id": instance.pk, "frame": 0, "kind": "probe",
         "points": [[5, 5]]},
    ]  # fmt: skip
    services.save_draft(case_of(study), radiologist, {"annotations": marks})
    return sign_report(study, radiologist)


def exported_sr(study: Study) -> tuple[bytes, zipfile.ZipFile]:
    out = io.BytesIO()
    write_dicom_zip(study, out)
    archive = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    for name in archive.namelist():
        if name == "DICOMDIR":
            continue
        data = archive.read(name)
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        if ds.SOPClassUID == Comprehensive3DSRStorage:
            return data, archive
    raise AssertionError(f"no SR in the export: {archive.namelist()}")


def hu() -> np.ndarray:
    ds = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    return ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def test_export_holds_a_measurement_report_highdicom_reads(
    assigned_study: Study, radiologist: Any
) -> None:
    signed_with_annotations(assigned_study, radiologist)
    data, archive = exported_sr(assigned_study)
    sr = hd.sr.srread(io.BytesIO(data))
    assert isinstance(sr, hd.sr.Comprehensive3DSR)
    image = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")), stop_before_pixels=True)
    assert sr.StudyInstanceUID == image.StudyInstanceUID  # in the study it measures
    report = sr.content
    groups = sr.content.get_planar_roi_measurement_groups()
    assert len(groups) == 4  # the probe is a point, not a region
    values = {
        g.tracking_identifier: {
            m.name.meaning: (m.value, m.unit.value) for m in g.get_measurements()
        }
        for g in groups
    }
    spacing = [float(v) for v in image.PixelSpacing]
    assert values["Length 1"]["Length"][0] == pytest.approx(64 * spacing[1], abs=1e-3)
    assert values["Length 1"]["Length"][1] == "mm"
    assert values["Angle 2"]["Angle"] == (pytest.approx(135.0, abs=1e-3), "deg")
    rect = values["Rectangle ROI 3"]
    assert rect["Mean"][0] == pytest.approx(hu()[30:70, 20:50].mean(), abs=1e-3)
    assert rect["Mean"][1] == "[hnsf'U]"
    assert rect["Area"] == (pytest.approx(1200 * spacing[0] * spacing[1], abs=1e-3), "mm2")
    ellipse = next(g for g in groups if g.tracking_identifier == "Ellipse ROI 4")
    region = ellipse.roi
    assert region.graphic_type == hd.sr.GraphicTypeValues.ELLIPSE
    np.testing.assert_allclose(region.value, [[30, 55], [90, 55], [60, 40], [60, 70]])
    assert report is not None
    # The DICOMDIR lists it with the images.
    dicomdir = pydicom.dcmread(io.BytesIO(archive.read("DICOMDIR")))
    kinds = [r.DirectoryRecordType for r in dicomdir.DirectoryRecordSequence]
    assert "SR DOCUMENT" in kinds


def test_dciodvfy_finds_no_error_in_the_sr(
    assigned_study: Study, radiologist: Any, tmp_path: Path
) -> None:
    if not shutil.which("dciodvfy"):
        missing("dciodvfy not found (apt-get install dicom3tools)")
    signed_with_annotations(assigned_study, radiologist)
    data, _ = exported_sr(assigned_study)
    path = tmp_path / "sr.dcm"
    path.write_bytes(data)
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    output = result.stdout + result.stderr
    errors = [line for line in output.splitlines() if line.startswith("Error")]
    assert errors == [], output


def test_no_sr_without_a_signed_report_with_measurements(
    assigned_study: Study, radiologist: Any
) -> None:
    version = sign_report(assigned_study, radiologist)
    assert build_sr(version) is None
    out = io.BytesIO()
    write_dicom_zip(assigned_study, out)
    names = zipfile.ZipFile(io.BytesIO(out.getvalue())).namelist()
    assert len(names) == 2  # the DICOMDIR and the one image
