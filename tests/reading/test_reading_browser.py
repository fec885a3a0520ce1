"""Issue 18, done-when (real Chromium): on the reading page an ROI's mean equals numpy on
the stored pixels in HU within 0.5; a key image taken from the viewport with its
annotation appears, drawn, in the signed PDF (rendered with pdftoppm); the annotations
are saved with the draft and come back after a reload where they were drawn."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from django.core.files.storage import default_storage
from PIL import Image

from reports import tasks
from reports.models import ReportVersion, VersionStatus
from tests.conftest import browser_login, missing
from tests.reports.factories import case_of
from uploads.models import Instance, Study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_reading(page: Any, study: Study, email: str) -> Any:
    """The reading page, with its embedded viewer ready and its image shown."""
    browser_login(page, email)
    page.goto(f"/requests/{case_of(study).pk}/read/")
    page.get_by_test_id("reading-frame").wait_for()
    frame = page.frame(name="reading-viewer")
    assert frame is not None
    frame.wait_for_selector("body[data-ready=true]")
    frame.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=viewer-image]');"
        " return i.complete && i.naturalWidth > 0 && document.body.dataset.loaded === i.src; }"
    )
    return frame


def drag(page: Any, frame: Any, a: tuple[float, float], b: tuple[float, float]) -> None:
    """Press at ``a`` and release at ``b`` (fractions of the image's box)."""
    box = frame.get_by_test_id("viewer-image").bounding_box()
    page.mouse.move(box["x"] + box["width"] * a[0], box["y"] + box["height"] * a[1])
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * b[0], box["y"] + box["height"] * b[1], steps=5)
    page.mouse.up()


def drawn(frame: Any) -> list[dict[str, Any]]:
    return list(
        json.loads(frame.get_by_test_id("viewer-overlay").get_attribute("data-annotations") or "[]")
    )


# Some annotation on the canvas has its statistics from the server.
MEASURED = (
    "() => JSON.parse(document.querySelector('[data-testid=viewer-overlay]')"
    ".dataset.annotations || '[]').some((a) => a.result && a.result.mean !== undefined)"
)


def stored_hu(instance: Instance) -> np.ndarray:
    with default_storage.open(instance.file, "rb") as handle:
        ds = pydicom.dcmread(handle)
    return ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def saved(study: Study) -> list[dict[str, Any]]:
    version = ReportVersion.objects.filter(report__study=study).order_by("-number").first()
    return list(version.annotations) if version else []


def test_roi_mean_is_numpy_on_the_stored_hounsfield_units(
    page: Any, assigned_study: Study, radiologist: Any
) -> None:
    instance = Instance.objects.get(series__study=assigned_study)
    frame = open_reading(page, assigned_study, radiologist.email)
    frame.get_by_test_id("viewer-tool-ellipse").click()
    drag(page, frame, (0.3, 0.35), (0.7, 0.6))
    frame.wait_for_function(MEASURED)
    mark = drawn(frame)[0]
    assert mark["kind"] == "ellipse" and mark["text"].startswith("mean ")
    # The ellipse as saved in the draft, in image coordinates, and numpy on the same pixels
    # (centres inside), independently of the server's code.
    frame.get_by_test_id("viewer-annotations-status").get_by_text(
        "saved with the report"
    ).wait_for()
    (stored,) = saved(assigned_study)
    (x0, y0), (x1, y1) = stored["points"]
    assert mark["image"] == stored["points"]
    assert (x0, y0, x1, y1) == pytest.approx((0.3 * 128, 0.35 * 128, 0.7 * 128, 0.6 * 128), abs=1.5)
    hu = stored_hu(instance)
    cols, rows = np.meshgrid(np.arange(hu.shape[1]) + 0.5, np.arange(hu.shape[0]) + 0.5)
    inside = (((cols - (x0 + x1) / 2) / ((x1 - x0) / 2)) ** 2
              + ((rows - (y0 + y1) / 2) / ((y1 - y0) / 2)) ** 2) <= 1  # fmt: skip
    assert inside.sum() > 300
    assert abs(mark["result"]["mean"] - hu[inside].mean()) <= 0.5
    assert mark["result"]["unit"] == "HU"
    # Not the PNG: the rendered grey levels' mean is nowhere near the HU mean.
    assert abs(hu[inside].mean()) > 255 or hu[inside].min() < 0

    # The drawn ellipse's box is where the image coordinates say, in stage pixels (read
    # again: the statistics' text in the status bar may have moved the image since).
    page.wait_for_timeout(300)
    mark = drawn(frame)[0]
    image = frame.get_by_test_id("viewer-image").bounding_box()
    stage = frame.get_by_test_id("viewer-stage").bounding_box()
    (ax, ay), (bx, by) = mark["points"]
    left, top = image["x"] - stage["x"], image["y"] - stage["y"]
    assert (ax, ay, bx, by) == pytest.approx(
        (left + x0 / 128 * image["width"], top + y0 / 128 * image["height"],
         left + x1 / 128 * image["width"], top + y1 / 128 * image["height"]), abs=2
    )  # fmt: skip

    # A reload: the annotation comes back from the draft, measured again.
    page.reload()
    frame = (
        open_reading(page, assigned_study, radiologist.email)
        if "/login" in page.url
        else page.frame(name="reading-viewer")
    )
    frame.wait_for_selector("body[data-ready=true]")
    frame.wait_for_function(MEASURED)
    assert drawn(frame)[0]["image"] == stored["points"]


