"""Headless Chromium: sign up, verify by the emailed link, log in, see the role home page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail

from tests.conftest import ARTIFACTS, PASSWORD, browser_login, link_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_signup_verify_login_lands_on_patient_home(page: Any, live_server: Any) -> None:
    page.goto("/signup/")
    page.get_by_test_id("signup-email").fill("marie@example.org")
    page.get_by_test_id("signup-password").fill(PASSWORD)
    page.get_by_test_id("signup-password2").fill(PASSWORD)
    page.get_by_test_id("signup-submit").click()
    page.get_by_test_id("signup-done").wait_for()

    (message,) = mail.outbox
    link = link_in(str(message.body))
    assert link.startswith(live_server.url)
    page.goto(link)
    assert page.get_by_test_id("message").inner_text().startswith("Your email address is confirmed")

    browser_login(page, "marie@example.org")
    assert page.url.endswith("/studies/")
    assert page.get_by_test_id("nav-studies").is_visible()
    assert page.get_by_test_id("nav-worklist").count() == 0
    assert page.get_by_test_id("studies-empty").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "patient-home.png"), full_page=True)

    page.get_by_test_id("nav-logout").click()
    page.wait_for_url(re.compile(r"/login/"))


@pytest.mark.parametrize(
    ("role", "home", "visible", "hidden"),
    [
        ("radiologist", "/worklist/", "nav-worklist", "nav-users"),
        ("admin", "/manage/", "nav-audit", "nav-upload"),
    ],
)
def test_role_home_pages(
    page: Any, role: str, home: str, visible: str, hidden: str, radiologist: Any, admin_user: Any
) -> None:
    user = {"radiologist": radiologist, "admin": admin_user}[role]
    browser_login(page, user.email)
    assert page.url.endswith(home)
    assert page.get_by_test_id(visible).is_visible()
    assert page.get_by_test_id(hidden).count() == 0
    page.screenshot(path=str(ARTIFACTS / f"{role}-home.png"), full_page=True)


def test_wrong_password_shows_error(page: Any, patient: Any) -> None:
    browser_login(page, patient.email, "not-the-password")
    assert "not right" in page.get_by_test_id("login-error").inner_text()
