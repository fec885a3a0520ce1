"""The OCR preview of a flagged image for the upload page's box editor (issue 20):
``POST /api/uploads/text-boxes/`` reads a small preview image with Tesseract and answers
the boxes with the words read in each (the browser matches them against the file's header
values, which are never sent); a request that still sends header values is refused; nothing
is stored and no word reaches the logs or the audit trail."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset

from portal import ratelimit
from portal.audit.models import AuditEvent
from tests.dicom.burn import BIRTH_DATE, NAME, PATIENT_ID, burn
from uploads.dicom.pixels import display_frames, ocr_available
from uploads.dicom.words import Matcher, identifying_words
from uploads.models import Instance, Upload, UploadFile

pytestmark = pytest.mark.django_db
URL = "api-text-boxes"
VALUES = {"PatientName": [NAME], "PatientID": [PATIENT_ID], "PatientBirthDate": [BIRTH_DATE]}


@pytest.fixture(autouse=True)
def no_rate_limit(settings: Any) -> None:
    """Counts of earlier runs (kept in Redis for an hour) do not limit these tests."""
    settings.TEXT_PREVIEW_RATE = "0"


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def burned_png() -> tuple[bytes, list[tuple[str, bool, int, int, int, int]]]:
    """The real 640 x 480 ultrasound with a name, an ID, a birth date and two labels
    burned in, rendered as the browser's preview would be (first frame, as displayed)."""
    burned = burn("US1_UNCR.dcm")
    ((_, frame),) = display_frames(dcmread(io.BytesIO(burned.data)), 1)
    return png(frame.astype(np.uint8)), burned.placed


def post(client: Any, image: bytes | None, values: Any = None, **extra: Any) -> Any:
    data: dict[str, Any] = {}
    if image is not None:
        data["image"] = io.BytesIO(image)
        data["image"].name = "preview.png"
    if values is not None:
        data["values"] = values
    return client.post(reverse(URL), data, **extra)


def files_under(root: str) -> set[Path]:
    return {p for p in Path(root).rglob("*") if p.is_file()} if Path(root).exists() else set()


@pytest.mark.skipif(not ocr_available(), reason="tesseract is not installed")
def test_the_words_are_answered_with_their_boxes_and_nothing_is_kept(
    login: Any, patient: Any, burned_png: Any, caplog: Any
) -> None:
    image, placed = burned_png
    before = files_under(str(django_settings.MEDIA_ROOT))
    with caplog.at_level(logging.DEBUG):
        response = post(login(patient), image)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ocr"] is True and (body["width"], body["height"]) == (640, 480)
    assert all(set(b) == {"x", "y", "w", "h", "text", "line"} for b in body["boxes"])
    words = Matcher(identifying_words(dataset(VALUES)))
    # the name is read where it was burned in, and the browser's matching finds it there
    _, _, nx, ny, nw, nh = placed[0]
    at_name = [b for b in body["boxes"] if overlaps(b, nx, ny, nw, nh)]
    assert any(words.word(b["text"]) for b in at_name), body
    # the words of one line share a line number (for dates in several words): the
    # scanner's "LYMPH NODE" annotation is one line of two words
    lines: dict[int, list[str]] = {}
    for b in body["boxes"]:
        lines.setdefault(b["line"], []).append(b["text"])
    assert ["LYMPH", "NODE"] in lines.values(), lines
    # the probe and preset labels are read as text that is not identifying
    _, _, lx, ly, lw, lh = placed[4]  # "ABD"
    at_label = [b for b in body["boxes"] if overlaps(b, lx, ly, lw, lh)]
    assert at_label and not any(words.word(b["text"]) for b in at_label)
    # no recognised text in the logs or the audit trail
    for word in ("DOE", "JOHN", "4711", "0815", "1971", "ABD", "C5-1"):
        assert word not in caplog.text
    (event,) = AuditEvent.objects.filter(action="pixels.preview_detected")
    assert event.user == patient
    assert set(event.detail) == {"boxes"} and event.detail["boxes"] == len(body["boxes"])
    # nothing stored: no upload, no file, no image
    assert not Upload.objects.exists() and not UploadFile.objects.exists()
    assert not Instance.objects.exists()
    assert files_under(str(django_settings.MEDIA_ROOT)) == before


