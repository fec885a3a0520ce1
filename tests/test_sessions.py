"""Sessions that end (issue 21 B): absolute lifetime and idle limit per role, the list of
sessions, signing one out and "sign out everywhere", re-authentication before a role
change and an export, and the audit of every end."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from portal.accounts import session_records, throttle
from portal.accounts.models import Role, UserSession
from portal.audit.models import AuditEvent
from tests.conftest import PASSWORD, enrol_totp, next_totp, password_login
from uploads.models import Export, Study, StudyStatus

pytestmark = pytest.mark.django_db


def record_of(client: Client) -> UserSession:
    return UserSession.objects.get(pk=client.session[session_records.SESSION_ID])


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_every_login_is_recorded_and_lasts_at_most_the_roles_lifetime(
    login: Any, radiologist: Any, settings: Any
) -> None:
    client = login(radiologist)
    record = record_of(client)
    assert record.user == radiologist and record.ended_at is None
    assert record.key_hash == session_records.key_hash(client.session.session_key)
    # The stored session ends with the absolute limit too (database and cookie).
    assert client.session.get_expiry_age() <= settings.SESSION_MAX_SECONDS["radiologist"]
    assert client.get("/worklist/").status_code == 200
    UserSession.objects.filter(pk=record.pk).update(
        created_at=timezone.now() - timedelta(hours=12, seconds=1),
        last_seen_at=timezone.now(),
    )
    response = client.get("/worklist/")
    assert response.status_code == 302 and response.url == "/login/?next=/worklist/"
    assert "_auth_user_id" not in client.session
    assert messages_of(response) == ["Your session reached its time limit. Please log in again."]
    record.refresh_from_db()
    assert record.ended_at is not None and record.end_reason == "absolute"
    event = AuditEvent.objects.get(action="session.expired")
    assert event.actor == radiologist.email and event.detail == {"reason": "absolute"}


def test_lifetimes_are_per_role(login: Any, patient: Any, radiologist: Any) -> None:
    """12 hours is the staff default; a patient's session lasts a week."""
    for user, alive in [(patient, True), (radiologist, False)]:
        client = login(user)
        UserSession.objects.filter(pk=record_of(client).pk).update(
            created_at=timezone.now() - timedelta(hours=13)
        )
        assert (client.get("/studies/").status_code == 200) is alive, user.role


def test_an_idle_session_ends(login: Any, radiologist: Any, settings: Any) -> None:
    settings.SESSION_IDLE_SECONDS = {**settings.SESSION_IDLE_SECONDS, "radiologist": 2}
    client = login(radiologist)
    for _ in range(3):  # activity keeps it alive past the limit
        time.sleep(0.8)
        assert client.get("/worklist/").status_code == 200
    time.sleep(2.2)
    response = client.get("/worklist/")
    assert response.url.startswith("/login/")
    assert "without activity" in messages_of(response)[0]
    assert record_of_user(radiologist).end_reason == "idle"
    assert AuditEvent.objects.get(action="session.expired").detail == {"reason": "idle"}


def record_of_user(user: Any) -> UserSession:
    return UserSession.objects.filter(user=user).latest("id")


def test_the_session_list_and_signing_one_out(login: Any, patient: Any) -> None:
    phone = Client(HTTP_USER_AGENT="Mozilla/5.0 (Linux; Android 14) Chrome/130.0 Mobile")
    password_login(phone, patient)
    laptop = Client(
        HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0",
        REMOTE_ADDR="192.0.2.7",
    )
    password_login(laptop, patient)
    page = laptop.get("/account/security/").content.decode()
    assert page.count('data-testid="session-row"') == 2
    assert "Chrome on Android" in page and "Firefox on Linux" in page and "192.0.2.7" in page
    assert page.count('data-current="true"') == 1
    phone_record = record_of(phone)
    response = laptop.post("/account/sessions/end/", {"session": phone_record.pk})
    assert response.url == "/account/security/"
    gone = phone.get("/studies/")
    assert gone.url.startswith("/login/") and "_auth_user_id" not in phone.session
    assert "signed out from the Security page" in messages_of(gone)[0]
    assert laptop.get("/studies/").status_code == 200
    event = AuditEvent.objects.get(action="session.ended")
    assert event.object_id == str(phone_record.pk) and event.actor == patient.email
    # Another account's session cannot be named.
    other = Client()
    other.force_login(patient.__class__.objects.create_user("x@example.org", PASSWORD))
    assert (
        laptop.post("/account/sessions/end/", {"session": record_of(other).pk}).status_code == 404
    )
    assert other.get("/studies/").status_code == 200


def test_sign_out_everywhere_ends_the_other_sessions(login: Any, radiologist: Any) -> None:
    others = [Client(), Client()]
    for other in others:
        other.force_login(radiologist)
    client = Client()
    password_login(client, radiologist)
    response = client.post("/account/sessions/end-all/")
    assert response.url == "/account/security/"
    for other in others:
        assert other.get("/worklist/").url.startswith("/login/")
    assert client.get("/worklist/").status_code == 200
    event = AuditEvent.objects.get(action="session.ended_all")
    assert event.detail == {"count": 2}
    open_ = UserSession.objects.filter(user=radiologist, ended_at__isnull=True)
    assert list(open_) == [record_of(client)]


