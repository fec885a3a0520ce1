"""What a share link's reviewer may answer (issue 17): the set is chosen when the link is
made, the viewer offers exactly that set, the server takes nothing else, and the sharer is
told in the portal and by email — without the answer."""

from __future__ import annotations

import re
from typing import Any

import pytest
from celery.exceptions import Retry
from django.test import Client

from portal.audit.models import AuditEvent
from reports.models import Notification
from tests.conftest import link_in, text_body
from tests.reports.factories import make_study
from tests.sharing.conftest import open_link
from tests.sharing.factories import make_link
from uploads.models import ShareLink
from uploads.sharing import notify
from uploads.sharing.tasks import send_answer_email

pytestmark = pytest.mark.django_db

OPINION = "Benign-looking 6 mm nodule in the right upper lobe; follow-up CT in 12 months."


@pytest.fixture
def study(patient: Any) -> Any:
    return make_study(
        patient, description="CT THORAX LOW DOSE", clinical_question="Smoker, nodule growing?"
    )


def create(client: Client, study: Any, **data: Any) -> Any:
    return client.post(f"/studies/{study.pk}/share/", data)


def holder_of(link: ShareLink, token: str) -> tuple[Client, str]:
    """A reviewer's browser that opened the link, and its viewer page."""
    holder = Client(REMOTE_ADDR="10.0.0.4")
    assert open_link(holder, token).status_code == 302
    return holder, holder.get(f"/studies/{link.study_id}/viewer/").content.decode()


def answer(holder: Client, link: ShareLink, **data: str) -> Any:
    return holder.post(f"/shares/{link.pk}/verdict/", data)


def answer_cell(page: str, link: ShareLink) -> str:
    row = re.search(rf'data-link-id="{link.pk}".*?</tr>', page, re.S)
    assert row, page
    cell = re.search(r'data-testid="share-answer".*?</span>\s*</td>', row.group(0), re.S)
    assert cell
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell.group(0)))


def test_second_opinion_link_takes_a_written_opinion_and_no_trial_choices(
    login: Any, patient: Any, study: Any
) -> None:
    owner = login(patient)
    page = owner.get(f"/studies/{study.pk}/").content.decode()
    assert re.search(r'<option value="opinion" selected>', page)  # the patient's default
    assert create(owner, study, label="Dr. Second").status_code == 200
    link = ShareLink.objects.get()
    assert link.verdict_kind == "opinion" and link.verdict_choices == []
    link, token = make_link(study, patient, verdict_kind="opinion")
    holder, viewer = holder_of(link, token)
    assert 'data-testid="verdict-opinion"' in viewer and 'data-testid="verdict-submit"' in viewer
    assert 'data-testid="verdict-option"' not in viewer
    assert "Eligible" not in viewer and "Needs more images" not in viewer
    # An opinion is required; a trial answer is not what this link takes.
    empty = answer(holder, link, opinion="   ")
    assert empty.status_code == 400 and "Write your opinion" in empty.content.decode()
    assert answer(holder, link, verdict="Eligible").status_code == 400
    assert ShareLink.objects.get(pk=link.pk).verdict_at is None
    saved = answer(holder, link, opinion=OPINION)
    assert saved.status_code == 302 and saved.url.endswith("?verdict=saved")
    link.refresh_from_db()
    assert link.verdict == "" and link.verdict_comment == OPINION and link.is_answered
    event = AuditEvent.objects.get(action="share.verdict")
    assert event.detail == {"study": study.pk, "kind": "opinion"}  # never the text
    cell = answer_cell(owner.get(f"/studies/{study.pk}/").content.decode(), link)
    assert "Second opinion:" in cell and OPINION in cell and "answered" in cell


