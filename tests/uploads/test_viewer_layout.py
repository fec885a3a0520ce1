"""Issue 18: layouts with earlier studies, linked scrolling, MPR with a crosshair (real
Chromium on the comparison page, ``frontend/src/layout.entry.js``).

The earlier study is made from the real MR series as a hospital would send a follow-up:
a new study and series (new UIDs), every other slice, the same patient; it is imported
through the pipeline, so it gets the same pseudonym (and pseudonymised Frame of Reference).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pydicom
import pytest
from PIL import Image
from pydicom.uid import generate_uid

from tests.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def prior_study(imported_study: Any, mr_series: list[Path], tmp_path: Path) -> Any:
    """Every other slice of the series as an earlier study of the same patient."""
    from django.core.management import call_command

    from uploads.models import Study

    study_uid, series_uid = generate_uid(), generate_uid()
    paths = []
    for n, path in enumerate(mr_series[::2]):
        ds = pydicom.dcmread(path)
        for tag in [e.tag for e in ds if e.tag.group == 0]:  # command set: not in files
            del ds[tag]
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.StudyDate = "20200101"
        out = tmp_path / f"prior{n}.dcm"
        ds.save_as(out)
        paths.append(out)
    owner = imported_study.owner
    call_command("import_dicom", *map(str, paths), "--owner", owner.email, stdout=io.StringIO())
    prior = Study.objects.exclude(pk=imported_study.pk).get(owner=owner)
    assert prior.patient_pseudonym == imported_study.patient_pseudonym != ""
    return prior


def viewport(page: Any, n: int) -> dict[str, Any]:
    """The viewport's dataset once its image is loaded and drawn."""
    page.wait_for_function(
        "n => { const v = document.querySelector(`[data-testid=layout-viewport-${n}]`);"
        " const i = v.querySelector('img'); return i.complete && i.naturalWidth > 0"
        " && v.dataset.loaded === i.getAttribute('src'); }",
        arg=n,
    )
    return dict(
        page.evaluate(
            "n => { const v = document.querySelector(`[data-testid=layout-viewport-${n}]`);"
            " const c = v.querySelector('canvas');"
            " return { ...v.dataset, lines: c.dataset.lines, cross: c.dataset.cross,"
            " src: v.querySelector('img').getAttribute('src') }; }",
            n,
        )
    )


def test_earlier_study_in_the_second_viewport_follows_by_slice_position(
    page: Any, patient: Any, imported_study: Any, prior_study: Any
) -> None:
    from uploads.models import Instance

    prior_positions = sorted(
        float(p or 0)
        for p in Instance.objects.filter(series__study=prior_study).values_list(
            "slice_position", flat=True
        )
    )
    assert len(prior_positions) == 10
    browser_login(page, patient.email)
    page.goto(f"/studies/{imported_study.pk}/layout/")
    page.wait_for_selector("body[data-ready=true]")
    left, right = viewport(page, 0), viewport(page, 1)
    assert left["study"] == str(imported_study.pk) and right["study"] == str(prior_study.pk)

    followed = set()
    box = page.get_by_test_id("layout-viewport-0").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for step in [1, 1, 1, -1, -1, -1, -1, -1, -1, -1]:
        before = left["index"]
        page.mouse.wheel(0, 100 * step)
        page.wait_for_function(
            "i => document.querySelector('[data-testid=layout-viewport-0]').dataset.index !== i",
            arg=before,
        )
        page.wait_for_timeout(50)
        left, right = viewport(page, 0), viewport(page, 1)
        position = float(left["position"])
        nearest = min(prior_positions, key=lambda p: abs(p - position))
        assert float(right["position"]) == pytest.approx(nearest, abs=1e-3), (left, right)
        followed.add(right["index"])
    assert len(followed) >= 4  # the earlier study moved with it, at its own pace

    # Unlinked (l), the earlier study stays where it is.
    page.keyboard.press("l")
    page.mouse.wheel(0, 300)
    page.wait_for_timeout(300)
    assert viewport(page, 1)["index"] == right["index"]


def test_keyboard_places_a_series_in_a_viewport(
    page: Any, patient: Any, imported_study: Any, prior_study: Any
) -> None:
    """No mouse: Shift+4 gives four viewports; a focused thumbnail goes where 3 says."""
    browser_login(page, patient.email)
    page.goto(f"/studies/{imported_study.pk}/layout/")
    page.wait_for_selector("body[data-ready=true]")
    page.keyboard.press("Shift+Digit4")
    assert page.get_by_test_id("layout-grid").get_attribute("data-layout") == "2x2"
    page.get_by_test_id(f"layout-series-prior{prior_study.pk}-0").focus()
    page.keyboard.press("3")
    assert viewport(page, 2)["study"] == str(prior_study.pk)
    # 1: the series' first preset (MR: automatic) in every viewport; 0: the default.
    page.get_by_test_id("layout-viewport-0").focus()
    page.keyboard.press("1")
    page.wait_for_function("() => document.querySelector('[data-testid=layout-preset]').value")
    assert all("preset=auto" in viewport(page, n)["src"] for n in range(3))
    page.keyboard.press("0")
    page.wait_for_function("() => !document.querySelector('[data-testid=layout-preset]').value")
    assert all("preset=" not in viewport(page, n)["src"] for n in range(3))


