"""Headless Chromium at phone width (390 px), keyboard only where a person would type: the
owner makes a link with their own choices, the reviewer answers with the radio buttons, the
owner reads the answer on the study page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ARTIFACTS, browser_login
from tests.reports.factories import make_study
from tests.uploads.test_admin_uploads_browser import PHONE, no_sideways_scroll, press_tab_until
from uploads.models import ShareLink

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def holder(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    context.set_default_timeout(15000)
    yield context.new_page()
    context.close()


def test_own_choices_at_phone_width_with_the_keyboard(page: Any, holder: Any, patient: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    study = make_study(patient, instances=2)
    page.set_viewport_size(PHONE)
    browser_login(page, patient.email)
    page.goto(f"/studies/{study.pk}/")
    choices = page.get_by_test_id("share-verdict-choices")
    assert not choices.is_visible()  # a second opinion by default: no list to type
    press_tab_until(page, "share-verdict-kind")
    page.get_by_test_id("share-verdict-kind").select_option("custom")
    press_tab_until(page, "share-verdict-choices")
    page.keyboard.type("Operate\nWait and see\nAsk for an MRI")
    no_sideways_scroll(page)
    press_tab_until(page, "share-create")
    page.keyboard.press("Enter")
    url = page.get_by_test_id("share-link").input_value()
    assert (
        "Operate / Wait and see / Ask for an MRI"
        in page.get_by_test_id("share-created-asks").inner_text()
    )

    holder.goto(url)
    holder.wait_for_selector("body[data-ready=true]")
    holder.get_by_test_id("share-verdict").locator("summary").click()
    options = holder.get_by_test_id("verdict-option")
    assert options.count() == 3
    no_sideways_scroll(holder)
    press_tab_until(holder, "verdict-option")
    holder.keyboard.press("ArrowDown")  # moves to and picks the second choice
    holder.get_by_test_id("share-verdict-comment").fill("No change since last year.")
    press_tab_until(holder, "verdict-submit")
    holder.screenshot(path=str(ARTIFACTS / "share-verdict-phone.png"))
    holder.keyboard.press("Enter")
    holder.get_by_test_id("share-verdict-saved").wait_for()
    link = ShareLink.objects.get()
    assert link.verdict == "Wait and see"

    page.goto(f"/studies/{study.pk}/")
    answer = page.get_by_test_id("share-answer").inner_text()
    assert "Wait and see" in answer and "No change since last year." in answer
    no_sideways_scroll(page)
    page.get_by_test_id("study-sharing").screenshot(path=str(ARTIFACTS / "share-answer-phone.png"))
