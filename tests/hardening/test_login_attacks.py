"""Attacks on logging in (issue 13, points 4 and 7): every login path is throttled, and
neither login, sign-up nor password reset tells an attacker whether an address has an
account, nor sends an address a flood of emails.

Counters live in the shared cache (Redis in these runs, kept between runs): each test
resets the counters it uses.
"""

from __future__ import annotations

import random
import re
import statistics
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.test import Client

from portal.accounts import throttle
from portal.accounts.models import User
from tests.conftest import (
    LOAD_GROUP,
    PASSWORD,
    enrol_totp,
    make_user,
    next_totp,
    run_smtp,
    text_body,
)

pytestmark = pytest.mark.django_db


def forget_login_failures(email: str, *ips: str) -> None:
    """Clear the login throttle's counters of an address and client IPs."""
    throttle.reset(email)
    for ip in ips:
        cache.delete(f"login-fail:ip:{ip}")


# -- point 4: the Django admin has no login of its own -------------------------------------


def test_admin_login_cannot_be_used_to_guess_passwords(admin_user: Any) -> None:
    """30 wrong guesses then the right password at /admin/login/ give no session: the admin
    site sends every login to the portal's throttled /login/ page."""
    ip = "203.0.113.40"
    forget_login_failures(admin_user.email, ip)
    client = Client(REMOTE_ADDR=ip)
    try:
        for n in range(30):
            client.post("/admin/login/?next=/admin/",
                        {"username": admin_user.email, "password": f"guess-{n}"})  # fmt: skip
        response = client.post("/admin/login/?next=/admin/",
                               {"username": admin_user.email, "password": PASSWORD})  # fmt: skip
        assert "_auth_user_id" not in client.session
        assert response.status_code == 302
        target = urlsplit(response.url)
        assert target.path == "/login/" and "next=/admin/" in target.query
        assert client.get("/admin/").status_code == 302  # still no admin session
    finally:
        forget_login_failures(admin_user.email, ip)


def test_admin_guesses_go_through_the_portal_login_throttle(admin_user: Any) -> None:
    """The one login there is locks after LOGIN_MAX_FAILURES, also when reached from the
    admin site."""
    ip = "203.0.113.41"
    forget_login_failures(admin_user.email, ip)
    client = Client(REMOTE_ADDR=ip)
    try:
        login_url = client.get("/admin/", follow=True).redirect_chain[-1][0]
        assert urlsplit(login_url).path == "/login/"
        for n in range(5):
            client.post(login_url, {"email": admin_user.email, "password": f"guess-{n}"})
        locked = client.post(login_url, {"email": admin_user.email, "password": PASSWORD})
        assert locked.status_code == 429 and "_auth_user_id" not in client.session
    finally:
        forget_login_failures(admin_user.email, ip)


def test_admin_reaches_the_admin_site_after_the_portal_login(admin_user: Any, patient: Any) -> None:
    ip = "203.0.113.42"
    forget_login_failures(admin_user.email, ip)
    client = Client(REMOTE_ADDR=ip)
    try:
        enrol_totp(admin_user)
        login_url = client.get("/admin/", follow=True).redirect_chain[-1][0]
        response = client.post(login_url, {"email": admin_user.email, "password": PASSWORD})
        # The second factor comes between the password and the admin (tests/test_mfa.py).
        assert response.status_code == 302 and response.url == "/login/code/"
        response = client.post(response.url, {"code": next_totp(admin_user)})
        assert response.status_code == 302 and response.url == "/admin/"
        page = client.get("/admin/")
        assert page.status_code == 200 and b"DICOM Portal administration" in page.content
        assert client.get("/admin/accounts/user/").status_code == 200
        # A signed-in patient sent to the admin login lands on their own home, no loop.
        other = Client(REMOTE_ADDR=ip)
        other.force_login(patient)
        final = other.get("/admin/", follow=True).redirect_chain[-1][0]
        assert urlsplit(final).path == "/studies/"
    finally:
        forget_login_failures(admin_user.email, ip)


# -- point 7: no flood of emails, no answer to "has this address an account?" -------------


def unique_address(kind: str) -> str:
    """A fresh address: its counters in the shared cache start at zero."""
    return f"{kind}-{uuid.uuid4().hex[:12]}@example.org"


def unique_ip() -> str:
    return f"198.18.{random.randint(0, 255)}.{random.randint(1, 254)}"


def test_password_reset_emails_are_limited_per_address(
    settings: Any, smtp_settings: Any, transactional_db: None
) -> None:
    """15 requests in a second for one address: ACCOUNT_EMAIL_RATE emails, and every
    answer is the same "we sent you a link" redirect."""
    settings.ACCOUNT_EMAIL_RATE = "3/hour"
    settings.PASSWORD_RESET_IP_RATE = "0"
    user = make_user(unique_address("reset"), "patient")
    client = Client(REMOTE_ADDR=unique_ip())
    answers = {client.post("/password-reset/", {"email": user.email}).url for _ in range(15)}
    assert answers == {"/password-reset/sent/"}
    smtp_settings.wait_for(3)
    time.sleep(0.5)  # anything more would have arrived by now (sent during the request)
    assert len(smtp_settings.messages) == 3
    assert {message["To"] for message in smtp_settings.messages} == {user.email}


