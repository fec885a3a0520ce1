"""Numbers from requests are finite (issue 13, point 8): ``wc=1e999`` (infinity), ``nan``
and the like are refused with a 400 wherever a float is read from a request — the PNG
export's window, the viewer's slice parameters — never a 500, never stored.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.reports.factories import case_of, make_study
from uploads.models import Export

pytestmark = pytest.mark.django_db

NOT_FINITE = [
    {"wc": "1e999", "ww": "400"},
    {"wc": "40", "ww": "1e999"},
    {"wc": "-1e999", "ww": "400"},
    {"wc": "nan", "ww": "400"},
    {"wc": "40", "ww": "NaN"},
    {"wc": "inf", "ww": "400"},
    {"wc": "40", "ww": "Infinity"},
]


@pytest.fixture
def owner_client(patient: Any) -> Client:
    client = Client(raise_request_exception=False)  # a 500 is an answer here, not an error
    client.force_login(patient)
    return client


@pytest.mark.parametrize("window", NOT_FINITE, ids=lambda w: f"wc={w['wc']},ww={w['ww']}")
def test_png_export_refuses_non_finite_window(
    owner_client: Client, patient: Any, window: dict[str, str]
) -> None:
    study = make_study(patient, instances=1)
    response = owner_client.post(
        f"/studies/{study.pk}/exports/new/", {"kind": "png", "preset": "", **window}
    )
    assert response.status_code == 400, response.status_code
    assert "number" in response.content.decode()
    assert not Export.objects.exists()


@pytest.mark.parametrize("window", NOT_FINITE, ids=lambda w: f"wc={w['wc']},ww={w['ww']}")
def test_slice_refuses_non_finite_window(
    owner_client: Client, patient: Any, window: dict[str, str]
) -> None:
    instance = make_study(patient, instances=1).series.get().instances.get()
    query = "&".join(f"{key}={value}" for key, value in window.items())
    response = owner_client.get(f"/api/instances/{instance.pk}/slice.png?{query}")
    assert response.status_code == 400, response.status_code
    assert "number" in response.content.decode()


def test_finite_windows_still_work(owner_client: Client, patient: Any) -> None:
    study = make_study(patient, instances=1)
    instance = study.series.get().instances.get()
    for query in ["wc=40&ww=400", "wc=-600.5&ww=1500", "wc=1e3&ww=2e3"]:
        response = owner_client.get(f"/api/instances/{instance.pk}/slice.png?{query}")
        assert response.status_code == 200, query
    response = owner_client.post(
        f"/studies/{study.pk}/exports/new/", {"kind": "png", "wc": "-600.5", "ww": "1500"}
    )
    assert response.status_code == 302
    assert Export.objects.get().params == {"center": -600.5, "width": 1500.0}


KEY_IMAGE_BODIES = [
    '{"key_images": [{"instance_id": 1e999}]}',
    '{"key_images": [{"instance_id": %(id)s, "frame": 1e999}]}',
    '{"key_images": [{"instance_id": %(id)s, "frame": NaN}]}',
    '{"key_images": [{"instance_id": %(id)s, "center": 1e999, "width": 400}]}',
    '{"key_images": [{"instance_id": %(id)s, "center": 40, "width": Infinity}]}',
]


@pytest.mark.parametrize("body", KEY_IMAGE_BODIES)
def test_report_key_images_refuse_non_finite_numbers(
    patient: Any, radiologist: Any, body: str
) -> None:
    """JSON bodies: ``1e999`` parses to infinity and ``NaN`` is accepted by Python's json."""
    study = make_study(patient, assigned_to=radiologist, instances=1)
    instance = study.series.get().instances.get()
    client = Client(raise_request_exception=False)
    client.force_login(radiologist)
    for url in (
        f"/requests/{case_of(study).pk}/report/autosave/",
        f"/requests/{case_of(study).pk}/report/key-images/",
    ):
        data = body % {"id": instance.pk}
        if url.endswith("key-images/"):
            data = data.removeprefix('{"key_images": [').removesuffix("]}")
        response = client.post(url, data, content_type="application/json")
        assert response.status_code == 400, (url, data, response.status_code)
