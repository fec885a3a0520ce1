"""Issue 17: no way to send a verification email or a pending invitation again."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.cache import cache

from portal.accounts.models import Role, User
from portal.audit.models import AuditEvent
from tests.conftest import PASSWORD, link_in, text_body

pytestmark = pytest.mark.django_db


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def test_a_new_confirmation_link_is_sent_only_for_an_unconfirmed_account(
    client: Any, patient: Any, smtp_settings: Any, settings: Any, transactional_db: None
) -> None:
    cache.clear()
    settings.ACCOUNT_EMAIL_RATE = "2/hour"
    client.post("/signup/", {"email": "late@example.org", "password": PASSWORD,
                             "password2": PASSWORD})  # fmt: skip
    smtp_settings.wait_for(1)
    login_page = client.get("/login/").content.decode()
    assert 'href="/verify/again/"' in login_page
    answers = [
        client.post("/verify/again/", {"email": email}).content.decode()
        for email in ("LATE@example.org", patient.email, "nobody@example.org")
    ]
    # The same page whoever asks: it tells nothing about which addresses have accounts.
    assert all("If <strong>" in answer for answer in answers)
    messages = smtp_settings.wait_for(2)
    assert [m["To"] for m in messages] == ["late@example.org", "late@example.org"]
    new_link = path_of(link_in(text_body(messages[1])))
    assert client.get(new_link).status_code == 302
    assert User.objects.get(email="late@example.org").email_verified
    assert AuditEvent.objects.filter(action="account.verification_resent").count() == 1
    # Within ACCOUNT_EMAIL_RATE per address (2/hour here): sign-up, then 2 more, then none.
    client.post("/signup/", {"email": "slow@example.org", "password": PASSWORD,
                             "password2": PASSWORD})  # fmt: skip
    for _ in range(4):
        client.post("/verify/again/", {"email": "slow@example.org"})
    sent = smtp_settings.wait_for(5)
    assert sum(m["To"] == "slow@example.org" for m in sent) == 3


def test_admin_sends_a_pending_invitation_again(
    login: Any, admin_user: Any, patient: Any, smtp_settings: Any
) -> None:
    cache.clear()
    admin = login(admin_user)
    admin.post("/manage/users/", {"email": "rad@example.org", "name": "Dr. Rad",
                                  "role": "radiologist"})  # fmt: skip
    invitee = User.objects.get(email="rad@example.org")
    page = admin.get("/manage/users/").content.decode()
    row = re.search(rf'data-user-id="{invitee.pk}".*?</tr>', page, re.S)
    assert row and 'data-testid="invite-resend"' in row.group(0)
    assert "invitation not accepted yet" in row.group(0)
    other = re.search(rf'data-user-id="{patient.pk}".*?</tr>', page, re.S)
    assert other and 'data-testid="invite-resend"' not in other.group(0)

    response = admin.post(f"/manage/users/{invitee.pk}/invite-again/", follow=True)
    assert "Invitation sent again" in response.content.decode()
    _first, second = smtp_settings.wait_for(2)
    assert second["To"] == "rad@example.org" and "invited you" in text_body(second)
    assert AuditEvent.objects.filter(action="account.invite_resent").count() == 1
    # The new link sets the password; after that there is nothing to send again.
    admin.logout()
    link = path_of(link_in(text_body(second)))
    new_password = "a-long-new-secret-42"
    admin.post(link, {"new_password1": new_password, "new_password2": new_password})
    invitee.refresh_from_db()
    assert invitee.role == Role.RADIOLOGIST and invitee.check_password(new_password)
    admin = login(admin_user)
    response = admin.post(f"/manage/users/{invitee.pk}/invite-again/", follow=True)
    assert "already accepted" in response.content.decode()
    assert AuditEvent.objects.filter(action="account.invite_resent").count() == 1
