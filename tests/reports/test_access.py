"""Who may open which reporting page, and that no view can change a signed report."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reports.models import Delivery, ReportVersion, VersionStatus
from tests.reports.factories import IMPRESSION, case_of, make_study, sign_report
from uploads.models import Study

pytestmark = pytest.mark.django_db


def fill(url: str, study: Study) -> str:
    """``url`` with the study's id for ``{pk}`` and its request's for ``{case}``."""
    return url.format(pk=study.pk, case=case_of(study).pk)


READ_URLS = ["/requests/{case}/report/view/", "/requests/{case}/report/pdf/"]
EDIT_GETS = ["/requests/{case}/report/", "/requests/{case}/report/preview/"]
EDIT_POSTS = [
    "/requests/{case}/report/",
    "/requests/{case}/report/autosave/",
    "/requests/{case}/report/key-images/",
    "/requests/{case}/report/sign/",
    "/requests/{case}/report/addendum/",
]


def test_patient_cannot_see_another_patients_study_or_report(
    login: Any, reported_study: Study, other_patient: Any
):
    client = login(other_patient)
    for url in [
        "/studies/{pk}/",
        *READ_URLS,
        "/requests/{case}/edit/",
        "/requests/{case}/report/view/?version=1",
    ]:
        assert client.get(fill(url, reported_study)).status_code == 404, url
    assert client.post(f"/requests/{case_of(reported_study).pk}/cancel/").status_code == 404
    # and the owner can
    owner = login(reported_study.owner)
    for url in READ_URLS:
        assert owner.get(fill(url, reported_study)).status_code == 200, url


def test_patient_cannot_use_radiologist_views(login: Any, reported_study: Study):
    client = login(reported_study.owner)
    for url in EDIT_GETS:
        assert client.get(fill(url, reported_study)).status_code == 403
    for url in EDIT_POSTS:
        assert client.post(fill(url, reported_study), {}).status_code == 403
    assert client.post(f"/requests/{case_of(reported_study).pk}/claim/").status_code == 403


def test_radiologist_sees_only_pool_and_own_studies(
    login: Any, patient: Any, radiologist: Any, other_radiologist: Any
):
    theirs = make_study(patient, status="in_review", assigned_to=other_radiologist)
    sign_report(theirs, other_radiologist)
    processing = make_study(patient, status="processing")
    pool = make_study(patient)
    client = login(radiologist)
    for study in (theirs, processing):
        for url in ["/studies/{pk}/", *READ_URLS, *EDIT_GETS]:
            assert client.get(fill(url, study)).status_code == 404, (case_of(study).status, url)
        for url in EDIT_POSTS:
            assert client.post(fill(url, study), {}).status_code == 404, url
    # a pool study is visible, but reporting it needs a claim first
    assert client.get(f"/studies/{pool.pk}/").status_code == 200
    for url in EDIT_GETS:
        assert client.get(fill(url, pool)).status_code == 403
    for url in EDIT_POSTS:
        assert client.post(fill(url, pool), {}).status_code == 403
    assert client.get(f"/requests/{case_of(pool).pk}/report/view/").status_code == 404  # no report


def test_admin_reads_but_does_not_write_reports(login: Any, reported_study: Study, admin_user):
    client = login(admin_user)
    for url in READ_URLS:
        assert client.get(fill(url, reported_study)).status_code == 200
    for url in EDIT_POSTS:
        assert client.post(fill(url, reported_study), {}).status_code == 403


def test_anonymous_is_sent_to_login(client: Any, reported_study: Study):
    for url in [*READ_URLS, *EDIT_GETS, "/requests/{case}/edit/", "/notifications/",
                "/manage/deliveries/"]:  # fmt: skip
        response = client.get(fill(url, reported_study))
        assert response.status_code == 302 and response.url.startswith("/login/"), url
    for url in [
        *EDIT_POSTS,
        "/requests/{case}/claim/",
        "/requests/{case}/cancel/",
    ]:
        response = client.post(fill(url, reported_study))
        assert response.status_code == 302 and response.url.startswith("/login/"), url


def test_no_view_can_change_a_signed_report(login: Any, reported_study: Study, radiologist):
    version = ReportVersion.objects.get(report__study=reported_study)
    before = ReportVersion.objects.filter(pk=version.pk).values().get()
    deliveries = Delivery.objects.count()
    client = login(radiologist)
    base = f"/requests/{case_of(reported_study).pk}/report/"
    tampered = {"findings": "tampered", "impression": "tampered", "version": version.pk}
    assert client.post(base, tampered).status_code == 409
    assert (
        client.post(base + "autosave/", json.dumps(tampered), content_type="application/json")
    ).status_code == 409
    assert client.post(base + "sign/", tampered).status_code == 409
    assert client.post(base + "sign/", {}).status_code == 409
    instance = reported_study.series.get().instances.get()
    assert (
        client.post(
            base + "key-images/",
            json.dumps({"instance_id": instance.pk, "frame": 0}),
            content_type="application/json",
        )
    ).status_code == 409
    # the signed version is exactly as it was, and nothing was re-sent
    assert ReportVersion.objects.filter(pk=version.pk).values().get() == before
    assert ReportVersion.objects.filter(report__study=reported_study).count() == 1
    assert Delivery.objects.count() == deliveries
    assert version.status == VersionStatus.SIGNED and before["impression"] == IMPRESSION


def test_signed_addendum_cannot_be_changed_either(login: Any, reported_study: Study, radiologist):
    client = login(radiologist)
    base = f"/requests/{case_of(reported_study).pk}/report/"
    client.post(base + "addendum/", {"reason": "Typo"})
    assert client.post(base + "sign/", {"impression": "Fixed."}).status_code == 302
    snapshot = list(ReportVersion.objects.filter(report__study=reported_study).values())
    assert client.post(base + "sign/", {"impression": "again"}).status_code == 409
    assert client.post(base, {"impression": "again"}).status_code == 409
    assert list(ReportVersion.objects.filter(report__study=reported_study).values()) == snapshot


def test_notifications_are_private(login: Any, reported_study: Study, other_patient: Any):
    from reports.models import Notification

    note = Notification.objects.get(user=reported_study.owner)
    response = login(other_patient).post(f"/notifications/{note.pk}/read/")
    assert response.status_code == 404
    note.refresh_from_db()
    assert note.read is False
    assert (
        'data-testid="notification"'
        not in login(other_patient).get("/notifications/").content.decode()
    )


def test_web_report_shows_key_images_as_pictures_to_its_readers_only(
    login: Any, assigned_study: Study, radiologist: Any, patient: Any, other_patient: Any
):
    """Issue 17: key images appeared on the web report as text ("Series 2, image 15")."""
    from reports import images
    from uploads.models import Instance

    if not images.engine_available():
        pytest.skip("uploads.dicom.render (rendering engine) is not importable yet")
    own = Instance.objects.get(series__study=assigned_study)
    sign_report(
        assigned_study,
        radiologist,
        key_images=[{"instance_id": own.pk, "frame": 0, "center": 40, "width": 400}],
    )
    owner = login(patient)
    page = owner.get(f"/requests/{case_of(assigned_study).pk}/report/view/").content.decode()
    src = f"/requests/{case_of(assigned_study).pk}/report/key-images/1.png?version=1"
    assert f'<img src="{src}"' in page and 'alt="Key image 1: Series' in page
    picture = owner.get(src)
    assert picture.status_code == 200 and picture["Content-Type"] == "image/png"
    assert picture.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert owner.get(src.replace("/1.png", "/2.png")).status_code == 404  # no such image
    assert owner.get(src.replace("?version=1", "?version=7")).status_code == 404
    # Another patient sees nothing.
    assert login(other_patient).get(src).status_code == 404
