"""Personal API tokens (command, page, revocation, expiry, hashing, logs) and who reaches
what through /dicomweb/: token holders like their pages, share-link tokens one study,
sessions; CSRF and CORS; one audit event per request."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from pydicom import Dataset, dcmread

from portal.apitokens.models import ApiToken
from portal.audit.models import AuditEvent
from portal.redact import RedactTokens
from tests.dicomweb.conftest import new_token, sample_path
from tests.sharing.factories import make_link
from uploads.models import RequestStatus, ReviewRequest, Study

pytestmark = pytest.mark.django_db
STOW_X = 'multipart/related; type="application/dicom"; boundary=x'


def uids_seen(client: Any, token: str = "") -> set[str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get("/dicomweb/studies", headers=headers)
    if response.status_code == 204:
        return set()
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/dicom+json"
    return {item["0020000D"]["Value"][0] for item in response.json()}


def test_command_prints_a_token_and_stores_only_its_hash(patient: Any) -> None:
    token = new_token(patient, "--days", "3")
    assert token.startswith("dwp_") and len(token) > 40
    row = ApiToken.objects.get(owner=patient)
    assert token not in str(list(ApiToken.objects.values_list()))  # only the hash, the prefix
    assert token.startswith(row.prefix) and len(row.prefix) < 12
    assert abs((row.expires_at - timezone.now()) - timedelta(days=3)) < timedelta(minutes=1)
    with pytest.raises(CommandError):
        call_command("api_token", patient.email, "--days", "0")
    with pytest.raises(CommandError):
        call_command("api_token", "nobody@example.org")


def test_page_creates_lists_and_revokes(
    client: Any, login: Any, patient: Any, other_patient: Any
) -> None:
    page = login(patient)
    response = page.post("/account/tokens/", {"name": "Weasis", "days": "30"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="token-value"' in html
    token = html.split('data-testid="token-value">')[1].split("<")[0]
    assert "no-store" in response["Cache-Control"]
    assert token.startswith("dwp_")
    listing = page.get("/account/tokens/").content.decode()
    assert token not in listing and 'data-testid="token-row"' in listing  # shown once only
    assert uids_seen(Client(), token) == set()  # valid (no studies yet): 204, not 401
    row = ApiToken.objects.get(owner=patient)
    assert page.post("/account/tokens/", {"days": "100000"}).status_code == 400
    # Another account cannot revoke it; its owner can, and it stops working at once.
    assert login(other_patient).post(f"/account/tokens/{row.pk}/revoke/").status_code == 404
    assert login(patient).post(f"/account/tokens/{row.pk}/revoke/").status_code == 302
    response = Client().get("/dicomweb/studies", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and "invalid_token" in response["WWW-Authenticate"]
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"apitoken.created", "apitoken.revoked"} <= actions


def test_expired_tokens_and_inactive_owners_are_refused(patient: Any) -> None:
    token = new_token(patient)
    client = Client()
    assert (
        client.get("/dicomweb/studies", headers={"Authorization": f"Bearer {token}"}).status_code
        == 204
    )
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert (
        client.get("/dicomweb/studies", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    token = new_token(patient)
    patient.is_active = False
    patient.save()
    assert (
        client.get("/dicomweb/studies", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    # A Bearer header is never replaced by the session, whatever cookies come with it.
    patient.is_active = True
    patient.save()
    client.force_login(patient)
    response = client.get("/dicomweb/studies", headers={"Authorization": "Bearer dwp_wrong"})
    assert response.status_code == 401
    assert (
        client.get("/dicomweb/studies", headers={"Authorization": "Basic abc"}).status_code == 401
    )


def test_each_role_reaches_what_its_pages_reach(
    patient: Any,
    other_patient: Any,
    radiologist: Any,
    other_radiologist: Any,
    admin_user: Any,
    patient_studies: Any,
    other_study: Study,
) -> None:
    client = Client()
    mine = {s.study_instance_uid for s in patient_studies}
    theirs = other_study.study_instance_uid
    assert uids_seen(client, new_token(patient)) == mine
    assert uids_seen(client, new_token(other_patient)) == {theirs}
    assert uids_seen(client, new_token(admin_user)) == mine | {theirs}
    # radiologist: the pool (ready, unassigned) and their own assignments
    ReviewRequest.objects.filter(studies=other_study).update(
        status=RequestStatus.IN_REVIEW, assigned_to=other_radiologist
    )
    radiologist_token = new_token(radiologist)
    assert uids_seen(client, radiologist_token) == mine
    assert uids_seen(client, new_token(other_radiologist)) == mine | {theirs}
    auth = {"Authorization": f"Bearer {radiologist_token}"}
    assert client.get(f"/dicomweb/studies/{theirs}/metadata", headers=auth).status_code == 404
    # the session of a signed-in user: the same rule
    client.force_login(patient)
    assert uids_seen(client) == mine
    # storing: patients and admins only
    response = Client().post("/dicomweb/studies", b"", headers=auth, content_type=STOW_X)
    assert response.status_code == 403


def test_share_link_tokens_reach_one_study_read_only(
    patient: Any, patient_studies: Any, other_study: Study
) -> None:
    study = patient_studies.first()
    link, token = make_link(study)
    client = Client()
    assert uids_seen(client, token) == {study.study_instance_uid}
    series = study.series.first()
    instance = series.instances.first()
    base = (
        f"/dicomweb/studies/{study.study_instance_uid}/series/{series.series_instance_uid}"
        f"/instances/{instance.sop_instance_uid}"
    )
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get(base + "/metadata", headers=auth).status_code == 200
    assert client.get(base + "/rendered", headers=auth).status_code == 200
    assert client.get(base, headers=auth).status_code == 403  # the link allows no download
    link.allow_download = True
    link.save()
    assert client.get(base, headers=auth).status_code == 200
    other = patient_studies.last()
    assert (
        client.get(
            f"/dicomweb/studies/{other.study_instance_uid}/metadata", headers=auth
        ).status_code
        == 404
    )
    response = client.post("/dicomweb/studies", b"", headers=auth, content_type=STOW_X)
    assert response.status_code == 403
    # a browser that opened the link (a grant in its session) reaches the same one study
    browser = Client()
    assert browser.get(f"/s/{token}/").status_code == 302
    assert uids_seen(browser) == {study.study_instance_uid}
    # a link with a passcode must be opened in the browser; revoked links stop at once
    _, with_passcode = make_link(study, passcode="long enough passcode")
    assert uids_seen_status(client, with_passcode) == 401
    link.revoked_at = timezone.now()
    link.save()
    assert uids_seen_status(client, token) == 401
    assert browser.get("/dicomweb/studies").status_code == 401


def uids_seen_status(client: Any, token: str) -> int:
    return int(
        client.get("/dicomweb/studies", headers={"Authorization": f"Bearer {token}"}).status_code
    )


def test_audit_one_event_per_request_frames_once_per_image(
    patient: Any, patient_studies: Any
) -> None:
    token = new_token(patient)
    auth = {"Authorization": f"Bearer {token}"}
    client = Client()
    study = patient_studies.first()
    series = study.series.first()
    instance = series.instances.first()
    base = (
        f"/dicomweb/studies/{study.study_instance_uid}/series/{series.series_instance_uid}"
        f"/instances/{instance.sop_instance_uid}"
    )
    AuditEvent.objects.all().delete()
    client.get("/dicomweb/studies", headers=auth)
    client.get(f"/dicomweb/studies/{study.study_instance_uid}/metadata", headers=auth)
    for _ in range(5):
        assert client.get(base + "/frames/1", headers=auth).status_code == 200
    events = list(AuditEvent.objects.order_by("pk"))
    assert [e.action for e in events] == [
        "dicomweb.studies",
        "dicomweb.metadata",
        "dicomweb.frames",
    ]
    assert all(e.user_id == patient.pk and e.detail["via"] == "token" for e in events)
    assert events[1].detail["study"] == study.pk and events[1].detail["instances"] >= 1
    assert all(token not in str(e.detail) for e in events)


def test_csrf_only_for_sessions_and_cors_only_for_listed_origins(
    patient: Any, settings: Any
) -> None:
    token = new_token(patient)
    strict = Client(enforce_csrf_checks=True)
    # The ingest runs when the request's transaction commits, which this test's never does:
    # the STOW answers at once that the instance is still being de-identified (202).
    settings.DICOMWEB_STOW_WAIT_SECONDS = 0
    ct = sample_path("CT_small.dcm").read_bytes()
    body = b"--x\r\nContent-Type: application/dicom\r\n\r\n" + ct + b"\r\n--x--\r\n"
    kind = STOW_X
    with_token = strict.post(
        "/dicomweb/studies", body, content_type=kind, headers={"Authorization": f"Bearer {token}"}
    )
    assert with_token.status_code == 202  # reached the STOW: in the pipeline
    (pending,) = Dataset.from_json(with_token.json()).ReferencedSOPSequence
    assert pending.ReferencedSOPInstanceUID == dcmread(sample_path("CT_small.dcm")).SOPInstanceUID
    assert "RetrieveURL" not in pending and pending.WarningReason == 0xB000
    strict.force_login(patient)
    with_session = strict.post("/dicomweb/studies", body, content_type=kind)
    assert with_session.status_code == 403 and b"CSRF" in with_session.content

    settings.DICOMWEB_CORS_ORIGINS = ["https://ohif.example.org"]
    preflight = {
        "Origin": "https://ohif.example.org",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    response = Client().options("/dicomweb/studies", headers=preflight)
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "https://ohif.example.org"
    assert "Authorization" in response["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in response
    response = Client().get(
        "/dicomweb/studies",
        headers={"Origin": "https://ohif.example.org", "Authorization": f"Bearer {token}"},
    )
    assert response["Access-Control-Allow-Origin"] == "https://ohif.example.org"
    evil = {**preflight, "Origin": "https://evil.example.org"}
    response = Client().options("/dicomweb/studies", headers=evil)
    assert "Access-Control-Allow-Origin" not in response
    response = Client().options("/studies/", headers=preflight)  # only under /dicomweb/
    assert "Access-Control-Allow-Origin" not in response


def test_tokens_are_masked_in_logs(patient: Any) -> None:
    token = new_token(patient)
    record = logging.LogRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "auth %s and %s",
        (f"Authorization: Bearer {token}", f"curl -H 'Authorization: bearer abcDEF123' {token}"),
        None,
    )
    RedactTokens().filter(record)
    text = record.getMessage()
    assert token[4:] not in text and "abcDEF123" not in text
    assert "Bearer [redacted]" in text


def test_bad_requests_are_answered_4xx_never_500(patient: Any, patient_studies: Any) -> None:
    from tests.dicomweb.conftest import import_files

    import_files(patient, ["rtstruct.dcm"])  # no pixels: no frames, nothing to render
    auth = {"Authorization": f"Bearer {new_token(patient)}"}
    client = Client()
    rt = Study.objects.get(owner=patient, modalities="RTSTRUCT")
    series = rt.series.get()
    instance = series.instances.get()
    base = (
        f"/dicomweb/studies/{rt.study_instance_uid}/series/{series.series_instance_uid}"
        f"/instances/{instance.sop_instance_uid}"
    )
    meta = client.get(base + "/metadata", headers=auth)
    assert meta.status_code == 200 and "7FE00010" not in meta.json()[0]
    ct = patient_studies.get(modalities="CT")
    ct_series = ct.series.get()
    ct_base = (
        f"/dicomweb/studies/{ct.study_instance_uid}/series/{ct_series.series_instance_uid}"
        f"/instances/{ct_series.instances.get().sop_instance_uid}"
    )
    stow = "/dicomweb/studies"
    cases = [
        ("get", base + "/rendered", {}, 404),
        ("get", base + "/frames/1", {}, 404),
        ("get", ct_base + "/frames/0", {}, 404),
        ("get", ct_base + "/frames/1,x", {}, 400),
        ("get", ct_base + "/rendered?window=1,2,sigmoid", {}, 400),
        ("get", ct_base + "/rendered?window=1,nan", {}, 400),
        ("get", ct_base + "/rendered?viewport=10,10,0,0,5,5", {}, 400),
        ("get", ct_base + "/rendered?quality=0", {}, 400),
        ("get", ct_base + "/rendered", {"Accept": "image/gif"}, 406),
        ("get", ct_base, {"Accept": 'multipart/related; type="application/dicom"; '
                                    "transfer-syntax=1.2.840.10008.1.2.4.50"}, 406),
        ("get", ct_base + "/frames/1", {"Accept": 'multipart/related; type="image/jp2"'}, 406),
        ("get", "/dicomweb/studies?limit=-1", {}, 400),
        ("get", "/dicomweb/studies?NoSuchKeyword=1", {}, 400),
        ("get", "/dicomweb/studies?includefield=Nope", {}, 400),
        ("get", "/dicomweb/series?SeriesInstanceUID=1.2.abc", {}, 400),
        ("post", stow, {"Content-Type": "application/dicom"}, 415),
        ("post", stow, {"Content-Type": "multipart/related; type=\"application/dicom\""}, 400),
        ("post", stow, {"Content-Type": STOW_X}, 400),
        ("post", stow + "/1.02", {"Content-Type": STOW_X}, 400),
    ]  # fmt: skip
    for method, url, headers, want in cases:
        kind = headers.pop("Content-Type", None)
        extra = {"content_type": kind, "data": b"--y\r\n\r\n--y--"} if method == "post" else {}
        response = getattr(client, method)(url, headers={**auth, **headers}, **extra)
        assert response.status_code == want, (url, headers, response.content[:200])