def test_own_choices_are_offered_and_nothing_else_is_taken(
    login: Any, patient: Any, study: Any
) -> None:
    owner = login(patient)
    choices = "Surgery\n  Radiotherapy  \n\nWatch and wait\n"
    response = create(owner, study, verdict_kind="custom", verdict_choices=choices)
    assert response.status_code == 200
    assert "Surgery / Radiotherapy / Watch and wait" in response.content.decode()
    link = ShareLink.objects.get()
    assert link.verdict_kind == "custom"
    assert link.verdict_choices == ["Surgery", "Radiotherapy", "Watch and wait"]
    token = re.search(r'value="http://testserver/s/([^/"]+)/"', response.content.decode())
    assert token
    holder, viewer = holder_of(link, token.group(1))
    offered = re.findall(r'value="([^"]+)" data-testid="verdict-option"', viewer)
    assert offered == ["Surgery", "Radiotherapy", "Watch and wait"]
    assert "Eligible" not in viewer and 'data-testid="verdict-opinion"' not in viewer
    # A choice outside the link's own set: 400 with a plain sentence, never a 500.
    for outside in ("Eligible", "eligible", "Chemotherapy", "Surgery; DROP TABLE", "x" * 5000):
        refused = answer(holder, link, verdict=outside)
        assert refused.status_code == 400, outside
        assert refused["Content-Type"].startswith("text/plain")
        assert "not one this link offers" in refused.content.decode()
    assert answer(holder, link).status_code == 400
    assert answer(holder, link, verdict="Radiotherapy", comment="Small volume.").status_code == 302
    link.refresh_from_db()
    assert link.verdict == "Radiotherapy" and link.verdict_comment == "Small volume."
    event = AuditEvent.objects.get(action="share.verdict")
    assert event.detail == {"study": study.pk, "kind": "custom", "choice": 2}
    cell = answer_cell(owner.get(f"/studies/{study.pk}/").content.decode(), link)
    assert "Radiotherapy — comment: Small volume." in cell


@pytest.mark.parametrize(
    ("choices", "message"),
    [
        ("Only one", "Type at least 2 choices, one per line (you typed 1)."),
        ("\n".join("ABCDEFG"), "Type at most 6 choices (you typed 7)."),
        ("Yes\n" + "n" * 61, "Choice 2 has 61 characters: keep each choice to 60 or fewer."),
        ("Yes\nNo\nyes", "“yes” is listed twice: make each choice different."),
    ],
)
def test_own_choices_are_checked_with_a_message_under_the_field(
    login: Any, patient: Any, study: Any, choices: str, message: str
) -> None:
    response = create(login(patient), study, verdict_kind="custom", verdict_choices=choices)
    assert response.status_code == 400
    html = response.content.decode()
    error = re.search(r'data-testid="share-verdict-choices-error">([^<]*)<', html)
    assert error and error.group(1) == message
    assert f"<li>Your choices: {message}</li>" in html  # the list at the top names the field
    assert 'aria-invalid="true"' in html and 'data-testid="share-create"' in html
    assert choices.splitlines()[0] in html  # what was typed comes back
    assert not ShareLink.objects.exists()


def test_trial_and_view_only_links(login: Any, patient: Any, admin_user: Any, study: Any) -> None:
    page = login(admin_user).get(f"/studies/{study.pk}/").content.decode()
    assert re.search(r'<option value="trial" selected>', page)  # an admin's default
    assert create(login(admin_user), study).status_code == 200
    trial = ShareLink.objects.get()
    assert trial.verdict_kind == "trial"
    assert trial.verdict_choices == ["Eligible", "Not eligible", "Needs more images"]
    view_only, token = make_link(study, patient, verdict_kind="none")
    holder, viewer = holder_of(view_only, token)
    assert 'data-testid="share-verdict"' not in viewer and "verdict-submit" not in viewer
    refused = answer(holder, view_only, verdict="Eligible", opinion="Fine")
    assert refused.status_code == 400 and "viewing only" in refused.content.decode()
    cell = answer_cell(login(patient).get(f"/studies/{study.pk}/").content.decode(), view_only)
    assert "View only: no answer asked." in cell
    assert "No answer yet" in answer_cell(
        login(patient).get(f"/studies/{study.pk}/").content.decode(), trial
    )


