"""The radiotherapy overlay of the viewer: a real RT set (dicompyler-core's example: CT
slice, structure set, plan, dose) imported through the pipeline, so de-identified (the
frame of reference and plan references are remapped consistently); the overlay API;
and the viewer drawing it in headless Chromium."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.core.management import call_command
from pydicom.uid import generate_uid

from tests.conftest import ARTIFACTS, browser_login
from tests.dicom.test_rt import RT_SET
from tests.reports.factories import add_instance
from uploads.models import Instance, Study

MOVED_Z = -8.44  # a plane with contours of the tumour bed, the heart and the lungs


def rt_folder(tmp_path: Path) -> Path:
    """The RT set plus the CT slice moved to MOVED_Z (a second image of the series, for a
    plane the dose reaches: the set has only the slice at the top of the plan)."""
    if not (RT_SET / "rtdose.dcm").exists():
        pytest.skip("dicompyler-core test data not fetched (scripts/fetch_testdata.py)")
    folder = tmp_path / "rt"
    shutil.copytree(RT_SET, folder)
    ct = pydicom.dcmread(folder / "ct.0.dcm")
    ct.ImagePositionPatient = [-275.0, -524.0, MOVED_Z]
    ct.SliceLocation = MOVED_Z
    ct.InstanceNumber = 2
    ct.SOPInstanceUID = generate_uid()
    ct.file_meta.MediaStorageSOPInstanceUID = ct.SOPInstanceUID
    ct.save_as(folder / "ct.1.dcm")
    return folder


def import_rt(tmp_path: Path, owner: Any) -> Study:
    out = io.StringIO()
    call_command("import_dicom", str(rt_folder(tmp_path)), "--owner", owner.email, stdout=out)
    return Study.objects.get(owner=owner)


def ct_at(study: Study, z: float) -> Instance:
    return next(
        i
        for i in Instance.objects.filter(series__study=study, series__modality="CT")
        if i.slice_position is not None and abs(i.slice_position - z) < 0.01
    )


@pytest.mark.django_db
def test_overlay_of_a_real_rt_set_after_de_identification(
    tmp_path: Path, patient: Any, login: Any
) -> None:
    study = import_rt(tmp_path, patient)
    client = login(patient)
    manifest = client.get(f"/api/studies/{study.pk}/manifest/").json()
    assert sorted(o["modality"] for o in manifest["rt"]) == ["RTDOSE", "RTPLAN", "RTSTRUCT"]

    top = client.get(f"/api/instances/{ct_at(study, 168.56).pk}/rt/").json()
    assert [s["name"] for s in top["structures"]] == ["BODY"]
    points = [v for path in top["structures"][0]["paths"] for v in path]
    assert min(points) > 0 and max(points) < 512  # in the image
    assert top["isodose"] == []  # 0.01 Gy at the top of the plan: below every level
    assert top["reference"] == {"dose": 14.0, "units": "GY", "source": "plan prescription"}

    moved = client.get(f"/api/instances/{ct_at(study, MOVED_Z).pk}/rt/").json()
    names = {s["name"] for s in moved["structures"]}
    assert {"BODY", "Tumor Bed", "Heart", "Lt Lung"} <= names
    percents = [line["percent"] for line in moved["isodose"]]
    assert {100, 95, 50} <= set(percents)
    line = next(line for line in moved["isodose"] if line["percent"] == 95)
    assert line["dose"] == pytest.approx(13.3) and len(line["segments"]) % 4 == 0
    assert moved["note"] == ""


@pytest.mark.django_db
def test_overlay_of_a_study_without_rt_objects_says_so(patient: Any, login: Any) -> None:
    study = Study.objects.create(owner=patient)
    instance = add_instance(study)
    response = login(patient).get(f"/api/instances/{instance.pk}/rt/")
    assert response.status_code == 200
    data = response.json()
    assert data["structures"] == [] and data["isodose"] == []
    assert data["note"] == "no RT structure set or dose in this study"
    assert login(patient).get(f"/api/instances/{instance.pk}/rt/?frame=x").status_code == 400


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_viewer_draws_the_rt_overlay(page: Any, patient: Any, tmp_path: Path) -> None:
    study = import_rt(tmp_path, patient)
    browser_login(page, patient.email)
    page.goto(f"/studies/{study.pk}/viewer/")
    page.wait_for_selector("body[data-ready=true]")
    toggle = page.get_by_test_id("viewer-rt-toggle")
    assert toggle.is_visible()
    # The CT series opens on its middle image; go to the moved slice (lower position).
    page.keyboard.press("Home")
    page.wait_for_function("() => document.body.dataset.loaded")
    toggle.click()
    page.wait_for_function("() => document.body.dataset.rtDrawn")
    legend = page.get_by_test_id("viewer-rt-legend")
    assert legend.is_visible()
    assert "Tumor Bed" in legend.inner_text() and "95%" in legend.inner_text()
    coloured = page.evaluate(
        """() => {
          const c = document.querySelector('[data-testid=viewer-overlay]');
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
          return n;
        }"""
    )
    assert coloured > 500  # lines were drawn
    page.screenshot(path=str(ARTIFACTS / "viewer-rt-moved-slice.png"))
    drawn = page.evaluate("() => document.body.dataset.rtDrawn")
    page.keyboard.press("End")  # the acquired slice: the overlay follows the scroll
    page.wait_for_function(f"() => document.body.dataset.rtDrawn !== '{drawn}'")
    page.wait_for_function("() => /^BODY/.test(document.querySelector("
                           "'[data-testid=viewer-rt-legend]').innerText)")  # fmt: skip
    assert "Tumor Bed" not in legend.inner_text()
    page.screenshot(path=str(ARTIFACTS / "viewer-rt.png"))
    page.keyboard.press("r")  # off again
    page.wait_for_function("() => document.querySelector('[data-testid=viewer-rt-legend]').hidden")
