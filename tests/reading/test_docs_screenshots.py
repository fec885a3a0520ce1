"""The screenshots of docs/viewer.md, taken by Playwright on the reading page (issue 18).

Run ``WRITE_DOCS_SCREENSHOTS=1 .venv/bin/python -m pytest tests/reading/test_docs_screenshots.py``
to write them to ``docs/images/``; without it they go to a temporary folder. Either way
the test checks what they must show: the viewer beside the report with an ellipse's
statistics, a length, the overlays and the orientation letters; the help with every
shortcut; the stacked layout on a phone. PNGs are reduced to 128 colours to stay small.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from tests.reading.test_reading_browser import MEASURED, drag, drawn, open_reading
from uploads.models import Instance, Study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def target(tmp_path: Path) -> Path:
    folder = DOCS_IMAGES if os.environ.get("WRITE_DOCS_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save(page: Any, path: Path, **kwargs: Any) -> Path:
    page.screenshot(path=str(path), **kwargs)
    Image.open(path).convert("RGB").quantize(128).save(path, optimize=True)
    return path


def test_screenshots_of_the_reading_room(
    page: Any, assigned_study: Study, radiologist: Any, tmp_path: Path
) -> None:
    folder = target(tmp_path)
    # As ingest indexes it (the reporting factory leaves it out): lengths in mm.
    ds = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")), stop_before_pixels=True)
    Instance.objects.filter(series__study=assigned_study).update(
        pixel_spacing=[float(v) for v in ds.PixelSpacing]
    )
    page.set_viewport_size({"width": 1280, "height": 760})
    frame = open_reading(page, assigned_study, radiologist.email)
    frame.get_by_test_id("viewer-orientation-left").get_by_text("R").wait_for()
    frame.get_by_test_id("viewer-tool-ellipse").click()
    drag(page, frame, (0.3, 0.55), (0.62, 0.8))
    frame.wait_for_function(MEASURED)
    frame.get_by_test_id("viewer-measure").click()
    drag(page, frame, (0.3, 0.25), (0.7, 0.25))
    frame.get_by_test_id("viewer-measure").click()
    page.get_by_test_id("report-findings").fill("Soft-tissue region measured on the key image.")
    frame.get_by_test_id("viewer-key-image").click()
    page.get_by_test_id("key-image-list").get_by_test_id("key-image").wait_for()
    texts = [a["text"] for a in drawn(frame)]
    assert texts[0].startswith("mean ") and "HU" in texts[0] and texts[1].endswith(" mm")
    reading = save(page, folder / "reading-room.png")

    frame.get_by_test_id("viewer-help-toggle").click()
    help_box = frame.get_by_test_id("viewer-help")
    for key in ("m: length", "a: angle", "b: rectangle", "e: ellipse", "v: pixel value",
                "o: text overlay", "k: add this view", "Esc"):  # fmt: skip
        assert key in help_box.inner_text(), key
    shortcuts = save(page, folder / "viewer-help.png", clip=help_box.bounding_box())

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.frame(name="reading-viewer").wait_for_selector("body[data-ready=true]")
    viewer = page.get_by_test_id("reading-viewer").bounding_box()
    editor = page.get_by_test_id("report-findings").bounding_box()
    assert editor["y"] > viewer["y"] + viewer["height"] - 1  # stacked: the report below
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.evaluate("window.scrollTo(0, 0)")
    phone = save(page, folder / "reading-room-phone.png")
    for path in (reading, shortcuts, phone):
        assert path.stat().st_size < 200_000, path