def test_sharer_is_told_in_the_portal_and_by_email_without_the_answer(
    login: Any,
    patient: Any,
    study: Any,
    smtp_settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    link, token = make_link(study, patient, verdict_kind="opinion", label="Dr. Who at St Elsewhere")
    holder, _ = holder_of(link, token)
    with django_capture_on_commit_callbacks(execute=True):
        assert answer(holder, link, opinion=OPINION).status_code == 302
    (message,) = smtp_settings.wait_for(1)
    note = Notification.objects.get(user=patient)
    assert note.text == f"A reviewer answered on the link you shared for study #{study.pk}."
    assert note.link == f"/studies/{study.pk}/" and not note.read
    assert message["To"] == patient.email
    body = text_body(message)
    html = message.get_body(preferencelist=("html",)).get_content()
    assert link_in(body) == f"http://testserver/studies/{study.pk}/"
    assert f"study #{study.pk}" in body
    for secret in (OPINION, "nodule", "CT THORAX", "Smoker", "Dr. Who", "St Elsewhere", token):
        for part in (str(message["Subject"]), body, html):
            assert secret.lower() not in part.lower(), secret
    assert "does not contain the answer" in body
    link.refresh_from_db()
    assert link.verdict_notified_at and link.verdict_at
    assert link.verdict_notified_at >= link.verdict_at
    # A redelivered task sends nothing more.
    assert send_answer_email.apply(args=[link.pk]).get() == "already sent"
    # While the notification is unread, a changed answer adds no notification or email.
    with django_capture_on_commit_callbacks(execute=True):
        assert answer(holder, link, opinion=OPINION + " Also emphysema.").status_code == 302
    assert Notification.objects.filter(user=patient).count() == 1
    # The sharer reads it on the study page (the badge goes down); the next answer notifies.
    page = login(patient).get(f"/studies/{study.pk}/").content.decode()
    assert "Also emphysema." in answer_cell(page, link)
    assert Notification.objects.get(user=patient).read
    with django_capture_on_commit_callbacks(execute=True):
        assert answer(holder, link, opinion="Changed my mind: see me.").status_code == 302
    smtp_settings.wait_for(2)
    assert Notification.objects.filter(user=patient, read=False).count() == 1
    assert len(smtp_settings.messages) == 2
    assert AuditEvent.objects.filter(action="share.answer_emailed").count() == 2


def test_answer_email_is_retried_and_sent_once(
    patient: Any, study: Any, smtp_settings: Any, settings: Any, monkeypatch: Any
) -> None:
    link, _ = make_link(study, patient, verdict_kind="trial", verdict_choices=["Eligible", "No"])
    assert notify.send_email(link.pk) == "no answer"
    ShareLink.objects.filter(pk=link.pk).update(verdict="Eligible", verdict_at=link.created_at)
    settings.EMAIL_PORT = 1  # nothing listens there: the mail server is down
    settings.REPORT_EMAIL_MAX_RETRIES = 2
    with pytest.raises(OSError):
        notify.send_email(link.pk)
    delays: list[int] = []
    real_retry = send_answer_email.retry

    def retry(*args: Any, **kwargs: Any) -> Any:
        delays.append(kwargs["countdown"])
        return real_retry(*args, **kwargs)

    monkeypatch.setattr(send_answer_email, "retry", retry)
    with pytest.raises(Retry):  # retried later, with the report email's backoff
        send_answer_email.apply(args=[link.pk]).get()
    with pytest.raises(Retry):
        send_answer_email.apply(args=[link.pk], retries=1).get()
    assert delays[:2] == [settings.REPORT_EMAIL_RETRY_DELAY, 2 * settings.REPORT_EMAIL_RETRY_DELAY]
    # The last allowed retry fails too: it gives up (logged; the notification is there).
    assert send_answer_email.apply(args=[link.pk], retries=2).get() == "failed"
    assert ShareLink.objects.get(pk=link.pk).verdict_notified_at is None
    settings.EMAIL_PORT = smtp_settings.port
    assert send_answer_email.apply(args=[link.pk]).get() == "sent"
    assert send_answer_email.apply(args=[link.pk]).get() == "already sent"
    assert len(smtp_settings.wait_for(1)) == 1