def yellow(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(int)
    return (rgb[..., 0] > 200) & (rgb[..., 1] > 170) & (rgb[..., 1] < 240) & (rgb[..., 2] < 90)


def test_key_image_with_its_annotation_is_in_the_signed_pdf(
    page: Any, assigned_study: Study, radiologist: Any, tmp_path: Path
) -> None:
    if not shutil.which("pdftoppm"):
        missing("pdftoppm not found (apt-get install poppler-utils)")
    frame = open_reading(page, assigned_study, radiologist.email)
    frame.get_by_test_id("viewer-measure").click()
    drag(page, frame, (0.2, 0.5), (0.8, 0.5))  # a horizontal line across the middle
    assert len(drawn(frame)) == 1
    frame.get_by_test_id("viewer-key-image").click()
    # The editor beside the viewer lists it at once (and keeps it when it autosaves).
    page.get_by_test_id("key-image-list").get_by_test_id("key-image").wait_for()
    page.get_by_test_id("report-findings").fill("Nodule measured on the key image.")
    page.get_by_test_id("report-impression").fill("Stable nodule.")
    page.on("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_test_id("report-sign").click()
    version = ReportVersion.objects.get(report__study=assigned_study, status=VersionStatus.SIGNED)
    assert len(version.key_images) == 1 and len(version.annotations) == 1
    # The web report names the measurement under the picture (its text alternative).
    caption = page.get_by_test_id("report-key-images").locator("figcaption").inner_text()
    assert caption.startswith("Series 1, image 1") and "— length " in caption
    assert caption.endswith(" mm") or caption.endswith(" px")
    name = version.pdf or tasks.generate_report_pdf.delay(version.pk).get()
    path = tmp_path / "report.pdf"
    with default_storage.open(name, "rb") as handle:
        path.write_bytes(handle.read())
    subprocess.run(["pdftoppm", "-png", "-r", "100", str(path), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    found = []
    for png in pages:
        rgb = np.asarray(Image.open(png).convert("RGB"))
        mask = yellow(rgb)
        if not mask.any():
            continue
        # The key image: the box of rows and columns mostly not white (text lines are
        # narrower). The line is the most yellow row: across the middle of the image,
        # from 20 % to 80 % of its width (its label is written below its right end).
        ink = rgb.astype(int).sum(axis=2) < 720
        rows = np.nonzero(ink.sum(axis=1) > 250)[0]
        top, bottom = rows.min(), rows.max()
        cols = np.nonzero(ink[top : bottom + 1].sum(axis=0) > 0.9 * (bottom - top))[0]
        left, right = cols.min(), cols.max()
        height, width = bottom - top, right - left
        assert width > 200 and height > 200
        box = mask[top : bottom + 1, left : right + 1]
        line_row = int(np.argmax(box.sum(axis=1)))
        assert line_row == pytest.approx(0.5 * height, abs=0.02 * height)
        xs = np.nonzero(box[line_row - 1 : line_row + 2].any(axis=0))[0]
        assert xs.min() == pytest.approx(0.2 * width, abs=0.03 * width)
        assert xs.max() == pytest.approx(0.8 * width, abs=0.03 * width)
        assert not box[: int(0.4 * height)].any(), "yellow away from the line"
        found.append(png)
    assert found, "no annotation colour on any page of the signed PDF"