def overlaps(b: dict[str, int], x: int, y: int, w: int, h: int) -> bool:
    return b["x"] < x + w and x < b["x"] + b["w"] and b["y"] < y + h and y < b["y"] + b["h"]


def dataset(values: dict[str, list[str]]) -> Dataset:
    ds = Dataset()
    for keyword, items in values.items():
        setattr(ds, keyword, items[0])
    return ds


@pytest.mark.parametrize(
    ("image", "values", "words"),
    [
        (None, None, "No preview image was sent"),
        (b"%PDF-1.4 not an image", None, "not an image that can be read"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, None, "not an image that can be read"),
        ("gif", None, "not a PNG or JPEG image"),
        ("big", None, "too large: at most 640 pixels"),
        # an old page that still sends the header values: refused, nothing read
        ("small", '{"PatientName": ["DOE^JOHN"]}', "no longer reads. Reload the page"),
        ("small", "", "no longer reads. Reload the page"),
    ],
)
def test_bad_input_is_refused_in_words(
    login: Any, patient: Any, image: Any, values: Any, words: str
) -> None:
    if image == "gif":
        out = io.BytesIO()
        Image.new("L", (20, 20), 255).save(out, "GIF")
        image = out.getvalue()
    elif image == "big":
        image = png(np.zeros((100, 641), dtype=np.uint8))
    elif image == "small":
        image = png(np.zeros((20, 20), dtype=np.uint8))
    response = post(login(patient), image, values)
    assert response.status_code == 400
    assert words in response.json()["error"]
    assert not AuditEvent.objects.filter(action="pixels.preview_detected").exists()


def test_a_request_over_the_size_limit_is_refused_before_it_is_read(
    login: Any, patient: Any, settings: Any
) -> None:
    settings.TEXT_PREVIEW_MAX_BYTES = 1024
    response = post(
        login(patient), png(np.random.default_rng(1).integers(0, 255, (200, 200), dtype=np.uint8))
    )
    assert response.status_code == 400
    assert "too large: at most 1 KB" in response.json()["error"]


def test_the_rate_limit_answers_429(login: Any, patient: Any, settings: Any) -> None:
    settings.TEXT_PREVIEW_RATE = "2/hour"
    ratelimit.reset("text-preview", patient.pk, "TEXT_PREVIEW_RATE")
    client = login(patient)
    image = png(np.zeros((20, 20), dtype=np.uint8))
    codes = [post(client, image).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_it_needs_csrf_and_an_uploader(client: Any, radiologist: Any, patient: Any) -> None:
    image = png(np.zeros((20, 20), dtype=np.uint8))
    assert post(client, image).status_code == 302  # anonymous: to the login page
    client.force_login(radiologist)
    assert post(client, image).status_code == 403
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(patient)
    assert post(strict, image).status_code == 403


def test_without_tesseract_the_answer_says_so_and_has_no_boxes(
    login: Any, patient: Any, monkeypatch: Any
) -> None:
    from uploads.intake import text_preview

    monkeypatch.setattr(text_preview, "ocr_available", lambda: False)
    response = post(login(patient), png(np.zeros((30, 40), dtype=np.uint8)))
    assert response.status_code == 200
    assert response.json() == {"ocr": False, "width": 40, "height": 30, "boxes": []}


def test_a_token_holder_is_not_signed_in_here(client: Any, patient: Any) -> None:
    """Personal API tokens act only on DICOMweb: the page's text check needs the session."""
    from portal.apitokens.tokens import issue

    _, token = issue(patient, name="script")
    image = png(np.zeros((20, 20), dtype=np.uint8))
    response = post(client, image, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 302 and "/login" in response["Location"]
    assert not AuditEvent.objects.filter(action="pixels.preview_detected").exists()
