"""The admin page "Import from PACS" in a real browser: it fits a phone (390 px) and the
C-ECHO check and the import form are reached and used with the keyboard alone."""

from __future__ import annotations

from typing import Any

import pytest

from pacs.models import PacsImport, PacsPeer
from tests.conftest import browser_login
from tests.orthanc import free_port
from tests.uploads.test_admin_uploads_browser import PHONE, no_sideways_scroll, press_tab_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("require_postgres"),
]


def test_pacs_pages_fit_a_phone_and_work_with_the_keyboard(
    page: Any, admin_user: Any, patient: Any
) -> None:
    peer = PacsPeer.objects.create(
        name="Radiology PACS of the university hospital", ae_title="RADIOLOGY_PACS_1",
        host="127.0.0.1", port=free_port(),
    )  # fmt: skip
    PacsPeer.objects.create(  # listed after the first (by name); long, for the width
        name="Vendor-neutral archive of the regional network", ae_title="VNA_ARCHIVE_0001",
        host="vna-archive-01.radiology.regional-hospital-network.example.org", port=11112,
    )  # fmt: skip
    job = PacsImport.objects.create(
        peer=peer, peer_label=str(peer.as_peer()), owner=patient, since="2024-01-01",
        state=PacsImport.State.FAILED, message="x" * 300 + " refused the association",
    )  # fmt: skip
    page.set_viewport_size(PHONE)
    browser_login(page, admin_user.email)
    page.goto("/manage/")
    page.get_by_test_id("pacs-link").click()
    page.wait_for_load_state("networkidle")
    no_sideways_scroll(page)
    # C-ECHO with the keyboard: nothing listens on that port, and the page says so.
    press_tab_until(page, "pacs-echo")
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    result = page.get_by_test_id("pacs-echo-result").first.inner_text()
    assert "did not answer" in result and "cannot connect" in result
    no_sideways_scroll(page)
    press_tab_until(page, "pacs-import-start")
    page.goto(f"/manage/pacs/imports/{job.pk}/")
    no_sideways_scroll(page)
    assert page.get_by_test_id("pacs-import-state").inner_text().startswith("Failed")
    press_tab_until(page, "pacs-import-restart")