def test_mpr_crosshair_links_the_three_planes(page: Any, patient: Any, imported_study: Any) -> None:
    """A click in the axial plane moves the coronal and sagittal planes to the clicked
    point; the crosshair is drawn there; the shown planes are the server's planes."""
    browser_login(page, patient.email)
    page.goto(f"/studies/{imported_study.pk}/layout/")
    page.wait_for_selector("body[data-ready=true]")
    viewport(page, 0)
    page.keyboard.press("x")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=layout-viewport-2]')?.dataset.plane"
    )
    series = viewport(page, 0)["series"]
    info = page.request.get(f"/api/series/{series}/mpr/").json()
    planes = {viewport(page, n)["plane"]: n for n in range(3)}
    assert set(planes) == {"axial", "coronal", "sagittal"}

    axial = info["planes"]["axial"]
    image = page.get_by_test_id(f"layout-image-{planes['axial']}").bounding_box()
    fx, fy = 0.3, 0.7
    page.mouse.click(image["x"] + fx * image["width"], image["y"] + fy * image["height"])

    def voxel(fraction: float, n: int, flip: bool) -> int:
        c = fraction * n - 0.5
        return max(0, min(n - 1, round(n - 1 - c if flip else c)))

    across = voxel(fx, axial["columns"], axial["flip_horizontal"])  # along axial's h axis
    down = voxel(fy, axial["rows"], axial["flip_vertical"])
    for name in ("coronal", "sagittal"):
        plane = info["planes"][name]
        want = across if plane["fixed"] == axial["horizontal"] else down
        assert plane["fixed"] in (axial["horizontal"], axial["vertical"])
        page.wait_for_function(
            "([n, i]) => document.querySelector(`[data-testid=layout-viewport-${n}]`)"
            ".dataset.index === String(i)",
            arg=[planes[name], want],
        )
        shown = viewport(page, planes[name])
        assert f"/api/series/{series}/mpr/{name}.png?index={want}&" in shown["src"]
        png = Image.open(io.BytesIO(page.request.get(shown["src"]).body()))
        assert png.size[0] / png.size[1] == pytest.approx(plane["width"] / plane["height"], 0.02)
    # The crosshair in the axial plane is where the click was (within half a voxel).
    cross = json.loads(viewport(page, planes["axial"])["cross"])
    assert cross[0] == pytest.approx(fx, abs=1 / axial["columns"])
    assert cross[1] == pytest.approx(fy, abs=1 / axial["rows"])
    # The acquired (axial) stack in the fourth viewport shows the active coronal plane as
    # a reference line across it, at the crosshair's height in the axial plane.
    page.get_by_test_id(f"layout-viewport-{planes['coronal']}").focus()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=layout-overlay-3]').dataset.lines !== '[]'"
    )
    [line] = json.loads(viewport(page, 3)["lines"])
    assert line[1] == pytest.approx(cross[1], abs=0.02)
    assert line[3] == pytest.approx(cross[1], abs=0.02)
    page.keyboard.press("r")  # reference lines off
    page.wait_for_function(
        "() => document.querySelector('[data-testid=layout-overlay-3]').dataset.lines === '[]'"
    )


def test_the_page_fits_a_phone_passes_axe_and_tabs_in_order(
    browser: Any, live_server: Any, patient: Any, imported_study: Any, prior_study: Any
) -> None:
    """At 360 and 390 px: no sideways scroll, no serious axe-core violation; at desktop
    width Tab reaches every control in order with a visible focus ring, and the only
    pointer-driven elements are the viewports (focusable; their keys are in the help)."""
    from tests.a11y import axe_violations, click_only_elements, describe, sideways_scroll, tab_walk

    context = browser.new_context(base_url=live_server.url, bypass_csp=True)  # axe is inline
    context.set_default_timeout(15000)
    page = context.new_page()
    browser_login(page, patient.email)
    for width in (360, 390):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(f"/studies/{imported_study.pk}/layout/")
        page.wait_for_selector("body[data-ready=true]")
        viewport(page, 1)
        assert sideways_scroll(page, width) == ""
        assert describe(axe_violations(page)) == []
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"/studies/{imported_study.pk}/layout/")
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_load_state("networkidle")
    assert tab_walk(page) == []
    viewports = tuple(f"layout-viewport-{n}" for n in range(4))
    assert click_only_elements(page, ".layout-room", exempt=viewports) == []
    context.close()
