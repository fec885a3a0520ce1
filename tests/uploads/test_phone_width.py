"""At phone width (390 px) the patient's pages do not scroll sideways (issue 17: "My
studies" rendered 557 px wide, the upload page 559 px, the study page 484 px). Wide tables
scroll inside their own box (``.table-scroll``), not the page."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import browser_login
from tests.uploads.test_admin_uploads_browser import PHONE, no_sideways_scroll

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("require_postgres"),
]


def test_patient_pages_fit_a_phone(page: Any, patient: Any, imported_study: Any) -> None:
    page.set_viewport_size(PHONE)
    browser_login(page, patient.email)
    for path in ("/studies/", "/upload/", f"/studies/{imported_study.pk}/"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        no_sideways_scroll(page)
        if path == "/studies/":  # the list shows shifted dates: it says so
            assert "shifted for privacy" in page.get_by_test_id("dates-shifted").inner_text()
