"""Headless Chromium: the language switch on the upload page, and the report email that
follows it (issue 17, "Done when").

The patient switches the upload page to Dutch, then French, with the keyboard-reachable
switcher; the page's own words (template) and the words its script writes after reading
real files (a status with a plural, a skipped file's reason, the study's date through
Intl) come out in that language. Her choice is saved on her account, so the report email
sent when a radiologist signs from an English page arrives in French (real SMTP).
A Dutch radiologist's reading page: the report editor's and the embedded viewer's scripts
write Dutch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation
from pydicom.data import get_testdata_file

from tests.a11y import axe_violations, describe, sideways_scroll
from tests.conftest import browser_login, text_body
from tests.reports.factories import case_of

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("require_postgres"),
]


@pytest.fixture
def page(browser: Any, live_server: Any, settings: Any) -> Iterator[Any]:
    """The usual page, but axe-core (an inline script) may be added under the portal's CSP."""
    settings.SITE_URL = live_server.url
    context = browser.new_context(base_url=live_server.url, bypass_csp=True)
    context.set_default_timeout(15000)
    yield context.new_page()
    context.close()


def switch_language(page: Any, code: str) -> None:
    """Choose ``code`` in the switcher and apply it with the keyboard, as a person would."""
    page.get_by_test_id("language-switch").select_option(code)
    page.get_by_test_id("language-switch").focus()
    page.keyboard.press("Tab")  # to the switcher's button
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state()


def choose_files(page: Any, tmp_path: Path) -> None:
    """One real CT image (pydicom's CT_small.dcm) and a text file that is not a scan."""
    ct = Path(str(get_testdata_file("CT_small.dcm")))
    readme = tmp_path / "readme.txt"
    readme.write_text("Viewer instructions for the CD\n")
    page.get_by_test_id("upload-input").set_input_files([ct, readme])


def test_upload_page_in_dutch_then_french_and_the_report_email_follows(
    page: Any,
    patient: Any,
    radiologist: Any,
    smtp_settings: Any,
    tmp_path: Path,
) -> None:
    browser_login(page, patient.email)
    page.goto("/upload/")
    assert page.locator("h1").inner_text() == "Upload your scans"

    switch_language(page, "nl")
    assert page.url.endswith("/upload/")
    assert page.locator("html").get_attribute("lang") == "nl"
    assert page.locator("h1").inner_text() == "Uw scans opladen"
    assert page.get_by_test_id("nav-studies").inner_text() == "Mijn onderzoeken"
    choose_files(page, tmp_path)
    page.get_by_test_id("upload-found").filter(has_text="1 onderzoek gevonden").wait_for()
    row = page.get_by_test_id("upload-study").inner_text()
    assert "1 reeks, 1 beeld" in row and "2004" in row
    skipped = page.get_by_test_id("skipped-file").inner_text()
    assert "readme.txt" in skipped and "geen DICOM-beeld (viewer- of cd-bestand)" in skipped
    page.get_by_test_id("upload-status").filter(has_text="klik dan op Versturen").wait_for()
    preview = page.get_by_test_id("deid-preview").inner_text()
    assert "Naam van de patiënt" in preview and "Patient's Name" not in preview
    # The longer Dutch words still fit a phone, and the page passes axe in Dutch.
    page.set_viewport_size({"width": 390, "height": 844})
    assert sideways_scroll(page, 390) == ""
    serious = axe_violations(page)  # serious and critical ones
    assert serious == [], describe(serious)

    switch_language(page, "fr")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("h1").inner_text() == "Envoyer vos examens"
    choose_files(page, tmp_path)
    page.get_by_test_id("upload-found").filter(has_text="1 examen trouvé").wait_for()
    row = page.get_by_test_id("upload-study").inner_text()
    assert "1 série, 1 image" in row and "janv. 2004" in row  # Intl, in French
    assert "pas une image DICOM" in page.get_by_test_id("skipped-file").inner_text()
    page.get_by_test_id("upload-status").filter(has_text="appuyez sur Envoyer").wait_for()
    assert sideways_scroll(page, 390) == ""

    patient.refresh_from_db()
    assert patient.language == "fr"

    # A radiologist signs from an English page: the email is in the patient's French.
    from tests.reports.factories import make_study, sign_report

    study = make_study(patient, status="in_review", assigned_to=radiologist, instances=1)
    with translation.override("en"):
        sign_report(study, radiologist)
    (message,) = smtp_settings.wait_for(1)
    assert message["To"] == patient.email
    assert message["Subject"] == "Votre compte rendu est prêt"
    body = text_body(message)
    assert "Un radiologue a signé le compte rendu" in body and "Hello" not in body

    # The link in it opens the report page, in French.
    page.goto(f"/requests/{case_of(study).pk}/report/view/")
    assert page.get_by_test_id("report-pdf-link").inner_text() == "Télécharger le PDF"