def test_password_reset_is_limited_per_ip(settings: Any, smtp_settings: Any) -> None:
    settings.ACCOUNT_EMAIL_RATE = "0"
    settings.PASSWORD_RESET_IP_RATE = "5/hour"
    ip = unique_ip()
    client = Client(REMOTE_ADDR=ip)
    codes = [
        client.post("/password-reset/", {"email": unique_address("nobody")}).status_code
        for _ in range(7)
    ]
    assert codes == [302] * 5 + [429] * 2
    refused = client.post("/password-reset/", {"email": unique_address("nobody")})
    assert "Too many password-reset requests" in refused.content.decode()
    other = Client(REMOTE_ADDR=unique_ip())
    assert other.post("/password-reset/", {"email": unique_address("nobody")}).status_code == 302


SLOW_SMTP = 1.0  # seconds the mail server takes to accept a message


@pytest.fixture
def slow_smtp(settings: Any) -> Any:
    for sink in run_smtp(delay=SLOW_SMTP):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = sink.host, sink.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        yield sink


@LOAD_GROUP  # timed
@pytest.mark.parametrize(
    "path, field",
    [("/password-reset/", "email"), ("/verify/again/", "email"), ("/signup/", "email")],
)
def test_account_emails_do_not_make_the_answer_slower(
    path: str, field: str, settings: Any, slow_smtp: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """A slow mail server must not tell an attacker which addresses have an account: the
    answer comes as fast whether or not an email is due, and the email (sent by a worker
    once the request has committed) still arrives, with a working link."""
    settings.ACCOUNT_EMAIL_RATE = settings.PASSWORD_RESET_IP_RATE = settings.SIGNUP_RATE = "0"
    known = make_user(unique_address("known"), "patient")
    if path == "/verify/again/":  # a new link is only for an address not yet confirmed
        User.objects.filter(pk=known.pk).update(email_verified=False)
    client = Client(REMOTE_ADDR=unique_ip())
    data = {"password": PASSWORD, "password2": PASSWORD}
    timings = {}
    for name, address in (("known", known.email), ("unknown", unique_address("nobody"))):
        with django_capture_on_commit_callbacks(execute=True):  # the commit, after the answer
            start = time.perf_counter()
            response = client.post(path, {**data, field: address})
            timings[name] = time.perf_counter() - start
        assert response.status_code in (200, 302), response.status_code
    (message, *_) = slow_smtp.wait_for(1)
    assert message["To"] == known.email and "http" in text_body(message)
    assert max(timings.values()) < SLOW_SMTP / 2, timings


def timed_login(client: Client, email: str) -> float:
    start = time.perf_counter()
    response = client.post("/login/", {"email": email, "password": "not-the-password-1"})
    elapsed = time.perf_counter() - start
    assert response.status_code == 200 and b"not right" in response.content
    return elapsed


@LOAD_GROUP  # timed
def test_login_takes_as_long_without_an_account(settings: Any) -> None:
    """The real password hasher (not the tests' MD5): a wrong password for an account and
    any password for an address without one cost the same hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    settings.LOGIN_MAX_FAILURES = 1000
    user = make_user(unique_address("timing"), "patient")
    invited = User.objects.create_user(unique_address("invited"), None, role="radiologist")
    client = Client(REMOTE_ADDR=unique_ip())
    known, unknown, pending = [], [], []
    for _ in range(5):  # interleaved: a slow moment of the machine hits all cases alike
        known.append(timed_login(client, user.email))
        unknown.append(timed_login(client, unique_address("nobody")))
        pending.append(timed_login(client, invited.email))  # no usable password yet
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2, (known, unknown)
    ratio = statistics.median(pending) / statistics.median(known)
    assert 0.5 < ratio < 2, (known, pending)


def signup(client: Client, email: str) -> Any:
    return client.post("/signup/", {"email": email, "password": PASSWORD, "password2": PASSWORD})


def done_text(response: Any, email: str) -> str:
    """The visible text of the "check your email" section, with the address taken out."""
    html = response.content.decode()
    start = html.index('data-testid="signup-done"')
    section = html[start : html.index("</section>", start)]
    return re.sub(r"<[^>]+>", " ", section).replace(email, "EMAIL")


def test_signup_with_an_existing_address_looks_like_a_new_signup(
    patient: Any, smtp_settings: Any, transactional_db: None
) -> None:
    new_address = unique_address("new")
    fresh = signup(Client(REMOTE_ADDR=unique_ip()), new_address)
    again = signup(Client(REMOTE_ADDR=unique_ip()), patient.email)
    assert fresh.status_code == again.status_code == 200
    assert "already" not in again.content.decode().lower()
    assert done_text(fresh, new_address) == done_text(again, patient.email)
    # The account holder hears of it; their account is unchanged.
    messages = smtp_settings.wait_for(2)
    notice = next(message for message in messages if message["To"] == patient.email)
    body = text_body(notice)
    assert "/password-reset/" in body and "/verify/" not in body
    patient.refresh_from_db()
    assert patient.check_password(PASSWORD)
    assert User.objects.filter(email__iexact=patient.email).count() == 1


def test_signup_notices_to_an_existing_address_are_limited(
    patient: Any, settings: Any, smtp_settings: Any, transactional_db: None
) -> None:
    settings.ACCOUNT_EMAIL_RATE = "2/hour"
    user = make_user(unique_address("notice"), "patient")
    for _ in range(5):
        assert signup(Client(REMOTE_ADDR=unique_ip()), user.email).status_code == 200
    smtp_settings.wait_for(2)
    time.sleep(0.5)
    assert len(smtp_settings.messages) == 2
