"""Issue 18 in the viewer (real Chromium): overlays with orientation letters from Image
Orientation (Patient) and a scale bar from Pixel Spacing, toggled with "o"; the mouse
convention (OHIF/Weasis by default) kept per user; angle and rectangle tools; nested
sequences of the Attributes panel fold; the link from the viewer to the reading page."""

from __future__ import annotations

import json
import re
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file

from tests.conftest import browser_login
from tests.reports.factories import case_of
from uploads.models import Study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_viewer(page: Any, study: Study, email: str) -> None:
    browser_login(page, email)
    page.goto(f"/studies/{study.pk}/viewer/")
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=viewer-image]');"
        " return i.complete && i.naturalWidth > 0 && document.body.dataset.loaded === i.src; }"
    )


def centre(box: dict[str, float]) -> tuple[float, float]:
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_overlays_name_the_image_its_orientation_and_scale(
    page: Any, assigned_study: Study, radiologist: Any
) -> None:
    open_viewer(page, assigned_study, radiologist.email)
    page.get_by_test_id("viewer-orientation-left").get_by_text("R").wait_for()
    image = page.get_by_test_id("viewer-image").bounding_box()
    # CT_small is axial: R on the left edge, L right, A top, P bottom, each at its edge.
    for side, letter in {"left": "R", "right": "L", "top": "A", "bottom": "P"}.items():
        assert page.get_by_test_id(f"viewer-orientation-{side}").inner_text() == letter
    x, y = centre(page.get_by_test_id("viewer-orientation-left").bounding_box())
    assert image["x"] <= x <= image["x"] + 30 and abs(y - centre(image)[1]) < 3
    x, y = centre(page.get_by_test_id("viewer-orientation-top").bounding_box())
    assert image["y"] <= y <= image["y"] + 30 and abs(x - centre(image)[0]) < 3
    info = page.get_by_test_id("viewer-overlay-info").inner_text()
    assert "Series 1" in info and "Image 1 of 1" in info
    window = page.get_by_test_id("viewer-overlay-window").inner_text()
    assert "Zoom" in window and "W/L from the image" in window
    # The scale bar: its length in screen pixels is its millimetres at the shown scale.
    ds = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")), stop_before_pixels=True)
    scale = page.get_by_test_id("viewer-overlay-scale")
    mm, px = float(scale.get_attribute("data-mm")), float(scale.get_attribute("data-px"))
    column_spacing = float(ds.PixelSpacing[1])
    assert px == pytest.approx(mm / column_spacing * image["width"] / ds.Columns, abs=0.2)
    assert scale.inner_text().strip() in {f"{mm:g} mm", f"{mm / 10:g} cm"}
    page.keyboard.press("o")
    assert page.get_by_test_id("viewer-overlays").is_hidden()
    page.keyboard.press("o")
    assert page.get_by_test_id("viewer-overlays").is_visible()


def test_mouse_convention_is_ohif_by_default_and_kept_per_user(
    page: Any, assigned_study: Study, radiologist: Any
) -> None:
    open_viewer(page, assigned_study, radiologist.email)
    stage = page.get_by_test_id("viewer-stage").bounding_box()
    x, y = centre(stage)
    transform = page.get_by_test_id("viewer-image").evaluate("i => i.style.transform")
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 60, y + 40, steps=4)
    page.mouse.up()
    assert page.get_by_test_id("viewer-window").inner_text().startswith("W ")  # left: window
    assert page.get_by_test_id("viewer-image").evaluate("i => i.style.transform") == transform
    # Right-drag zooms.
    page.mouse.move(x, y)
    page.mouse.down(button="right")
    page.mouse.move(x, y - 80, steps=4)
    page.mouse.up(button="right")
    assert page.get_by_test_id("viewer-zoom").inner_text() != "100%"

    page.get_by_test_id("viewer-help-toggle").click()
    with page.expect_response("**/api/viewer/mouse/"):
        page.get_by_test_id("viewer-mouse").select_option("classic")
    radiologist.refresh_from_db()
    assert radiologist.viewer_mouse == "classic"
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.get_by_test_id("viewer-mouse").input_value() == "classic"
    before = page.get_by_test_id("viewer-image").bounding_box()
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 50, y + 30, steps=4)
    page.mouse.up()
    after = page.get_by_test_id("viewer-image").bounding_box()
    assert after["x"] == pytest.approx(before["x"] + 50, abs=2)  # classic: left pans