def test_logout_ends_the_record(login: Any, patient: Any) -> None:
    client = login(patient)
    record = record_of(client)
    client.post("/logout/")
    record.refresh_from_db()
    assert record.end_reason == "logout"
    assert AuditEvent.objects.filter(action="logout", actor=patient.email).exists()


# -- re-authentication ----------------------------------------------------------------------------


def make_stale(client: Client) -> None:
    session = client.session
    session[session_records.REAUTH_AT] = time.time() - 3600
    session.save()


def test_a_role_change_needs_a_recent_confirmation(
    client: Client, admin_user: Any, patient: Any
) -> None:
    throttle.reset(admin_user.email)
    password_login(client, admin_user)
    make_stale(client)
    data = {"role": "radiologist", "is_active": "on", "next": "/manage/users/"}
    response = client.post(f"/manage/users/{patient.pk}/", data)
    assert response.status_code == 302
    assert response.url == "/account/confirm/?next=%2Fmanage%2Fusers%2F"
    patient.refresh_from_db()
    assert patient.role == Role.PATIENT  # nothing changed
    page = client.get(response.url).content.decode()
    assert 'data-testid="reauth-password"' in page and 'data-testid="mfa-code"' in page
    wrong = client.post(response.url, {"password": "nope", "code": next_totp(admin_user)})
    assert wrong.status_code == 200 and b"not right" in wrong.content
    assert AuditEvent.objects.filter(action="reauth.failed").count() == 1
    no_code = client.post(response.url, {"password": PASSWORD, "code": "000000"})
    assert no_code.status_code == 200
    ok = client.post(response.url, {"password": PASSWORD, "code": next_totp(admin_user)})
    assert ok.status_code == 302 and ok.url == "/manage/users/"
    assert AuditEvent.objects.filter(action="reauth", actor=admin_user.email).count() == 1
    assert client.post(f"/manage/users/{patient.pk}/", data).url == "/manage/users/"
    patient.refresh_from_db()
    assert patient.role == Role.RADIOLOGIST


def test_an_export_needs_a_recent_confirmation(login: Any, patient: Any, settings: Any) -> None:
    study = Study.objects.create(owner=patient, status=StudyStatus.READY)
    client = login(patient)
    make_stale(client)
    url = f"/studies/{study.pk}/exports/new/"
    page = client.post(url, {"kind": "dicom", "next": f"/studies/{study.pk}/"})
    assert page.url == f"/account/confirm/?next=%2Fstudies%2F{study.pk}%2F"
    fetch = client.post(url, {"kind": "dicom"}, HTTP_ACCEPT="application/json")
    assert fetch.status_code == 401 and fetch["X-Reauth-URL"].startswith("/account/confirm/")
    assert not Export.objects.exists()
    assert client.post(page.url, {"password": PASSWORD}).url == f"/studies/{study.pk}/"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert client.post(url, {"kind": "dicom"}, HTTP_ACCEPT="application/json").status_code in {
        200,
        202,
    }
    assert Export.objects.count() == 1


def test_signing_in_counts_as_a_confirmation(client: Client, radiologist: Any) -> None:
    enrol_totp(radiologist)
    password_login(client, radiologist)
    from portal.accounts import reauth

    request = client.get("/account/security/").wsgi_request
    assert reauth.is_recent(request)


def test_a_change_in_the_django_admin_needs_a_recent_confirmation(
    login: Any, admin_user: Any, patient: Any
) -> None:
    client = login(admin_user)
    make_stale(client)
    url = f"/admin/accounts/user/{patient.pk}/change/"
    assert client.get(url).status_code == 200  # reading needs no confirmation
    response = client.post(url, {"email": patient.email, "role": "admin"}, HTTP_REFERER=url)
    assert response.status_code == 302
    assert (
        response.url
        == f"/account/confirm/?next=%2Fadmin%2Faccounts%2Fuser%2F{patient.pk}%2Fchange%2F"
    )
    patient.refresh_from_db()
    assert patient.role == Role.PATIENT
    assert client.post("/admin/logout/").status_code in {200, 302}  # logging out does not ask


def test_creating_an_api_token_needs_a_recent_confirmation(client: Client, patient: Any) -> None:
    """Issue 21: re-authentication before token creation."""
    from portal.apitokens.models import ApiToken

    password_login(client, patient)
    make_stale(client)
    response = client.post("/account/tokens/", {"name": "script", "days": "7"})
    assert response.status_code == 302 and response.url.startswith("/account/confirm/")
    assert not ApiToken.objects.exists()
    assert client.get("/account/tokens/").status_code == 200  # listing needs nothing more
    ok = client.post(response.url, {"password": PASSWORD})
    assert ok.status_code == 302
    created = client.post("/account/tokens/", {"name": "script", "days": "7"})
    assert created.status_code == 200 and ApiToken.objects.filter(owner=patient).count() == 1
