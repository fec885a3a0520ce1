"""Headless Chromium (issue 21 B): a radiologist is forced through TOTP enrolment, then
needs a code at each login; a recovery code works once; an idle session expires."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest

from portal.accounts import mfa
from tests.conftest import ARTIFACTS, PASSWORD, browser_login, enrol_totp, next_totp

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def phone(browser: Any, live_server: Any, settings: Any) -> Iterator[Any]:
    """A page 390 px wide (a phone)."""
    settings.SITE_URL = live_server.url
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    context.set_default_timeout(15000)
    yield context.new_page()
    context.close()


def fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def type_password(page: Any, email: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(password)
    with page.expect_navigation():
        page.get_by_test_id("login-submit").click()


def test_a_radiologist_enrols_then_needs_a_code_at_each_login(phone: Any, radiologist: Any) -> None:
    page = phone
    type_password(page, radiologist.email)
    assert page.url.endswith("/login/two-factor/")
    assert page.get_by_test_id("mfa-required").is_visible()
    assert page.get_by_test_id("mfa-qr").locator("svg").is_visible()
    assert fits(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "mfa-enrol-390.png"), full_page=True)
    # Nothing else is reachable before the second factor.
    page.goto("/worklist/")
    assert "/login/" in page.url and "two-factor" not in page.url
    page.goto("/login/two-factor/")
    secret = page.get_by_test_id("mfa-secret").inner_text().replace(" ", "")
    # The code field has the focus: type the code and press Enter, no mouse.
    page.keyboard.type("111111")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "not right" in page.get_by_test_id("mfa-error").inner_text()
    page.get_by_test_id("mfa-code").fill(pyotp.TOTP(secret).now())
    with page.expect_navigation():
        page.get_by_test_id("mfa-submit").click()
    codes = page.get_by_test_id("recovery-code").all_inner_texts()
    assert len(codes) == 10
    assert fits(page)
    with page.expect_navigation():
        page.get_by_test_id("mfa-continue").click()
    assert page.url.endswith("/worklist/")
    assert mfa.has_device(radiologist)

    # The next login asks for a code; the Security page lists this session.
    page.goto("/account/security/")
    assert page.get_by_test_id("mfa-on").is_visible()
    assert page.get_by_test_id("session-row").count() == 1
    assert fits(page)
    page.get_by_test_id("nav-logout").click()
    page.wait_for_url(re.compile(r"/login/$"))
    type_password(page, radiologist.email)
    assert page.url.endswith("/login/code/")
    page.keyboard.type(next_totp(radiologist))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/worklist/")


def test_a_recovery_code_works_once(page: Any, radiologist: Any) -> None:
    enrol_totp(radiologist)
    codes = mfa.new_recovery_codes(radiologist)
    type_password(page, radiologist.email)
    page.get_by_test_id("mfa-code").fill(codes[3])
    with page.expect_navigation():
        page.get_by_test_id("mfa-submit").click()
    assert page.url.endswith("/worklist/")
    assert "9 left" in page.get_by_test_id("message").inner_text()
    page.get_by_test_id("nav-logout").click()
    page.wait_for_url(re.compile(r"/login/$"))
    type_password(page, radiologist.email)
    page.get_by_test_id("mfa-code").fill(codes[3])
    with page.expect_navigation():
        page.get_by_test_id("mfa-submit").click()
    assert page.url.endswith("/login/code/")
    assert "not right" in page.get_by_test_id("mfa-error").inner_text()


def test_an_idle_session_expires(page: Any, radiologist: Any, settings: Any) -> None:
    settings.SESSION_IDLE_SECONDS = {**settings.SESSION_IDLE_SECONDS, "radiologist": 2}
    enrol_totp(radiologist)
    browser_login(page, radiologist.email)  # the helper other browser tests use for staff
    assert page.url.endswith("/worklist/")
    time.sleep(2.5)
    page.goto("/studies/")
    assert re.search(r"/login/\?next=/studies/$", page.url)
    assert "without activity" in page.get_by_test_id("message").inner_text()
    browser_login(page, radiologist.email)
    assert page.url.endswith("/worklist/")