def drawn(page: Any) -> list[dict[str, Any]]:
    return list(json.loads(page.get_by_test_id("viewer-overlay").get_attribute("data-annotations")))


def test_angle_and_rectangle_tools_select_and_delete(
    page: Any, assigned_study: Study, radiologist: Any
) -> None:
    open_viewer(page, assigned_study, radiologist.email)
    box = page.get_by_test_id("viewer-image").bounding_box()

    def at(fx: float, fy: float) -> tuple[float, float]:
        return box["x"] + box["width"] * fx, box["y"] + box["height"] * fy

    page.keyboard.press("a")  # angle: drag the first arm, click the end of the second
    page.mouse.move(*at(0.2, 0.2))
    page.mouse.down()
    page.mouse.move(*at(0.5, 0.5), steps=4)
    page.mouse.up()
    page.mouse.click(*at(0.8, 0.5))
    (angle,) = drawn(page)
    assert angle["kind"] == "angle" and angle["text"] == "135.0°"
    page.keyboard.press("b")  # rectangle
    page.mouse.move(*at(0.1, 0.6))
    page.mouse.down()
    page.mouse.move(*at(0.4, 0.9), steps=4)
    page.mouse.up()
    page.wait_for_function(
        "() => JSON.parse(document.querySelector('[data-testid=viewer-overlay]')"
        ".dataset.annotations).some((a) => a.kind === 'rectangle' && a.result)"
    )
    assert [a["kind"] for a in drawn(page)] == ["angle", "rectangle"]
    assert "HU" in page.get_by_test_id("viewer-measure-result").inner_text()
    # Back to the mouse; a click on the angle selects it, Delete removes it only.
    page.keyboard.press("b")
    page.mouse.click(*at(0.35, 0.35))
    assert next(a for a in drawn(page) if a["kind"] == "angle")["selected"]
    page.keyboard.press("Delete")
    assert [a["kind"] for a in drawn(page)] == ["rectangle"]

    # The pixel-value tool reads the value under the cursor from the server (HU).
    page.keyboard.press("v")
    page.mouse.move(*at(0.5, 0.5))
    page.mouse.move(*at(0.52, 0.52))
    probe = page.get_by_test_id("viewer-probe")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=viewer-probe]').textContent.includes('HU')"
    )
    match = re.fullmatch(r"value at (\d+), (\d+): (-?[\d.]+) HU", probe.inner_text())
    assert match, probe.inner_text()
    x, y, value = int(match[1]), int(match[2]), float(match[3])
    assert abs(x - 0.52 * 128) <= 1 and abs(y - 0.52 * 128) <= 1
    ds = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    stored = ds.pixel_array[y, x] * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert abs(value - stored) <= 0.5


def test_nested_sequences_fold(page: Any, assigned_study: Study, radiologist: Any) -> None:
    open_viewer(page, assigned_study, radiologist.email)
    page.get_by_test_id("viewer-tags-toggle").click()
    panel = page.get_by_test_id("viewer-tags")
    fold = panel.get_by_role("button", name="Unfold OtherPatientIDsSequence")
    fold.wait_for()
    nested = panel.locator("tbody tr.collapsed-child")
    count = nested.count()
    assert count > 0 and nested.first.is_hidden()
    fold.click()
    assert panel.locator("tbody tr.collapsed-child").count() == 0
    panel.get_by_role("button", name="Fold OtherPatientIDsSequence").click()
    assert panel.locator("tbody tr.collapsed-child").count() == count
    # A search shows matching rows inside folded sequences too.
    page.get_by_test_id("viewer-tags-search").fill("TypeOfPatientID")
    visible = panel.locator("tbody tr:not([hidden])")
    assert visible.count() == 2 and visible.first.is_visible()  # in its two items


def test_viewer_links_to_the_reading_page_for_its_radiologist(
    page: Any, assigned_study: Study, radiologist: Any
) -> None:
    open_viewer(page, assigned_study, radiologist.email)
    with page.expect_navigation():
        page.get_by_test_id("viewer-report-link").click()
    assert page.url.endswith(f"/requests/{case_of(assigned_study).pk}/read/")
    page.get_by_test_id("report-findings").wait_for()
    assert page.frame(name="reading-viewer") is not None
