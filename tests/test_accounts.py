"""Sign-up with email verification, login throttling, invitations, password reset."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.core.cache import cache

from portal.accounts.models import Role, User
from portal.audit.models import AuditEvent
from tests.conftest import PASSWORD, link_in, password_login, text_body

pytestmark = pytest.mark.django_db


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def test_signup_sends_verification_and_blocks_login_until_verified(
    client: Any, transactional_db: None
) -> None:
    response = client.post(
        "/signup/",
        {"email": "New@Example.org", "password": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 200
    assert b"Check your email" in response.content
    user = User.objects.get(email="new@example.org")
    assert user.role == Role.PATIENT and not user.email_verified

    response = client.post("/login/", {"email": "new@example.org", "password": PASSWORD})
    assert b"confirm your email" in response.content
    assert "_auth_user_id" not in client.session

    assert len(mail.outbox) == 1
    link = link_in(str(mail.outbox[0].body))
    assert client.get(path_of(link)).status_code == 302
    user.refresh_from_db()
    assert user.email_verified
    # The verification link works once.
    assert client.get(path_of(link)).status_code == 400

    response = client.post("/login/", {"email": "new@example.org", "password": PASSWORD})
    assert response.status_code == 302 and response.url == "/"
    assert client.get("/").url == "/studies/"
    assert AuditEvent.objects.filter(action="login", user=user).count() == 1


def test_signup_rejects_mismatch_and_weak_passwords(client: Any) -> None:
    """(An address that has an account gets the "check your email" page, as a new one:
    tests/hardening/test_login_attacks.py.)"""
    cases = [
        ({"email": "x@example.org", "password": PASSWORD, "password2": "other"}, b"differ"),
        ({"email": "x@example.org", "password": "123", "password2": "123"}, b"too short"),
    ]
    for data, message in cases:
        response = client.post("/signup/", data)
        assert response.status_code == 200
        assert message in response.content
    assert not User.objects.filter(email="x@example.org").exists()
    assert mail.outbox == []


def test_login_throttling_locks_after_repeated_failures(client: Any, patient: Any) -> None:
    cache.clear()
    for _ in range(5):
        response = client.post("/login/", {"email": patient.email, "password": "wrong"})
        assert response.status_code == 200
        assert b"not right" in response.content
    # Even the right password is refused while locked.
    response = client.post("/login/", {"email": patient.email, "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    cache.clear()
    response = client.post("/login/", {"email": patient.email, "password": PASSWORD})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="login.failed").count() == 5


def test_deactivated_account_cannot_log_in(client: Any, patient: Any) -> None:
    patient.is_active = False
    patient.save()
    response = client.post("/login/", {"email": patient.email, "password": PASSWORD})
    assert b"deactivated" in response.content
    assert "_auth_user_id" not in client.session


def test_login_next_parameter_is_kept_only_for_local_urls(client: Any, admin_user: Any) -> None:
    # An admin passes the second factor too: ``next`` is kept (checked) across it.
    assert password_login(client, admin_user, next="/manage/audit/").url == "/manage/audit/"
    client.logout()
    assert password_login(client, admin_user, next="https://evil.example/").url == "/"


def test_admin_invites_radiologist_with_one_time_link(login: Any, admin_user: Any) -> None:
    client = login(admin_user)
    response = client.post(
        "/manage/users/", {"email": "rad@example.org", "name": "Dr. Rad", "role": "radiologist"}
    )
    assert response.status_code == 302
    invitee = User.objects.get(email="rad@example.org")
    assert invitee.role == Role.RADIOLOGIST and not invitee.has_usable_password()
    assert "invited you" in mail.outbox[0].body
    link = path_of(link_in(str(mail.outbox[0].body)))
    client.logout()

    new_password = "a-long-new-secret-42"
    response = client.post(link, {"new_password1": new_password, "new_password2": new_password})
    # A radiologist needs 2FA: setting the password leads to the enrolment, not a session.
    assert response.status_code == 302 and response.url == "/login/two-factor/"
    invitee.refresh_from_db()
    assert invitee.check_password(new_password) and invitee.email_verified
    assert "_auth_user_id" not in client.session
    assert password_login(client, invitee, new_password).url == "/"
    assert client.get("/").url == "/worklist/"
    client.logout()
    # One time only.
    assert client.get(link).status_code == 400


def test_only_admins_can_invite_or_change_users(login: Any, radiologist: Any, patient: Any) -> None:
    for user in (radiologist, patient):
        client = login(user)
        assert (
            client.post("/manage/users/", {"email": "z@example.org", "role": "admin"}).status_code
            == 403
        )
        assert client.post(f"/manage/users/{patient.pk}/", {"role": "admin"}).status_code == 403
    assert not User.objects.filter(email="z@example.org").exists()
    patient.refresh_from_db()
    assert patient.role == Role.PATIENT


def test_admin_changes_role_and_deactivates(login: Any, admin_user: Any, patient: Any) -> None:
    client = login(admin_user)
    response = client.post(f"/manage/users/{patient.pk}/", {"role": "radiologist"})
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.role == Role.RADIOLOGIST and not patient.is_active
    assert AuditEvent.objects.filter(action="account.updated", object_id=str(patient.pk)).exists()
    # Not on oneself.
    assert client.post(f"/manage/users/{admin_user.pk}/", {"role": "patient"}).status_code == 403


def test_password_reset_through_real_smtp(
    client: Any, patient: Any, smtp_settings: Any, transactional_db: None
) -> None:
    response = client.post("/password-reset/", {"email": patient.email})
    assert response.status_code == 302
    (message,) = smtp_settings.wait_for(1)
    assert message["To"] == patient.email
    assert message.get_body(preferencelist=("html",)) is not None
    link = path_of(link_in(text_body(message)))
    # Django redirects the token URL to a session-bound "set-password" URL.
    response = client.get(link, follow=True)
    form_url = response.redirect_chain[-1][0]
    response = client.post(
        form_url, {"new_password1": "brand-new-pass-77", "new_password2": "brand-new-pass-77"}
    )
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.check_password("brand-new-pass-77")


def test_unknown_email_password_reset_sends_nothing(client: Any, smtp_settings: Any) -> None:
    assert client.post("/password-reset/", {"email": "nobody@example.org"}).status_code == 302
    assert smtp_settings.messages == []


def test_seed_demo_creates_verified_accounts_and_keeps_passwords(db: None) -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("seed_demo", "--password", "demo-pass-123", stdout=out)
    for email, role in [
        ("patient@example.org", "patient"),
        ("radiologist@example.org", "radiologist"),
        ("admin@example.org", "admin"),
    ]:
        user = User.objects.get(email=email)
        assert user.role == role and user.email_verified and user.is_active
        assert user.check_password("demo-pass-123")
    assert User.objects.get(email="admin@example.org").is_staff
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert out.getvalue().count("existing password kept") == 3
    assert User.objects.get(email="patient@example.org").check_password("demo-pass-123")
