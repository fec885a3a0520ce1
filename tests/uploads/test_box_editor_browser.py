"""Headless Chromium at phone width: the uploader places a box over an image flagged for
burned-in text, moves it with the mouse and the keyboard, and the file that arrives on the
server is blacked out exactly there (issue 20). The same upload checks that a name found
in one file of the study is cut out of another file's descriptors by the browser."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from django.core.files.storage import default_storage

from tests.a11y import axe_violations, click_only_elements, describe, sideways_scroll, tab_walk
from tests.dicom.test_deid_names import study_files
from tests.uploads.test_browser_deid import open_upload_page
from uploads.models import Instance, Study, StudyStatus

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("require_postgres"),
]
PHONE = {"width": 390, "height": 844}
CT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.2"


def box_of(page: Any) -> dict[str, int]:
    box = page.get_by_test_id("pixel-mask-box")
    return {k: int(box.get_attribute(f"data-{k}")) for k in ("x", "y", "w", "h")}


@pytest.fixture
def phone_page(browser: Any, live_server: Any, settings: Any) -> Any:
    settings.SITE_URL = live_server.url
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, bypass_csp=True)
    context.set_default_timeout(15000)
    yield context.new_page()
    context.close()


def test_the_moved_box_is_blacked_out_in_the_file_that_arrives(
    phone_page: Any, patient: Any, tmp_path: Path
) -> None:
    page = phone_page
    folder = tmp_path / "study"
    folder.mkdir()
    ct_bytes, mr_bytes = study_files()
    ct = pydicom.dcmread(io.BytesIO(ct_bytes))
    ct.BurnedInAnnotation = "YES"  # flagged: the editor shows it
    out = io.BytesIO()
    ct.save_as(out, enforce_file_format=True)
    (folder / "ct.dcm").write_bytes(out.getvalue())
    (folder / "mr.dcm").write_bytes(mr_bytes)
    original = pydicom.dcmread(io.BytesIO(out.getvalue())).pixel_array

    open_upload_page(page, patient.email)
    page.get_by_test_id("upload-folder-input").set_input_files(folder)
    page.get_by_test_id("upload-status").filter(has_text="press Send").wait_for()
    page.get_by_test_id("pixel-mask-detected").filter(has_text="The portal").wait_for()
    editor = page.get_by_test_id("pixel-mask-editor")
    assert editor.count() == 1
    assert page.get_by_test_id("pixel-mask-box").count() == 0  # a CT starts without boxes
    assert "Nothing will be blacked out" in page.get_by_test_id("pixel-mask-summary").inner_text()

    page.get_by_test_id("pixel-mask-add").click()
    assert box_of(page) == {"x": 48, "y": 56, "w": 32, "h": 16}  # centred, a quarter wide
    # Mouse: drag the box to the left and up, then its corner to make it bigger.
    stage = page.get_by_test_id("pixel-mask-stage").bounding_box()
    scale = stage["width"] / 128  # screen pixels per image pixel
    shown = page.get_by_test_id("pixel-mask-box").bounding_box()
    start = (shown["x"] + shown["width"] / 2, shown["y"] + shown["height"] / 2)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] - 20 * scale, start[1] - 30 * scale, steps=5)
    page.mouse.up()
    assert box_of(page) == {"x": 28, "y": 26, "w": 32, "h": 16}
    handle = page.get_by_test_id("pixel-mask-resize").bounding_box()
    corner = (handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.move(*corner)
    page.mouse.down()
    page.mouse.move(corner[0] + 10 * scale, corner[1] + 6 * scale, steps=5)
    page.mouse.up()
    assert box_of(page) == {"x": 28, "y": 26, "w": 42, "h": 22}
    # Keyboard: the box has the focus; arrows move it (3 px steps), Shift + arrow resizes.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowDown")
    region = box_of(page)
    assert region == {"x": 31, "y": 26, "w": 42, "h": 25}
    summary = page.get_by_test_id("pixel-mask-summary").inner_text()
    assert "1 box will be blacked out in this image before sending" in summary
    assert "31 from the left" in page.get_by_test_id("pixel-mask-list").inner_text()
    # A second box, removed again with Delete; a third removed with its button.
    page.get_by_test_id("pixel-mask-add").click()
    page.keyboard.press("Delete")
    page.get_by_test_id("pixel-mask-add").click()
    page.get_by_test_id("pixel-mask-remove").nth(1).click()
    assert page.get_by_test_id("pixel-mask-box").count() == 1 and box_of(page) == region
    assert sideways_scroll(page, PHONE["width"]) == ""
    assert describe(axe_violations(page)) == []
    assert tab_walk(page) == []  # the box is in the Tab order, with a focus ring
    # Dragging a box or its corner has keys (arrows, Shift + arrows): nothing else is
    # mouse-only.
    exempt = ("pixel-mask-box", "pixel-mask-resize")
    assert click_only_elements(page, "[data-testid=pixel-mask-editor]", exempt) == []

    page.get_by_test_id("upload-question").fill("Is there text in the image?")
    page.get_by_test_id("upload-start").click()
    page.get_by_test_id("upload-status").filter(has_text="Done").wait_for(timeout=60000)

    study = Study.objects.get(owner=patient)
    assert study.status == StudyStatus.READY
    stored = {}
    for instance in Instance.objects.filter(series__study=study):
        ds = pydicom.dcmread(io.BytesIO(default_storage.open(instance.file).read()))
        stored[str(ds.SOPClassUID)] = ds
    arrived = stored[CT_SOP_CLASS]
    pixels = arrived.pixel_array
    inside = np.zeros(pixels.shape, dtype=bool)
    x, y, w, h = region["x"], region["y"], region["w"], region["h"]
    inside[y : y + h, x : x + w] = True
    assert (pixels[inside] == original.min()).all()
    assert np.array_equal(pixels[~inside], original[~inside])
    assert arrived.BurnedInAnnotation == "NO"
    codes = [str(i.CodeValue) for i in arrived.DeidentificationMethodCodeSequence]
    assert "113101" in codes
    # The CT's descriptors named the MR's performing physician: cut out in the browser.
    assert arrived.SeriesDescription == "******** protocol, ** lab"
    for ds in stored.values():
        text = " ".join(str(e.value) for e in ds.iterall() if e.VR in ("LO", "SH", "PN", "LT"))
        assert not re.search(r"(?i)(?<!\w)(oladele|adaeze|vandamme|kris)(?!\w)", text), text


def test_an_ultrasound_starts_with_its_header_band_blacked_out(
    phone_page: Any, patient: Any, tmp_path: Path
) -> None:
    """A real ultrasound (RGB, 640 x 480): the default box covers the top tenth, full
    width; sent as it is, the stored file is black there and unchanged elsewhere."""
    from tests.uploads.conftest import sample_bytes

    page = phone_page
    folder = tmp_path / "us"
    folder.mkdir()
    data = sample_bytes("US1_UNCR.dcm")
    (folder / "us.dcm").write_bytes(data)
    original = pydicom.dcmread(io.BytesIO(data)).pixel_array
    # the portal's text check is down: the editor keeps its default box and says so
    page.route("**/api/uploads/text-boxes/", lambda route: route.fulfill(status=503))
    open_upload_page(page, patient.email)
    page.get_by_test_id("upload-folder-input").set_input_files(folder)
    page.get_by_test_id("upload-status").filter(has_text="press Send").wait_for()
    found = page.get_by_test_id("pixel-mask-detected").filter(has_text="could not look for text")
    found.wait_for()
    assert "Nothing was added: put the boxes yourself" in found.inner_text()
    assert box_of(page) == {"x": 0, "y": 0, "w": 640, "h": 48}
    summary = page.get_by_test_id("pixel-mask-summary").inner_text()
    assert "1 box will be blacked out in this image before sending" in summary
    page.get_by_test_id("upload-start").click()
    page.get_by_test_id("upload-status").filter(has_text="Done").wait_for(timeout=60000)
    (instance,) = Instance.objects.filter(series__study__owner=patient)
    arrived = pydicom.dcmread(io.BytesIO(default_storage.open(instance.file).read()))
    pixels = arrived.pixel_array
    assert (pixels[:48] == 0).all()
    assert np.array_equal(pixels[48:], original[48:])
    assert arrived.BurnedInAnnotation == "NO"


def test_a_resumed_upload_blacks_out_the_same_place(
    phone_page: Any, patient: Any, tmp_path: Path
) -> None:
    """The connection drops after Send; the uploader reloads and picks the files again:
    the box is where it was (so the files are the same bytes, and the upload ends)."""
    from tests.uploads.conftest import sample_bytes

    page = phone_page
    folder = tmp_path / "us"
    folder.mkdir()
    data = sample_bytes("US1_UNCR.dcm")
    (folder / "us.dcm").write_bytes(data)
    original = pydicom.dcmread(io.BytesIO(data)).pixel_array
    page.route("**/api/uploads/text-boxes/", lambda route: route.abort())  # no text check
    open_upload_page(page, patient.email)
    page.get_by_test_id("upload-folder-input").set_input_files(folder)
    page.get_by_test_id("upload-status").filter(has_text="press Send").wait_for()
    page.get_by_test_id("pixel-mask-detected").filter(has_text="could not").wait_for()
    page.get_by_test_id("pixel-mask-box").focus()
    for key in ("ArrowDown", "ArrowDown", "Shift+ArrowLeft"):  # 13 px steps at 640 wide
        page.keyboard.press(key)
    region = box_of(page)
    assert region == {"x": 0, "y": 26, "w": 627, "h": 48}
    sending = re.compile(r"/api/uploads/\d+/(files/|batch/)")
    page.route(sending, lambda route: route.abort("connectionreset"))
    page.get_by_test_id("upload-start").click()
    page.get_by_test_id("upload-status").filter(has_text="retrying").wait_for()
    page.unroute(sending)
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.get_by_test_id("upload-resume").is_visible()
    page.get_by_test_id("upload-folder-input").set_input_files(folder)
    page.get_by_test_id("upload-status").filter(has_text="press Send").wait_for()
    assert box_of(page) == region
    page.get_by_test_id("upload-start").click()
    page.get_by_test_id("upload-status").filter(has_text="Done").wait_for(timeout=60000)
    (instance,) = Instance.objects.filter(series__study__owner=patient)
    pixels = pydicom.dcmread(io.BytesIO(default_storage.open(instance.file).read())).pixel_array
    inside = np.zeros(pixels.shape[:2], dtype=bool)
    inside[26:74, 0:627] = True
    assert (pixels[inside] == 0).all()
    assert np.array_equal(pixels[~inside], original[~inside])
