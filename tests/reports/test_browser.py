"""End to end in headless Chromium: claim, report from a template, sign, email, read, amend.

The study is created directly in the database (Study + Series + Instance with a real
DICOM file in storage); the upload itself is covered by the upload tests.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from reports.models import Delivery, ReportVersion
from tests.conftest import ARTIFACTS, browser_login, link_in, text_body
from tests.reports.factories import FINDINGS, IMPRESSION, case_of, make_study
from uploads.models import RequestStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ADDENDUM = "Compared with the prior study: stable for two years."


def test_claim_report_sign_email_read_pdf_and_addendum(
    page: Any,
    live_server: Any,
    smtp_settings: Any,
    patient: Any,
    radiologist: Any,
    tmp_path: Path,
) -> None:
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    study = make_study(patient, instances=2)

    # -- the radiologist claims the study from the pool and writes the report
    browser_login(page, radiologist.email)
    assert page.url.endswith("/worklist/")
    row = page.locator(f'[data-testid="worklist-row"][data-request-id="{case_of(study).pk}"]')
    assert row.get_attribute("data-kind") == "pool"
    row.get_by_test_id("claim-button").click()
    page.wait_for_url(re.compile(rf"/requests/{case_of(study).pk}/report/$"))

    template = page.get_by_test_id("report-template")
    assert template.input_value() == "ct-chest"  # chosen from modality + body part
    assert "Lungs and airways:" in page.get_by_test_id("report-findings").input_value()
    template.select_option("ct")  # switch: untouched sections take the CT defaults
    assert page.get_by_test_id("report-findings").input_value() == ""
    assert page.get_by_test_id("report-technique").input_value().startswith("Axial CT images")
    page.get_by_test_id("report-findings").fill(FINDINGS)
    page.get_by_test_id("report-impression").fill(IMPRESSION)
    page.get_by_test_id("key-image-center").fill("40")
    page.get_by_test_id("key-image-width").fill("400")
    page.get_by_test_id("key-image-add").click()
    assert page.get_by_test_id("key-image").count() == 1
    status = page.get_by_test_id("report-autosave-status")
    page.wait_for_function(
        "el => el.dataset.state === 'saved'", arg=status.element_handle(), timeout=10000
    )
    draft = ReportVersion.objects.get(report__study=study)
    assert draft.status == "draft" and draft.template == "ct" and draft.findings == FINDINGS
    assert draft.key_images[0]["width"] == 400
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-editor.png"), full_page=True)

    # Preview shows what is on screen (issue 17: it showed the last saved draft).
    impression = page.get_by_test_id("report-impression")
    impression.fill(f"{IMPRESSION} Seen in preview.")
    page.get_by_test_id("report-preview").click()  # before the autosave delay
    page.wait_for_url(re.compile(rf"/requests/{case_of(study).pk}/report/preview/$"))
    assert "Seen in preview." in page.get_by_test_id("report-body").inner_text()
    page.go_back()
    page.wait_for_url(re.compile(rf"/requests/{case_of(study).pk}/report/$"))
    # Leaving with unsaved changes asks first; staying keeps them.
    impression.fill(IMPRESSION)
    kinds: list[str] = []

    def stay(dialog: Any) -> None:
        kinds.append(dialog.type)
        dialog.dismiss()

    page.once("dialog", stay)
    page.get_by_test_id("nav-studies").click()
    page.wait_for_timeout(500)
    assert kinds == ["beforeunload"], kinds
    assert page.url.endswith(f"/requests/{case_of(study).pk}/report/")
    assert impression.input_value() == IMPRESSION
    page.wait_for_function(
        "el => el.dataset.state === 'saved'", arg=status.element_handle(), timeout=10000
    )

    # Signing asks first (issue 17): Cancel leaves the draft a draft.
    questions: list[str] = []

    def answer(accept: bool) -> None:
        def handle(dialog: Any) -> None:
            questions.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        page.once("dialog", handle)

    answer(False)
    page.get_by_test_id("report-sign").click()
    page.wait_for_timeout(300)
    assert questions and "cannot be changed" in questions[-1]
    assert ReportVersion.objects.get(pk=draft.pk).status == "draft"
    assert page.url.endswith(f"/requests/{case_of(study).pk}/report/")
    answer(True)
    page.get_by_test_id("report-sign").click()
    page.wait_for_url(re.compile(rf"/requests/{case_of(study).pk}/report/view/$"))
    assert IMPRESSION in page.get_by_test_id("report-view").inner_text()
    study.refresh_from_db()
    assert case_of(study).status == RequestStatus.REPORTED

    # -- the uploader gets an email with a link, and nothing of the report
    (first,) = smtp_settings.wait_for(1)
    body = text_body(first)
    assert IMPRESSION not in body and FINDINGS not in body and patient.email not in body
    link = link_in(body)
    assert link == f"{live_server.url}/requests/{case_of(study).pk}/report/view/"
    page.get_by_test_id("nav-logout").click()
    page.wait_for_url(re.compile(r"/login/"))

    # -- the uploader follows the link, logs in, reads the report, downloads the PDF
    page.goto(link)
    assert "/login/" in page.url
    page.get_by_test_id("login-email").fill(patient.email)
    page.get_by_test_id("login-password").fill("correct-horse-battery-9")
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(link)
    view = page.get_by_test_id("report-view")
    assert IMPRESSION in view.inner_text() and FINDINGS in view.inner_text()
    assert "Dr. Charlie" in view.inner_text()
    page.screenshot(path=str(ARTIFACTS / "report-view.png"), full_page=True)
    with page.expect_download() as download_info:
        page.get_by_test_id("report-pdf-link").click()
    pdf = tmp_path / "report.pdf"
    download_info.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert "Dr. Charlie" in text and "Benign-appearing pulmonary nodule" in text
        assert patient.email not in text
    page.goto(f"/studies/{study.pk}/")
    timeline = page.get_by_test_id("timeline")
    assert timeline.locator('[data-stage="reported"]').get_attribute("data-done") == "true"
    page.get_by_test_id("nav-logout").click()
    page.wait_for_url(re.compile(r"/login/"))

    # -- the radiologist adds an addendum; a second email goes out
    browser_login(page, radiologist.email)
    page.goto(f"/studies/{study.pk}/")
    page.get_by_test_id("study-report-editor-link").click()
    page.get_by_test_id("report-addendum-reason").fill("Prior study received")
    page.get_by_test_id("report-addendum").click()
    page.wait_for_url(re.compile(rf"/requests/{case_of(study).pk}/report/$"))
    assert page.get_by_test_id("report-impression").input_value() == IMPRESSION
    page.get_by_test_id("report-impression").fill(f"{IMPRESSION} {ADDENDUM}")
    answer(True)
    page.get_by_test_id("report-sign").click()
    page.wait_for_url(re.compile(rf"/requests/{case_of(study).pk}/report/view/$"))
    assert ADDENDUM in page.get_by_test_id("report-view").inner_text()

    messages = smtp_settings.wait_for(2)
    assert messages[1]["Subject"] == "Your report has been updated"
    assert ADDENDUM not in text_body(messages[1])
    assert link_in(text_body(messages[1])) == link
    study.refresh_from_db()
    assert case_of(study).status == RequestStatus.AMENDED
    assert list(Delivery.objects.values_list("status", flat=True)) == ["sent", "sent"]
    assert [p for p in problems if "Content Security Policy" in p or "Refused" in p] == []
