"""Headless Chromium: the owner shares a study; the link holder sees its viewer and nothing
else; downloads; revocation ends the holder's access at once."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ARTIFACTS, browser_login
from tests.reports.factories import case_of
from tests.sharing.factories import make_link
from uploads.models import TRIAL_CHOICES, Instance, ShareLink

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IMAGE_SHOWN = (
    "() => { const i = document.querySelector('[data-testid=viewer-image]');"
    " return i.complete && i.naturalWidth > 0 && document.body.dataset.loaded === i.src; }"
)


@pytest.fixture
def holder(browser: Any, live_server: Any) -> Iterator[Any]:
    """A second, separate browser (no account, own cookies) for the link holder."""
    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    context.set_default_timeout(15000)
    yield context.new_page()
    context.close()


def test_link_holder_sees_exactly_one_study(
    page: Any, holder: Any, live_server: Any, patient: Any, imported_study: Any, other_study: Any
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    browser_login(page, patient.email)
    page.goto(f"/studies/{imported_study.pk}/")
    page.get_by_test_id("share-label").fill("Second opinion")
    page.get_by_test_id("share-allow-download").check()
    page.get_by_test_id("share-create").click()
    url = page.get_by_test_id("share-link").input_value()
    assert url.startswith(f"{live_server.url}/s/")

    holder.goto(url)
    holder.wait_for_selector("body[data-ready=true]")
    holder.wait_for_function(IMAGE_SHOWN)
    assert holder.url == f"{live_server.url}/studies/{imported_study.pk}/viewer/"
    assert holder.get_by_test_id("viewer-slice-index").inner_text() == "11 / 20"
    holder.keyboard.press("ArrowDown")
    holder.wait_for_function(
        "() => document.querySelector('[data-testid=viewer-slice-index]').dataset.index === '11'"
    )
    holder.wait_for_function(IMAGE_SHOWN)
    assert holder.get_by_test_id("share-readonly").is_visible()
    assert holder.locator("a[href]").count() == 0  # no way into the rest of the portal
    holder.screenshot(path=str(ARTIFACTS / "share-holder-viewer.png"))

    # Everything else is refused: other studies and their images, pages, reports.
    other = Instance.objects.filter(series__study=other_study).first()
    assert other is not None
    assert holder.goto(f"/studies/{other_study.pk}/viewer/").status == 404
    for api in [f"/api/studies/{other_study.pk}/manifest/", f"/api/instances/{other.pk}/slice.png",
                f"/api/instances/{other.pk}/attributes/"]:  # fmt: skip
        response = holder.request.get(api, max_redirects=0)
        assert response.status in (302, 404), api
        assert response.status == 404 or "/login/" in response.headers["location"]
    mine = f"/studies/{imported_study.pk}"
    case = f"/requests/{case_of(imported_study).pk}"
    pages = [f"{mine}/", f"/studies/{other_study.pk}/", "/studies/", f"{case}/report/view/",
             f"{case}/report/pdf/", f"{case}/", "/manage/", "/worklist/", "/upload/"]  # fmt: skip
    for path in pages:
        holder.goto(path)
        assert "/login/" in holder.url, path

    # The holder's download (allowed on this link): PNGs as shown in the viewer.
    holder.goto(f"/studies/{imported_study.pk}/viewer/")
    holder.wait_for_selector("body[data-ready=true]")
    holder.get_by_test_id("share-downloads").locator("summary").click()
    holder.get_by_test_id("export-png").click()
    link = holder.get_by_test_id("export-download")
    link.wait_for()
    holder.screenshot(path=str(ARTIFACTS / "share-holder-download.png"))
    with holder.expect_download() as info:
        link.click()
    with zipfile.ZipFile(info.value.path()) as archive:
        assert len(archive.namelist()) == 20

    # The owner sees the use, and revokes.
    page.goto(f"/studies/{imported_study.pk}/")
    assert page.get_by_test_id("share-opened").inner_text().startswith("1 time")
    # Revoking asks first (issue 17): Cancel keeps the link working.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_test_id("share-revoke").click()
    page.wait_for_timeout(300)
    assert ShareLink.objects.get().revoked_at is None
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("share-revoke").click()
    page.wait_for_selector("[data-testid=share-row][data-state=revoked]")
    page.screenshot(path=str(ARTIFACTS / "share-owner-study.png"), full_page=True)
    # The grant stopped working at once; a reload says why, not the staff login page.
    reload = holder.goto(f"/studies/{imported_study.pk}/viewer/")
    assert reload is not None and reload.status == 410 and "/login/" not in holder.url
    assert "revoked" in holder.get_by_test_id("share-message").inner_text()
    response = holder.goto(url)
    assert response.status == 410
    assert "revoked" in holder.get_by_test_id("share-message").inner_text()
    assert ShareLink.objects.get().revoked_at is not None


def test_passcode_and_verdict(holder: Any, patient: Any, imported_study: Any) -> None:
    link, token = make_link(
        imported_study, patient, passcode="blue-lagoon",
        verdict_kind="trial", verdict_choices=TRIAL_CHOICES,
    )  # fmt: skip
    holder.goto(f"/s/{token}/")
    holder.get_by_test_id("share-passcode").fill("green-lagoon")
    holder.get_by_test_id("share-passcode-submit").click()
    assert "not right" in holder.get_by_test_id("share-passcode-error").inner_text()
    holder.get_by_test_id("share-passcode").fill("blue-lagoon")
    holder.get_by_test_id("share-passcode-submit").click()
    holder.wait_for_selector("body[data-ready=true]")
    holder.get_by_test_id("share-verdict").locator("summary").click()
    holder.get_by_test_id("verdict-option").first.check()
    holder.get_by_test_id("share-verdict-comment").fill("Good quality.")
    holder.get_by_test_id("verdict-submit").click()
    holder.get_by_test_id("share-verdict-saved").wait_for()
    link.refresh_from_db()
    assert link.verdict == "Eligible" and link.verdict_comment == "Good quality."


def test_owner_exports_from_the_study_page(page: Any, patient: Any, imported_study: Any) -> None:
    browser_login(page, patient.email)
    page.goto(f"/studies/{imported_study.pk}/")
    page.get_by_test_id("export-zip").click()
    row = page.locator("[data-testid=export-row][data-status=done]")
    row.wait_for()
    assert row.get_by_test_id("export-status").inner_text() == "Ready"
    with page.expect_download() as info:
        row.get_by_test_id("export-download").click()
    assert info.value.suggested_filename == f"study-{imported_study.pk}-dicom.zip"
    with zipfile.ZipFile(info.value.path()) as archive:
        assert archive.namelist()[0] == "DICOMDIR" and len(archive.namelist()) == 21
    page.get_by_test_id("export-nifti").click()
    page.locator("[data-testid=export-row][data-status=done]").nth(1).wait_for()
    # The list survives a reload (rendered by the page, then refreshed by the script).
    page.reload()
    assert page.locator("[data-testid=export-row]").count() == 2
