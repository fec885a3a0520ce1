"""Internationalisation (issue 17): English, Dutch and French through one catalogue.

The catalogues themselves (placeholders and markup intact, nothing left untranslated
unless marked fuzzy, the committed .mo files equal to the .po files), the language
switcher (a signed-in user's choice saved on the account, an anonymous visitor's in a
cookie, Accept-Language before any choice), plurals in each language, and the emails a
patient gets written in the patient's language, whoever's request sends them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polib
import pytest
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation

from tests.conftest import text_body

LOCALE = Path(settings.BASE_DIR) / "locale"
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\w+\}")
TAG = re.compile(r"<[^>]+>")


def catalogues(root: Path) -> list[Path]:
    return sorted(root.glob("*/LC_MESSAGES/*.po"))


def entries() -> list[tuple[str, polib.POEntry]]:
    found = [
        (f"{po.relative_to(LOCALE)}: {entry.msgid[:50]!r}", entry)
        for po in catalogues(LOCALE)
        for entry in polib.pofile(str(po))
        if not entry.obsolete
    ]
    assert len(found) > 200  # both domains of both languages were read
    return found


def forms(entry: polib.POEntry) -> list[tuple[str, str]]:
    """(English, translation) pairs: a plural entry's forms each against its English."""
    if not entry.msgid_plural:
        return [(entry.msgid, entry.msgstr)]
    return [
        (entry.msgid if index == 0 else entry.msgid_plural, text)
        for index, text in sorted(entry.msgstr_plural.items())
    ]


def test_every_entry_is_translated_or_marked_fuzzy() -> None:
    untranslated = [
        where
        for where, entry in entries()
        if "fuzzy" not in entry.flags and not all(text for _, text in forms(entry))
    ]
    assert untranslated == []


def test_placeholders_and_markup_survive_translation() -> None:
    """A translation keeps every ``%(name)s`` / ``{name}`` and every HTML tag (links,
    ``data-testid`` hooks) of its English, fuzzy ones included (they may be finished)."""
    broken = []
    for where, entry in entries():
        for english, text in forms(entry):
            if not text:
                continue
            if sorted(PLACEHOLDER.findall(english)) != sorted(PLACEHOLDER.findall(text)):
                broken.append(f"{where}: placeholders")
            if sorted(TAG.findall(english)) != sorted(TAG.findall(text)):
                broken.append(f"{where}: markup")
    assert broken == []


def test_plural_forms_are_the_languages_own() -> None:
    """Dutch: one for 1; French: one for 0 and 1. The JavaScript catalogue needs the same
    rule as Django's own catalogues of the language (one ``pluralidx`` per page)."""
    rules = {"nl": "nplurals=2; plural=(n != 1);", "fr": "nplurals=2; plural=(n > 1);"}
    for po_path in catalogues(LOCALE):
        po = polib.pofile(str(po_path))
        language = po_path.relative_to(LOCALE).parts[0]
        assert po.metadata["Plural-Forms"] == rules[language], po_path
        assert po.metadata["Language"] == language
        assert not po.metadata_is_fuzzy


def test_compiled_catalogues_say_what_the_po_files_say() -> None:
    """The committed .mo files (what Django reads) match their .po files: fuzzy and empty
    entries left out. After editing a .po: ``python scripts/compilemessages.py``."""
    for po_path in catalogues(LOCALE):
        mo_path = po_path.with_suffix(".mo")
        assert mo_path.exists(), f"{mo_path} missing: run scripts/compilemessages.py"
        po = polib.pofile(str(po_path))
        want = {(e.msgid, tuple(t for _, t in forms(e))) for e in po.translated_entries()}
        got = {(e.msgid, tuple(t for _, t in forms(e))) for e in polib.mofile(str(mo_path))}
        got.discard(("", ("",)))  # the header
        got = {(msgid, texts) for msgid, texts in got if msgid}
        assert got == want, f"{mo_path} is out of date: run scripts/compilemessages.py"


@pytest.mark.parametrize(
    ("language", "one", "two", "zero"),
    [
        ("en", "1 series, 1 image", "2 series, 2 images", "0 series, 0 images"),
        ("nl", "1 reeks, 1 beeld", "2 reeksen, 2 beelden", "0 reeksen, 0 beelden"),
        ("fr", "1 série, 1 image", "2 séries, 2 images", "0 série, 0 image"),
    ],
)
def test_counts_agree_with_their_nouns(language: str, one: str, two: str, zero: str) -> None:
    with translation.override(language):
        for n, want in [(1, one), (2, two), (0, zero)]:
            got = render_to_string("includes/series_images.html", {"series": n, "images": n})
            assert got.strip() == want


pytestmark_db = pytest.mark.django_db


