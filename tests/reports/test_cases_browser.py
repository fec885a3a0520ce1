"""Headless Chromium: review requests (cases). A second upload of the same study with a
new question is a second request and both reach the worklist; a request with two studies
shows both on the radiologist's request page, with the same patient's earlier study as a
prior that opens in the viewer."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydicom.data import get_testdata_file

from tests.a11y import axe_violations, describe, sideways_scroll
from tests.conftest import browser_login
from tests.reports.factories import make_request, make_study
from uploads.models import ReviewRequest, Study

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("require_postgres"),
]

FIRST = "Is the lesion growing?"
SECOND = "Second opinion after surgery: any recurrence?"


def send(page: Any, path: Path, question: str, *, urgent: bool = False) -> None:
    """On the upload page: choose ``path``, type ``question``, Send, wait until done."""
    page.goto("/upload/")
    page.wait_for_selector("body[data-ready=true]")
    page.get_by_test_id("upload-input").set_input_files(path)
    page.get_by_test_id("upload-found").filter(has_text="1 study found").wait_for()
    page.get_by_test_id("upload-question").fill(question)
    if urgent:
        page.get_by_test_id("upload-urgency").select_option("urgent")
    page.get_by_test_id("upload-start").click()
    page.get_by_test_id("upload-status").filter(has_text="Done").wait_for(timeout=60000)


def test_a_second_question_about_the_same_study_is_a_second_request_on_the_worklist(
    page: Any, browser: Any, live_server: Any, patient: Any, radiologist: Any
) -> None:
    ct = Path(str(get_testdata_file("CT_small.dcm")))
    browser_login(page, patient.email)
    send(page, ct, FIRST)
    assert not page.get_by_test_id("upload-already").is_visible()

    # The same study again: the page offers the earlier request; a new question is the default.
    page.goto("/upload/")
    choice = page.get_by_test_id("upload-request-choice")
    assert FIRST in choice.inner_text()
    assert page.get_by_test_id("upload-request-new").is_checked()
    send(page, ct, SECOND, urgent=True)
    already = page.get_by_test_id("upload-already")
    already.wait_for()
    assert "already uploaded" in already.inner_text()
    assert "kept" in already.inner_text()

    study = Study.objects.get(owner=patient)
    cases = list(ReviewRequest.objects.filter(owner=patient).order_by("pk"))
    assert [c.clinical_question for c in cases] == [FIRST, SECOND]
    assert [c.urgency for c in cases] == ["routine", "urgent"]
    assert all(list(c.studies.all()) == [study] for c in cases)

    # The radiologist's worklist lists both requests, each a row with the study: the
    # urgent second one first.
    staff = browser.new_context(base_url=live_server.url)
    doctor = staff.new_page()
    browser_login(doctor, radiologist.email)
    doctor.goto("/worklist/")
    rows = doctor.locator('[data-testid="worklist-row"][data-kind="pool"]')
    assert rows.count() == 2
    assert [int(rows.nth(i).get_attribute("data-request-id")) for i in range(2)] == [
        cases[1].pk,
        cases[0].pk,
    ]
    assert SECOND in rows.nth(0).get_by_test_id("worklist-question").inner_text()
    assert rows.nth(0).get_attribute("data-urgency") == "urgent"
    assert FIRST in rows.nth(1).get_by_test_id("worklist-question").inner_text()
    for i in range(2):
        study_cell = rows.nth(i).get_by_test_id("worklist-study")
        assert study_cell.get_attribute("data-study-id") == str(study.pk)
    # Each is claimed and reported on its own: the second, from its request page.
    with doctor.expect_navigation():
        rows.nth(0).get_by_role("link", name=f"#{cases[1].pk}").click()
    assert SECOND in doctor.get_by_test_id("request-question").inner_text()
    assert doctor.get_by_test_id("request-study-row").count() == 1
    with doctor.expect_navigation():
        doctor.get_by_test_id("claim-button").click()
    assert doctor.url.endswith(f"/requests/{cases[1].pk}/report/")
    doctor.goto("/worklist/")
    mine = doctor.locator('[data-testid="worklist-row"][data-kind="mine"]')
    pool = doctor.locator('[data-testid="worklist-row"][data-kind="pool"]')
    assert mine.count() == 1 and mine.first.get_attribute("data-request-id") == str(cases[1].pk)
    assert pool.count() == 1 and pool.first.get_attribute("data-request-id") == str(cases[0].pk)
    staff.close()


def test_a_study_added_to_an_earlier_request_through_the_page(
    page: Any, patient: Any, radiologist: Any
) -> None:
    browser_login(page, patient.email)
    send(page, Path(str(get_testdata_file("CT_small.dcm"))), "Compare with last year's MR.")
    first = ReviewRequest.objects.get(owner=patient)

    page.goto("/upload/")
    page.wait_for_selector("body[data-ready=true]")
    page.get_by_test_id("upload-input").set_input_files(get_testdata_file("MR_small.dcm"))
    page.get_by_test_id("upload-found").filter(has_text="1 study found").wait_for()
    earlier = page.locator(f'[data-testid="upload-request-earlier"][value="{first.pk}"]')
    earlier.focus()
    page.keyboard.press("Space")  # reachable and chosen with the keyboard
    assert earlier.is_checked()
    page.get_by_test_id("upload-question").fill("This is the MR from last year.")
    page.get_by_test_id("upload-start").click()
    page.get_by_test_id("upload-status").filter(has_text="Done").wait_for(timeout=60000)

    assert ReviewRequest.objects.filter(owner=patient).count() == 1
    first.refresh_from_db()
    assert first.studies.count() == 2
    assert first.clinical_question == (
        "Compare with last year's MR.\n\nThis is the MR from last year."
    )
    # Her study page lists the request, which shows both studies.
    page.goto(f"/requests/{first.pk}/")
    assert page.get_by_test_id("request-study-row").count() == 2


def test_a_request_with_two_studies_shows_both_and_the_prior(
    browser: Any, live_server: Any, patient: Any, radiologist: Any
) -> None:
    today = date.today()
    ct = make_study(patient, study_date=today, instances=1, description="CT HEAD",
                    patient_pseudonym="PSEUDO-1", case=False)  # fmt: skip
    mr = make_study(patient, modalities="MR", description="MR BRAIN", instances=1,
                    patient_pseudonym="PSEUDO-1", study_date=today - timedelta(days=365),
                    case=False)  # fmt: skip
    prior = make_study(patient, description="CT HEAD OLD", instances=1,
                       patient_pseudonym="PSEUDO-1", status="reported",
                       study_date=today - timedelta(days=900))  # fmt: skip
    someone_else = make_study(patient, description="OTHER PATIENT", instances=1,
                              patient_pseudonym="PSEUDO-2", status="reported")  # fmt: skip
    case = make_request(patient, [ct, mr], clinical_question="Compare both.",
                        status="in_review", assigned_to=radiologist)  # fmt: skip

    # At phone width; axe-core is added as a script, which the portal's CSP would refuse.
    context = browser.new_context(base_url=live_server.url, bypass_csp=True,
                                  viewport={"width": 390, "height": 800})  # fmt: skip
    page = context.new_page()
    browser_login(page, radiologist.email)
    page.goto(f"/requests/{case.pk}/")
    assert "Compare both." in page.get_by_test_id("request-question").inner_text()
    shown = page.get_by_test_id("request-study-row")
    ids = {int(shown.nth(i).get_attribute("data-study-id")) for i in range(shown.count())}
    assert ids == {ct.pk, mr.pk}
    priors = page.get_by_test_id("prior-row")
    assert priors.count() == 1 and priors.first.get_attribute("data-study-id") == str(prior.pk)
    assert "OTHER PATIENT" not in page.content() and str(someone_else.pk) not in ids
    assert sideways_scroll(page, 390) == ""
    serious = axe_violations(page)
    assert not serious, describe(serious)

    # The reading page offers both studies of the request, the CT first (by date: the MR).
    page.goto(f"/requests/{case.pk}/read/")
    choices = page.get_by_test_id("reading-study")
    assert choices.count() == 1  # the other one is shown
    frame = page.get_by_test_id("reading-frame")
    shown_first = mr.pk  # the older study comes first
    assert f"/studies/{shown_first}/viewer/" in frame.get_attribute("src")
    with page.expect_navigation():
        choices.first.click()
    assert f"/studies/{ct.pk}/viewer/" in page.get_by_test_id("reading-frame").get_attribute("src")
    assert sideways_scroll(page, 390) == ""
    page.goto(f"/requests/{case.pk}/")

    # The prior opens in the viewer, for this radiologist.
    with page.expect_navigation():
        priors.first.get_by_test_id("open-viewer").click()
    page.get_by_test_id("viewer-image").wait_for()
    assert page.url.endswith(f"/studies/{prior.pk}/viewer/")
    context.close()