@pytest.mark.parametrize(
    ("language", "studies_heading"), [("nl", "Mijn onderzoeken"), ("fr", "Mes examens")]
)
def test_patient_pages_fit_a_phone_in_each_language(
    page: Any, patient: Any, radiologist: Any, language: str, studies_heading: str
) -> None:
    """Translations are longer than the English: every page a patient reads still fits
    360 px, in Dutch and in French, signed in or not."""
    from tests.reports.factories import make_study, sign_report

    study = make_study(patient, status="in_review", assigned_to=radiologist, instances=1)
    sign_report(study, radiologist)
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto("/login/")
    switch_language(page, language)
    wide = []
    for path in ("/login/", "/signup/", "/password-reset/", "/verify/again/", "/no-such-page/"):
        page.goto(path)
        assert page.locator("html").get_attribute("lang") == language
        wide.append(f"{path}: {sideways_scroll(page, 360)}")
    browser_login(page, patient.email)
    assert page.locator("h1").inner_text() == studies_heading
    for path in ("/studies/", "/upload/", f"/studies/{study.pk}/",
                 f"/requests/{case_of(study).pk}/report/view/", "/notifications/"):  # fmt: skip
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert page.locator("html").get_attribute("lang") == language
        wide.append(f"{path}: {sideways_scroll(page, 360)}")
    assert [w for w in wide if not w.endswith(": ")] == []


def test_radiologist_reports_in_dutch_with_the_scripts_words(
    page: Any, patient: Any, radiologist: Any
) -> None:
    """A Dutch radiologist on the reading page: the editor's script writes its autosave
    status and key-image list in Dutch, and so does the embedded viewer (its own page, its
    own catalogue) when the cine starts."""
    from tests.reports.factories import make_study

    radiologist.language = "nl"
    radiologist.save()
    study = make_study(patient, status="in_review", assigned_to=radiologist, instances=1)
    browser_login(page, radiologist.email)
    page.goto(f"/requests/{case_of(study).pk}/read/")
    assert page.locator("html").get_attribute("lang") == "nl"
    status = page.get_by_test_id("report-autosave-status")
    page.get_by_test_id("report-findings").fill("Geen letsels.")
    assert status.inner_text() in {"Niet-opgeslagen wijzigingen", "Bezig met opslaan…"}
    page.wait_for_function("document.getElementById('autosave-status').dataset.state === 'saved'")
    assert status.inner_text().startswith("Ontwerp opgeslagen om ")
    page.get_by_test_id("key-image-add").click()
    assert page.get_by_test_id("key-image-remove").inner_text() == "Verwijderen"
    assert "Reeks" in page.get_by_test_id("key-image").inner_text()

    viewer = page.frame_locator("[data-testid=reading-frame]")
    cine = viewer.get_by_test_id("viewer-cine")
    assert cine.inner_text() == "Afspelen"
    cine.click()
    assert cine.inner_text() == "Stoppen"


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_staff_pages_fit_a_phone_in_each_language(
    page: Any, patient: Any, radiologist: Any, admin_user: Any, language: str
) -> None:
    """The staff pages' Dutch and French words are longer than the English: the worklist,
    the report editor, its preview and every admin page still fit 360 px, and no serious
    axe-core violation comes with the translation."""
    from tests.reports.factories import make_study

    make_study(patient)
    case = case_of(make_study(patient, status="in_review", assigned_to=radiologist, instances=1))
    problems = []
    for user, paths in [
        (radiologist, ["/worklist/", f"/requests/{case.pk}/report/",
                       f"/requests/{case.pk}/report/preview/", "/account/tokens/"]),
        (admin_user, ["/manage/", "/manage/users/", "/manage/audit/", "/manage/deliveries/",
                      "/manage/uploads/", "/manage/pacs/", "/manage/pixels/"]),
    ]:  # fmt: skip
        user.language = language
        user.save()
        page.context.clear_cookies()
        page.set_viewport_size({"width": 1280, "height": 800})
        browser_login(page, user.email)
        page.set_viewport_size({"width": 360, "height": 800})
        for path in paths:
            assert page.goto(path).status == 200, path
            page.wait_for_load_state("networkidle")
            assert page.locator("html").get_attribute("lang") == language, path
            problems.append(f"{path}: {sideways_scroll(page, 360)}")
            problems.extend(f"{path}: {d}" for d in describe(axe_violations(page)))
    assert [p for p in problems if not p.endswith(": ")] == []