@pytestmark_db
def test_accept_language_then_cookie_then_saved_choice(
    client: Any, login: Any, patient: Any
) -> None:
    assert ">Inloggen<" in client.get("/login/", HTTP_ACCEPT_LANGUAGE="nl-BE,nl;q=0.9").text
    assert ">Se connecter<" in client.get("/login/", HTTP_ACCEPT_LANGUAGE="fr-BE").text
    page = client.get("/login/", HTTP_ACCEPT_LANGUAGE="de-DE")
    assert ">Log in<" in page.text and '<html lang="en">' in page.text

    # An anonymous visitor's choice: a cookie, which wins over the browser's languages.
    answer = client.post("/language/", {"language": "fr", "next": "/login/"})
    assert answer.status_code == 302 and answer.url == "/login/"
    assert answer.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fr"
    page = client.get("/login/", HTTP_ACCEPT_LANGUAGE="nl")
    assert '<html lang="fr">' in page.text and ">Se connecter<" in page.text
    assert 'data-testid="language-switch"' in page.text

    # A signed-in user's choice is saved on the account: another device (no cookie,
    # another Accept-Language) shows it too.
    patient_client = login(patient)
    patient_client.post("/language/", {"language": "nl", "next": "/studies/"})
    patient.refresh_from_db()
    assert patient.language == "nl"
    patient_client.cookies.pop(settings.LANGUAGE_COOKIE_NAME, None)
    page = patient_client.get("/studies/", HTTP_ACCEPT_LANGUAGE="fr")
    assert ">Mijn onderzoeken<" in page.text and ">Uitloggen<" in page.text


@pytestmark_db
def test_a_bad_language_or_next_changes_nothing(client: Any, login: Any, patient: Any) -> None:
    patient_client = login(patient)
    for data in [{"language": "xx"}, {"language": ""}, {}, {"language": "nl" * 200}]:
        answer = patient_client.post("/language/", data)
        assert answer.status_code == 302
    patient.refresh_from_db()
    assert patient.language == ""
    answer = client.post("/language/", {"language": "nl", "next": "https://evil.example/"})
    assert answer.status_code == 302 and not answer.url.startswith("https://evil")
    assert client.get("/language/").status_code == 405


@pytestmark_db
def test_error_page_and_status_words_follow_the_language(login: Any, patient: Any) -> None:
    from tests.reports.factories import make_study

    study = make_study(patient)  # images ready, its request waiting for a radiologist
    patient.language = "fr"
    patient.save()
    patient_client = login(patient)
    missing_page = patient_client.get("/no-such-page/")
    assert missing_page.status_code == 404 and "Page introuvable" in missing_page.text
    page = patient_client.get("/studies/")
    assert "Images prêtes" in page.text and "En attente d’un radiologue" in page.text
    assert "Mes examens" in page.text
    detail = patient_client.get(f"/studies/{study.pk}/")
    assert "Examen n° " in detail.text


@pytestmark_db
def test_staff_pages_follow_the_staff_members_language(
    client: Any, patient: Any, radiologist: Any, admin_user: Any
) -> None:
    """A Dutch radiologist reads the worklist and the report editor in Dutch (the section
    headings, the buttons, the sign question, the save message); a French admin reads the
    overview and the audit log in French. Each page's English words are gone."""
    from tests.reports.factories import case_of, make_study

    make_study(patient)  # in the pool
    mine = case_of(make_study(patient, status="in_review", assigned_to=radiologist))
    radiologist.language = "nl"
    radiologist.save()
    client.force_login(radiologist)
    worklist = client.get("/worklist/").text
    for words in ["<h1>Werklijst</h1>", "Aan mij toegewezen", ">Nemen</button>", "Wacht sinds"]:
        assert words in worklist
    assert "Assigned to me" not in worklist and ">Claim</button>" not in worklist
    editor = client.get(f"/requests/{mine.pk}/report/").text
    for words in [
        "Verslag <small>ontwerp</small>", ">Sjabloon</label>", ">Techniek</label>",
        ">Ontwerp opslaan</button>", ">Verslag ondertekenen</button>", "Dringendheid",
        "Dit verslag ondertekenen? Eenmaal ondertekend", "Beelden naast het verslag",
    ]:  # fmt: skip
        assert words in editor, words
    assert "Save draft" not in editor and "Sign report" not in editor
    saved = client.post(f"/requests/{mine.pk}/report/", {"findings": "Geen letsels."}, follow=True)
    assert "Ontwerp opgeslagen." in saved.text

    admin_user.language = "fr"
    admin_user.save()
    client.force_login(admin_user)
    overview = client.get("/manage/").text
    for words in ["<strong>1</strong> radiologue", "<h2>Attributions</h2>", "Activité récente",
                  "<strong>2</strong> examens", "Réattribuer"]:  # fmt: skip
        assert words in overview, words
    assert "Assignments" not in overview and "Recent activity" not in overview
    audit = client.get("/manage/audit/").text
    assert "<h1>Journal d'audit</h1>" in audit and "Connexions" in audit and "Sign-ins" not in audit


