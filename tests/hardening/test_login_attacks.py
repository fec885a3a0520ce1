"""Attacks on logging in (issue 13, points 4 and 7): every login path is throttled, and
neither login, sign-up nor password reset tells an attacker whether an address has an
account, nor sends an address a flood of emails.

Counters live in the shared cache (Redis in these runs, kept between runs): each test
resets the counters it uses.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.test import Client

from portal.accounts import throttle
from tests.conftest import PASSWORD

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
        login_url = client.get("/admin/", follow=True).redirect_chain[-1][0]
        response = client.post(login_url, {"email": admin_user.email, "password": PASSWORD})
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
