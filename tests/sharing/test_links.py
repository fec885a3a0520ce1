"""Share links through the Django test client: creation, the grant, its limits, audit."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from portal.audit.models import AuditEvent
from tests.reports.factories import case_of
from tests.sharing.conftest import open_link
from tests.sharing.factories import make_link
from uploads.models import (
    TRIAL_CHOICES,
    Instance,
    RequestStatus,
    ReviewRequest,
    ShareLink,
)

pytestmark = pytest.mark.django_db


def create(client: Any, study: Any, **data: Any) -> Any:
    return client.post(f"/studies/{study.pk}/share/", data)


def link_url(response: Any) -> str:
    match = re.search(r'data-testid="share-link"[^>]*|value="([^"]+)"[^>]*data-testid="share-link"',
                      response.content.decode())  # fmt: skip
    assert match, response.content.decode()
    url = re.search(r'value="([^"]+)"', match.group(0))
    assert url
    return url.group(1)


def refused(response: Any) -> bool:
    """404, or a redirect to the login page: either way nothing of the study."""
    if response.status_code == 302:
        return bool(response.url.startswith("/login/"))
    return bool(response.status_code == 404)


def test_owner_creates_a_link_shown_once_and_stored_hashed(
    login: Any, patient: Any, imported_study: Any
) -> None:
    client = login(patient)
    response = create(client, imported_study, days=7, label="Dr. Who", allow_download="on")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    url = link_url(response)
    assert url.startswith("http://testserver/s/")
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert len(token) >= 43  # secrets.token_urlsafe(32)
    link = ShareLink.objects.get()
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(ShareLink.objects.values().get())  # only the hash is kept
    assert link.allow_download and not link.has_passcode and link.label == "Dr. Who"
    assert timedelta(days=6, hours=23) < link.expires_at - timezone.now() <= timedelta(days=7)
    event = AuditEvent.objects.get(action="share.created")
    assert event.object_id == str(link.pk) and event.actor == patient.email
    assert event.detail == {"study": imported_study.pk, "days": 7, "passcode": False,
                            "download": True, "kind": "opinion"}  # fmt: skip
    # The study page lists it (with a revoke button) but cannot show the URL again.
    page = client.get(f"/studies/{imported_study.pk}/").content.decode()
    assert 'data-testid="share-revoke"' in page and 'data-testid="share-create"' in page
    assert token not in page and "Dr. Who" in page


def test_link_limits_and_who_may_create(
    login: Any, patient: Any, radiologist: Any, admin_user: Any, imported_study: Any, settings: Any
) -> None:
    client = login(patient)
    assert create(client, imported_study).status_code == 200  # default 14 days
    link = ShareLink.objects.get()
    assert timedelta(days=13, hours=23) < link.expires_at - timezone.now() <= timedelta(days=14)
    assert create(client, imported_study, days=91).status_code == 400
    settings.SHARE_LINK_MAX_DAYS = 120
    assert create(client, imported_study, days=91).status_code == 200
    assert create(client, imported_study, days=0).status_code == 400
    assert create(client, imported_study, passcode="abcdefg").status_code == 400  # too short
    assert create(client, imported_study, passcode="abcdefgh").status_code == 200
    assert ShareLink.objects.get(passcode_hash__gt="").passcode_hash != "abcdefgh"
    # Radiologists see the study (pool) but cannot share it; admins can.
    assert create(login(radiologist), imported_study).status_code == 403
    assert create(login(admin_user), imported_study).status_code == 200
    page = login(radiologist).get(f"/studies/{imported_study.pk}/").content.decode()
    assert 'data-testid="share-create"' not in page and 'data-testid="export-zip"' in page


def test_link_opens_the_viewer_of_exactly_one_study(
    client: Client, patient: Any, imported_study: Any, other_study: Any
) -> None:
    link, token = make_link(imported_study, patient)
    response = open_link(client, token)
    assert response.status_code == 302 and response.url == f"/studies/{imported_study.pk}/viewer/"
    viewer = client.get(response.url)
    assert viewer.status_code == 200
    html = viewer.content.decode()
    assert 'data-testid="share-bar"' in html and "read-only" in html
    # No way into the rest of the portal from the link holder's viewer.
    assert "<a " not in html and "nav-" not in html and "Log in" not in html
    manifest = client.get(f"/api/studies/{imported_study.pk}/manifest/").json()
    images = [image["id"] for series in manifest["series"] for image in series["images"]]
    # No slice tokens for a link holder: every request is checked, so revocation is at once.
    assert all(image["token"] is None for s in manifest["series"] for image in s["images"])
    assert len(images) == 20
    assert client.get(f"/api/instances/{images[0]}/slice.png").status_code == 200
    assert client.get(f"/api/instances/{images[0]}/attributes/").status_code == 200
    assert client.get(f"/api/instances/{images[0]}/rt/").status_code == 200
    # Everything else is refused: other studies, their images, pages, reports, exports.
    others = list(Instance.objects.filter(series__study=other_study).values_list("pk", flat=True))
    guesses = [
        f"/studies/{other_study.pk}/viewer/",
        f"/api/studies/{other_study.pk}/manifest/",
        *[f"/api/instances/{pk}/slice.png" for pk in others],
        *[f"/api/instances/{pk}/attributes/" for pk in others],
        *[f"/api/instances/{pk}/rt/" for pk in others],
        f"/api/instances/{max(images + others) + 1}/slice.png",
        f"/studies/{imported_study.pk}/",
        f"/studies/{other_study.pk}/",
        "/studies/",
        "/upload/",
        "/worklist/",
        "/manage/",
        "/notifications/",
        f"/requests/{case_of(imported_study).pk}/report/view/",
        f"/requests/{case_of(imported_study).pk}/report/pdf/",
        f"/requests/{case_of(imported_study).pk}/edit/",
        f"/studies/{imported_study.pk}/exports/",  # no downloads on this link
        "/api/uploads/config/",
    ]
    for url in guesses:
        assert refused(client.get(url)), url
    assert refused(client.post(f"/studies/{imported_study.pk}/exports/new/", {"kind": "dicom"}))
    assert refused(client.post(f"/studies/{imported_study.pk}/share/"))
    assert refused(client.post(f"/requests/{case_of(imported_study).pk}/cancel/"))
    assert client.post(f"/shares/{link.pk}/revoke/").status_code == 302  # to the login page
    assert ShareLink.objects.get(pk=link.pk).is_active


def test_revoked_link_fails_and_ends_an_open_session(
    client: Client, login: Any, patient: Any, imported_study: Any
) -> None:
    link, token = make_link(imported_study, patient)
    holder = Client()
    assert open_link(holder, token).status_code == 302
    manifest = f"/api/studies/{imported_study.pk}/manifest/"
    assert holder.get(manifest).status_code == 200
    owner = login(patient)
    assert owner.post(f"/shares/{link.pk}/revoke/").status_code == 302
    assert AuditEvent.objects.filter(action="share.revoked", object_id=str(link.pk)).count() == 1
    # The grant in the holder's session stops working at once, and a reload says why
    # (410, "revoked"), not the staff login page.
    for url in (manifest, f"/studies/{imported_study.pk}/viewer/"):
        ended = holder.get(url)
        assert ended.status_code == 410, url
        assert "revoked" in ended.content.decode() and "/login/" not in ended.get("Location", "")
    assert refused(Client().get(f"/studies/{imported_study.pk}/viewer/"))  # never had a link
    response = open_link(holder, token)
    assert response.status_code == 410
    assert "revoked" in response.content.decode()
    assert AuditEvent.objects.filter(action="share.refused").get().detail["reason"] == "revoked"
    page = owner.get(f"/studies/{imported_study.pk}/").content.decode()
    assert 'data-state="revoked"' in page and 'data-testid="share-revoke"' not in page


def test_expired_link_fails_and_ends_an_open_session(client: Client, imported_study: Any) -> None:
    link, token = make_link(imported_study)
    assert open_link(client, token).status_code == 302
    manifest = f"/api/studies/{imported_study.pk}/manifest/"
    assert client.get(manifest).status_code == 200
    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    reload = client.get(manifest)
    assert reload.status_code == 410 and "expired" in reload.content.decode()
    response = open_link(client, token)
    assert response.status_code == 410 and "expired" in response.content.decode()


def test_unknown_tokens_are_404_and_throttled_per_address(
    client: Client, imported_study: Any, settings: Any
) -> None:
    settings.SHARE_LINK_MAX_FAILURES = 3
    _, token = make_link(imported_study)
    for n in range(3):
        assert open_link(client, f"guess{n}" + "x" * 38).status_code == 404
    # Locked out from this address, even with a valid token...
    assert open_link(client, "another-guess").status_code == 429
    assert open_link(client, token).status_code == 429
    # ...but not from another one.
    assert open_link(Client(), token, REMOTE_ADDR="10.0.0.1").status_code == 302


def test_passcode_first_then_viewer(client: Client, imported_study: Any, settings: Any) -> None:
    settings.SHARE_LINK_MAX_FAILURES = 3
    link, token = make_link(imported_study, passcode="open sesame")
    form = open_link(client, token)
    assert form.status_code == 200 and 'data-testid="share-passcode"' in form.content.decode()
    # No grant before the passcode.
    assert refused(client.get(f"/api/studies/{imported_study.pk}/manifest/"))
    wrong = client.post(f"/s/{token}/", {"passcode": "open says me"})
    assert wrong.status_code == 403 and "not right" in wrong.content.decode()
    assert AuditEvent.objects.filter(action="share.passcode_failed").count() == 1
    right = client.post(f"/s/{token}/", {"passcode": "open sesame"})
    assert right.status_code == 302 and right.url.endswith("/viewer/")
    assert client.get(f"/api/studies/{imported_study.pk}/manifest/").status_code == 200
    # Opening the link again in this session does not ask again.
    assert open_link(client, token).status_code == 302
    # Wrong passcodes lock that address out; never the link for other addresses.
    other = Client(REMOTE_ADDR="10.0.0.2")
    for _ in range(3):
        assert other.post(f"/s/{token}/", {"passcode": "nope"}).status_code == 403
    assert other.post(f"/s/{token}/", {"passcode": "open sesame"}).status_code == 429
    for n in range(9):
        Client(REMOTE_ADDR=f"10.1.0.{n}").post(f"/s/{token}/", {"passcode": "nope"})
    fresh = Client(REMOTE_ADDR="10.0.0.3").post(f"/s/{token}/", {"passcode": "open sesame"})
    assert fresh.status_code == 302
    assert ShareLink.objects.get(pk=link.pk).open_count == 3


def test_each_use_is_audited_and_the_creator_sees_it(
    client: Client, login: Any, patient: Any, imported_study: Any
) -> None:
    link, token = make_link(imported_study, patient, allow_download=True)
    holder = Client(REMOTE_ADDR="10.0.0.2")
    open_link(holder, token)
    open_link(holder, token)
    holder.get(f"/studies/{imported_study.pk}/viewer/")
    instances = list(Instance.objects.filter(series__study=imported_study)[:2])
    for instance in instances:
        for query in ["", "?wc=100&ww=200", "?size=128"]:  # the same image thrice: logged once
            assert holder.get(f"/api/instances/{instance.pk}/slice.png{query}").status_code == 200
    holder.get(f"/api/instances/{instances[0].pk}/attributes/")
    holder.get(f"/api/instances/{instances[0].pk}/rt/")
    events = AuditEvent.objects.filter(object_type="uploads.sharelink", object_id=str(link.pk))
    assert events.filter(action="share.opened").count() == 2
    viewed = events.filter(action="share.slice_viewed")
    assert sorted(e.detail["instance"] for e in viewed) == sorted(i.pk for i in instances)
    assert events.filter(action="share.attributes_viewed").count() == 1
    assert events.filter(action="share.rt_viewed").count() == 1
    assert {e.ip for e in events} == {"10.0.0.2"} and {e.user for e in events} == {None}
    # A second browser (another grant) is logged again.
    again = Client(REMOTE_ADDR="10.0.0.3")
    open_link(again, token)
    again.get(f"/api/instances/{instances[0].pk}/slice.png")
    assert events.filter(action="share.slice_viewed").count() == 3
    link.refresh_from_db()
    assert link.open_count == 3 and link.last_opened_at is not None
    page = login(patient).get(f"/studies/{imported_study.pk}/").content.decode()
    assert 'data-count="3"' in page and "3 times" in page


def test_reviewer_verdict_reaches_the_creator(
    client: Client, login: Any, patient: Any, imported_study: Any, other_study: Any
) -> None:
    link, token = make_link(
        imported_study, patient, verdict_kind="trial", verdict_choices=TRIAL_CHOICES
    )
    other_link, _ = make_link(other_study)
    open_link(client, token)
    viewer = client.get(f"/studies/{imported_study.pk}/viewer/").content.decode()
    assert 'data-testid="share-verdict-submit"' in viewer
    assert 'data-testid="export-zip"' not in viewer  # downloads not allowed on this link
    response = client.post(
        f"/shares/{link.pk}/verdict/",
        {"verdict": "Needs more images", "comment": "Add sagittal T2."},
    )
    assert response.status_code == 302 and response.url.endswith("?verdict=saved")
    assert client.post(f"/shares/{link.pk}/verdict/", {"verdict": "maybe"}).status_code == 400
    assert (
        client.post(f"/shares/{other_link.pk}/verdict/", {"verdict": "Eligible"}).status_code == 404
    )
    link.refresh_from_db()
    assert link.verdict == "Needs more images" and link.verdict_comment == "Add sagittal T2."
    event = AuditEvent.objects.get(action="share.verdict")
    # No free text: the kind and the choice's number in the set.
    assert event.detail == {"study": imported_study.pk, "kind": "trial", "choice": 3}
    page = login(patient).get(f"/studies/{imported_study.pk}/").content.decode()
    assert "Needs more images" in page and "Add sagittal T2." in page


def test_logged_in_user_with_a_link_sees_only_that_extra_study(
    login: Any, radiologist: Any, other_radiologist: Any, imported_study: Any, other_study: Any
) -> None:
    # Neither study is visible to this radiologist (both assigned to a colleague).
    ReviewRequest.objects.filter(studies__in=[imported_study, other_study]).update(
        status=RequestStatus.IN_REVIEW, assigned_to=other_radiologist
    )
    _, token = make_link(imported_study)
    client = login(radiologist)
    assert client.get(f"/studies/{imported_study.pk}/viewer/").status_code == 404
    assert open_link(client, token).status_code == 302
    html = client.get(f"/studies/{imported_study.pk}/viewer/").content.decode()
    assert 'data-testid="share-bar"' in html
    assert client.get(f"/api/studies/{imported_study.pk}/manifest/").status_code == 200
    assert client.get(f"/api/studies/{other_study.pk}/manifest/").status_code == 404
    assert client.get(f"/studies/{imported_study.pk}/").status_code == 404  # not the study page
    assert client.get(f"/requests/{case_of(imported_study).pk}/report/view/").status_code == 404


def test_the_owner_keeps_the_normal_viewer(login: Any, patient: Any, imported_study: Any) -> None:
    _, token = make_link(imported_study, patient)
    client = login(patient)
    open_link(client, token)
    html = client.get(f"/studies/{imported_study.pk}/viewer/").content.decode()
    assert 'data-testid="share-bar"' not in html and 'data-testid="nav-studies"' in html
    # Logging out ends the grant with the session.
    client.post("/logout/")
    assert refused(client.get(f"/api/studies/{imported_study.pk}/manifest/"))
