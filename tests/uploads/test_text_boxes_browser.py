"""Headless Chromium at phone width, real Tesseract: the box editor asks the portal for the
text in a flagged ultrasound with a name and an ID burned in; the boxes over them are
placed (red) before the uploader does anything, other text is offered as suggestions, the
page says that a small copy of the image is sent, only that copy leaves the browser before
Send (never the file, never its names, ID or dates: the browser matches the words the portal
read against them itself), and the file that arrives is blacked out there (issue 20)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from django.core.files.storage import default_storage

from portal.audit.models import AuditEvent
from tests.a11y import axe_violations, describe, sideways_scroll
from tests.dicom.burn import burn
from tests.uploads.test_box_editor_browser import PHONE, phone_page  # noqa: F401 - fixture
from tests.uploads.test_browser_deid import open_upload_page
from uploads.dicom.pixels import ocr_available
from uploads.models import Instance

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("require_postgres"),
    pytest.mark.skipif(not ocr_available(), reason="tesseract is not installed"),
]
#: Burned into the dark lower left of the real 640 x 480 ultrasound (away from its own text).
LABELS = [("DOE^JOHN", True), ("ID 4711-0815", True)]
POSITIONS = [(30, 400), (30, 420)]


def boxes_of(page: Any, selector: str = "[data-testid=pixel-mask-box]") -> list[dict[str, Any]]:
    return page.eval_on_selector_all(
        selector,
        """els => els.map(e => ({x: +e.dataset.x, y: +e.dataset.y, w: +e.dataset.w,
             h: +e.dataset.h, detected: e.classList.contains('detected')}))""",
    )


def covers(box: dict[str, Any], x: int, y: int, w: int, h: int) -> bool:
    return (
        box["x"] <= x and box["y"] <= y and box["x"] + box["w"] >= x + w
        and box["y"] + box["h"] >= y + h
    )  # fmt: skip


def test_detected_name_is_boxed_before_sending_and_only_a_small_copy_leaves(
    phone_page: Any,  # noqa: F811 - the fixture
    patient: Any,
    tmp_path: Path,
) -> None:
    page = phone_page
    burned = burn("US1_UNCR.dcm", positions=POSITIONS, labels=LABELS)
    folder = tmp_path / "us"
    folder.mkdir()
    (folder / "us.dcm").write_bytes(burned.data)
    original = pydicom.dcmread(io.BytesIO(burned.data)).pixel_array
    requests: list[tuple[str, bytes]] = []
    page.on("request", lambda r: requests.append((r.url, bytes(r.post_data_buffer or b""))))

    open_upload_page(page, patient.email)
    page.get_by_test_id("upload-folder-input").set_input_files(folder)
    page.get_by_test_id("upload-status").filter(has_text="press Send").wait_for()
    found = page.get_by_test_id("pixel-mask-detected").filter(has_text="red box")
    found.wait_for(timeout=30000)
    note = page.get_by_test_id("pixel-mask-detect-note").inner_text()
    assert "a small copy of this image (not the file) is sent to the portal" in note
    assert "it is not kept" in note
    assert "with the names, numbers and dates" not in note

    # The name and the ID are boxed (red) where they were burned in; the default top band
    # of an ultrasound is there too.
    boxes = boxes_of(page)
    detected = [b for b in boxes if b["detected"]]
    (_, _, nx, ny, nw, nh), (_, _, ix, iy, iw, ih) = burned.placed
    assert any(covers(b, nx, ny, nw, nh) for b in detected), (burned.placed, boxes)
    # the "ID" label itself is not identifying: the number is boxed
    assert any(covers(b, ix + 20, iy, iw - 20, ih) for b in detected), (burned.placed, boxes)
    assert {"x": 0, "y": 0, "w": 640, "h": 48, "detected": False} in boxes
    # Other text (the scanner's labels) is offered; one click adds a box over it.
    suggested = boxes_of(page, "[data-testid=pixel-mask-suggested]")
    assert suggested and not any(covers(s, nx, ny, nw, nh) for s in suggested)
    count = len(boxes)
    page.get_by_test_id("pixel-mask-suggestion").first.click()
    assert page.get_by_test_id("pixel-mask-box").count() == count + 1
    assert sideways_scroll(page, PHONE["width"]) == ""
    assert describe(axe_violations(page)) == []

    # Before Send, the only body that left the page is the small PNG copy: no part of the
    # file (its header, its pixel data) is in any request.
    sent_before = list(requests)
    previews = [body for url, body in sent_before if url.endswith("/api/uploads/text-boxes/")]
    assert len(previews) == 1
    preview = previews[0]
    assert b"\x89PNG\r\n\x1a\n" in preview and len(preview) < len(burned.data) // 3
    pixel_data = pydicom.dcmread(io.BytesIO(burned.data)).PixelData
    needles = [burned.data[:512], *(pixel_data[i : i + 256] for i in range(0, 921600, 92160))]
    for _, body in sent_before:
        assert not any(needle in body for needle in needles)
    assert b"DICM" not in preview
    # and none of the file's header values, as text, in any request (body or address):
    # the name, the ID and the birth date stay on this computer
    header_values = [b"DOE^JOHN", b"DOE", b"JOHN", b"4711-0815", b"4711", b"0815", b"19710305"]
    for url, body in sent_before:
        assert not any(value in url.encode() for value in header_values), url
        assert not [value for value in header_values if len(value) > 3 and value in body], url
        assert b"PatientName" not in body and b'name="values"' not in body

    page.get_by_test_id("upload-question").fill("Is the name gone?")
    page.get_by_test_id("upload-start").click()
    page.get_by_test_id("upload-status").filter(has_text="Done").wait_for(timeout=60000)
    (instance,) = Instance.objects.filter(series__study__owner=patient)
    pixels = pydicom.dcmread(io.BytesIO(default_storage.open(instance.file).read())).pixel_array
    # the name and the number are black in the file that arrived
    assert (pixels[ny : ny + nh, nx : nx + nw] == 0).all()
    assert (pixels[iy : iy + ih, ix + 20 : ix + iw] == 0).all()
    # and nothing outside the boxes changed
    outside = np.ones(pixels.shape[:2], dtype=bool)
    for b in boxes_of(page):
        outside[b["y"] : b["y"] + b["h"], b["x"] : b["x"] + b["w"]] = False
    assert np.array_equal(pixels[outside], original[outside])
    (event,) = AuditEvent.objects.filter(action="pixels.preview_detected")
    assert set(event.detail) == {"boxes"} and event.detail["boxes"] >= 2