@pytestmark_db
def test_report_email_is_in_the_uploaders_language(
    smtp_settings: Any,
    patient: Any,
    radiologist: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The uploader chose Dutch, the radiologist signs from an English page: the email
    (real SMTP) and the portal notification are Dutch."""
    from reports.models import Notification
    from tests.reports.factories import make_study, sign_report

    patient.language = "nl"
    patient.save()
    study = make_study(patient, status="in_review", assigned_to=radiologist, instances=1)
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        sign_report(study, radiologist)
    (message,) = smtp_settings.wait_for(1)
    assert message["Subject"] == "Uw verslag is klaar"
    body = text_body(message)
    assert "Een radioloog heeft het verslag ondertekend" in body
    assert f"onderzoek nr. {study.pk}" in body and "Hello" not in body
    html = str(message.get_body(preferencelist=("html",)).get_content())
    assert "Log in om het verslag te lezen" in html
    note = Notification.objects.get(user=patient)
    assert note.text == f"Het verslag van uw onderzoek nr. {study.pk} is klaar."


@pytestmark_db
def test_signup_in_french_gets_the_verification_email_in_french(
    client: Any, smtp_settings: Any, transactional_db: None
) -> None:
    from portal.accounts.models import User

    client.post("/language/", {"language": "fr", "next": "/signup/"})
    page = client.post(
        "/signup/",
        {
            "email": "marie@example.org",
            "password": "a long pass phrase 42",
            "password2": "a long pass phrase 42",
        },
    )
    assert page.status_code == 200 and "Consultez vos e-mails" in page.text
    assert User.objects.get(email="marie@example.org").language == "fr"
    (message,) = smtp_settings.wait_for(1)
    assert message["Subject"] == "Confirmez votre adresse e-mail pour le DICOM Portal"
    assert "Confirmez votre adresse e-mail en ouvrant ce lien" in text_body(message)


MAKEMESSAGES = [
    ["makemessages", "-l", "nl", "-l", "fr", "--no-location", "--no-obsolete",
     "-i", "frontend"],
    ["makemessages", "-d", "djangojs", "-l", "nl", "-l", "fr", "--no-location",
     "--no-obsolete", "-i", "frontend/src/generated", "-i", "frontend/src/deid-engine.js",
     "-i", "frontend/src/deid"],
]  # fmt: skip
SOURCES = ["manage.py", "portal", "uploads", "reports", "dicomweb", "pacs", "templates",
           "frontend/src", "locale"]  # fmt: skip


def msgids(root: Path) -> dict[str, set[tuple[str, str]]]:
    return {
        str(po.relative_to(root)): {(e.msgid, e.msgid_plural) for e in polib.pofile(str(po))}
        for po in catalogues(root)
    }


def test_catalogues_hold_every_wrapped_string_and_no_other(tmp_path: Path) -> None:
    """``makemessages`` (docs/i18n.md) run on a copy of the sources finds exactly the
    catalogues' strings: a string wrapped but never extracted would silently stay English,
    and one no longer wrapped is dead weight. Needs GNU gettext (a developer tool)."""
    import shutil
    import subprocess
    import sys

    if shutil.which("xgettext") is None or shutil.which("msgmerge") is None:
        pytest.skip("GNU gettext (xgettext, msgmerge) is not installed")
    repo = Path(settings.BASE_DIR)
    copy = tmp_path / "repo"
    copy.mkdir()
    for name in SOURCES:
        source = repo / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, copy / name)
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
           "DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(copy)}  # fmt: skip
    for command in MAKEMESSAGES:
        subprocess.run([sys.executable, "manage.py", *command], cwd=copy, env=env, check=True,
                       capture_output=True, timeout=300)  # fmt: skip
    assert msgids(copy / "locale") == msgids(LOCALE)


@pytestmark_db
def test_a_link_holder_reads_the_shared_pages_in_their_own_language(
    client: Any, patient: Any
) -> None:
    """A reviewer abroad opens a patient's link: the passcode page follows the browser's
    language (no account, so no saved choice)."""
    from tests.reports.factories import make_study
    from tests.sharing.factories import make_link

    _, token = make_link(make_study(patient, instances=1), patient, passcode="open sesame 42")
    french = client.get(f"/s/{token}/", headers={"accept-language": "fr"})
    assert french.status_code == 200
    assert "Code d’accès" in french.text and "Ouvrir l’examen" in french.text
    dutch = client.get(f"/s/{token}/", headers={"accept-language": "nl"})
    assert "Toegangscode" in dutch.text and "Het onderzoek openen" in dutch.text
