"""Open redirects (issue 13, point 10): a ``next=`` parameter only ever sends the browser
to a page of this site — over https when the request came over https. Checked on every
view that reads ``next``: the admin's assign and resend forms, exports, and login.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import password_login
from tests.reports.factories import case_of, make_study, route_kwargs

pytestmark = pytest.mark.django_db

FOREIGN = [
    "https://evil.example/phish",
    "//evil.example/phish",
    "/\\evil.example/phish",
    "\\\\evil.example/phish",
    "https:evil.example",
    "javascript:alert(1)",
    "http://testserver.evil.example/",
    " https://evil.example/",
]


def assert_local(response: Any, expected: str) -> None:
    assert response.status_code == 302, response.status_code
    assert response.url == expected, response.url


@pytest.fixture
def admin_client(admin_user: Any) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize("target", FOREIGN)
def test_assign_study_next(admin_client: Client, patient: Any, target: str) -> None:
    study = make_study(patient)
    response = admin_client.post(f"/manage/requests/{case_of(study).pk}/assign/", {"next": target})
    assert_local(response, "/manage/")


@pytest.mark.parametrize("target", FOREIGN)
def test_delivery_resend_next(
    admin_client: Client, patient: Any, radiologist: Any, admin_user: Any, target: str
) -> None:
    users = {"patient": patient, "radiologist": radiologist, "admin": admin_user}
    pk = route_kwargs("delivery", users)["pk"]
    response = admin_client.post(f"/manage/deliveries/{pk}/resend/", {"next": target})
    assert_local(response, "/manage/deliveries/")


@pytest.mark.parametrize("target", FOREIGN)
def test_export_next(patient: Any, target: str) -> None:
    client = Client()
    client.force_login(patient)
    study = make_study(patient, instances=1)
    response = client.post(f"/studies/{study.pk}/exports/new/", {"kind": "dicom", "next": target})
    assert_local(response, f"/studies/{study.pk}/")


@pytest.mark.parametrize("target", FOREIGN)
def test_login_next(admin_user: Any, target: str) -> None:
    # ``next`` is kept across the second factor: it is checked before and after it.
    response = password_login(Client(), admin_user, next=target)
    assert_local(response, "/")


def test_https_requests_are_not_sent_back_to_http(
    admin_client: Client, admin_user: Any, patient: Any
) -> None:
    """Same host but plain http, asked over https: a downgrade, refused everywhere."""
    study = make_study(patient, instances=1)
    downgrade = "http://testserver/worklist/"
    assign = f"/manage/requests/{case_of(study).pk}/assign/"
    response = admin_client.post(assign, {"next": downgrade}, secure=True)
    assert_local(response, "/manage/")
    response = admin_client.post(f"/studies/{study.pk}/exports/new/",
                                 {"kind": "dicom", "next": downgrade}, secure=True)  # fmt: skip
    assert_local(response, f"/studies/{study.pk}/")
    response = password_login(Client(), admin_user, next=downgrade, secure=True)
    assert_local(response, "/")


def test_local_next_targets_are_kept(admin_client: Client, patient: Any) -> None:
    study = make_study(patient, instances=1)
    response = admin_client.post(f"/manage/requests/{case_of(study).pk}/assign/",
                                 {"next": "/worklist/?sort=age"})  # fmt: skip
    assert_local(response, "/worklist/?sort=age")
    viewer = f"/studies/{study.pk}/viewer/"
    response = admin_client.post(f"/studies/{study.pk}/exports/new/",
                                 {"kind": "dicom", "next": viewer})  # fmt: skip
    assert_local(response, viewer)
    response = admin_client.post(f"/manage/requests/{case_of(study).pk}/assign/",
                                 {"next": "https://testserver/manage/"}, secure=True)  # fmt: skip
    assert_local(response, "https://testserver/manage/")
