"""The "report ready" email: real SMTP server, no report text, retries, failure, resend."""

from __future__ import annotations

from typing import Any

import pytest

from portal.audit.models import AuditEvent
from reports import conf, delivery, tasks
from reports.models import Delivery, DeliveryStatus, ReportVersion, VersionStatus
from tests.conftest import link_in, text_body
from tests.reports.factories import CT_SMALL_IDENTITY, FINDINGS, IMPRESSION, case_of, sign_report
from uploads.models import RequestStatus, Study

pytestmark = pytest.mark.django_db


def forbidden_words(study: Study) -> list[str]:
    """Report text and identity that must never be in an email."""
    owner = study.owner
    return [
        IMPRESSION,
        FINDINGS,
        "nodule",
        case_of(study).clinical_question,
        study.description,
        study.patient_pseudonym,
        owner.email,
        *CT_SMALL_IDENTITY,
    ]


def sign_and_send(study: Study, radiologist: Any, capture: Any) -> ReportVersion:
    with capture(execute=True):
        version = sign_report(study, radiologist)
    return version


def test_email_arrives_with_working_link_and_no_report_text(
    smtp_settings: Any,
    assigned_study: Study,
    radiologist: Any,
    login: Any,
    client: Any,
    django_capture_on_commit_callbacks: Any,
):
    version = sign_and_send(assigned_study, radiologist, django_capture_on_commit_callbacks)
    (message,) = smtp_settings.wait_for(1)
    assert message["To"] == assigned_study.owner.email
    assert message["Subject"] == "Your report is ready"
    text = text_body(message)
    html = str(message.get_body(preferencelist=("html",)).get_content())
    assert message.get_body(preferencelist=("html",)) is not None
    for word in forbidden_words(assigned_study):
        assert word not in text and word not in html, word
        assert word not in str(message["Subject"])
    link = link_in(text)
    path = f"/requests/{case_of(assigned_study).pk}/report/view/"
    assert link == "http://testserver" + path
    assert f'href="{link}"' in html

    # the link needs a login, then shows the report
    client.logout()
    anonymous = client.get(path)
    assert anonymous.status_code == 302 and anonymous.url.startswith("/login/?next=")
    page = login(assigned_study.owner).get(path)
    assert page.status_code == 200 and IMPRESSION in page.content.decode()

    row = Delivery.objects.get(version=version)
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.SENT, 1, "")
    assert row.sent_at is not None
    assert AuditEvent.objects.filter(action="delivery.sent", object_id=str(row.pk)).exists()
    version.refresh_from_db()
    assert version.pdf  # the PDF task ran on commit too


def test_redelivered_task_does_not_send_twice(
    smtp_settings: Any,
    assigned_study: Study,
    radiologist: Any,
    django_capture_on_commit_callbacks: Any,
):
    version = sign_and_send(assigned_study, radiologist, django_capture_on_commit_callbacks)
    smtp_settings.wait_for(1)
    row = Delivery.objects.get(version=version)
    assert tasks.send_report_email.delay(row.pk).get() == "sent"
    assert delivery.deliver(row.pk).status == "sent"
    row.refresh_from_db()
    assert row.attempts == 1
    assert len(smtp_settings.messages) == 1


def test_smtp_down_retries_then_fails_and_admin_resends(
    smtp_down: int,
    smtp_server: Any,
    settings: Any,
    assigned_study: Study,
    radiologist: Any,
    admin_user: Any,
    login: Any,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
):
    delays: list[int] = []
    real_delay = conf.email_retry_delay

    def no_wait(retries: int) -> int:
        delays.append(real_delay(retries))
        return 0

    monkeypatch.setattr(conf, "email_retry_delay", no_wait)

    version = sign_and_send(assigned_study, radiologist, django_capture_on_commit_callbacks)

    row = Delivery.objects.get(version=version)
    # one attempt plus REPORT_EMAIL_MAX_RETRIES (3) retries, with exponential backoff
    assert row.attempts == 4
    assert row.status == DeliveryStatus.FAILED
    assert row.last_error == "ConnectionRefusedError (errno 111)"
    assert delays == [60, 120, 240]
    assert AuditEvent.objects.filter(action="delivery.retrying", object_id=str(row.pk)).count() == 3
    assert AuditEvent.objects.filter(action="delivery.failed", object_id=str(row.pk)).count() == 1
    # the report is not lost
    version.refresh_from_db()
    assigned_study.refresh_from_db()
    assert version.status == VersionStatus.SIGNED and version.impression == IMPRESSION
    assert case_of(assigned_study).status == RequestStatus.REPORTED

    # the admin sees the failure ...
    admin = login(admin_user)
    page = admin.get("/manage/deliveries/?status=failed").content.decode()
    assert f'data-delivery-id="{row.pk}"' in page
    assert 'data-status="failed"' in page and 'data-testid="resend-email"' in page
    assert "ConnectionRefusedError" in page
    assert admin.get("/manage/").content.decode().count('data-testid="stat-failed-emails"') == 1

    # ... and resends once the mail server is back
    settings.EMAIL_PORT = smtp_server.port
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(f"/manage/deliveries/{row.pk}/resend/")
    assert response.status_code == 302
    (message,) = smtp_server.wait_for(1)
    assert message["To"] == assigned_study.owner.email
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.SENT, 5, "")
    page = admin.get("/manage/deliveries/?status=sent").content.decode()
    assert f'data-delivery-id="{row.pk}"' in page


def test_one_failed_attempt_leaves_delivery_queued(
    smtp_down: int, assigned_study: Study, radiologist: Any
):
    version = sign_report(assigned_study, radiologist)  # on_commit not run: nothing sent yet
    row = Delivery.objects.get(version=version)
    outcome = delivery.deliver(row.pk)
    assert outcome.retry and isinstance(outcome.error, OSError)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (DeliveryStatus.QUEUED, 1)
    outcome = delivery.deliver(row.pk, final=True)
    assert not outcome.retry
    row.refresh_from_db()
    assert (row.status, row.attempts) == (DeliveryStatus.FAILED, 2)
    assert delivery.deliver(row.pk).status == DeliveryStatus.FAILED  # a stray retry: no-op
    row.refresh_from_db()
    assert row.attempts == 2


def test_resending_a_sent_email_makes_a_new_delivery(
    smtp_settings: Any,
    assigned_study: Study,
    radiologist: Any,
    admin_user: Any,
    login: Any,
    django_capture_on_commit_callbacks: Any,
):
    version = sign_and_send(assigned_study, radiologist, django_capture_on_commit_callbacks)
    smtp_settings.wait_for(1)
    first = Delivery.objects.get(version=version)
    with django_capture_on_commit_callbacks(execute=True):
        login(admin_user).post(f"/manage/deliveries/{first.pk}/resend/")
    smtp_settings.wait_for(2)
    rows = Delivery.objects.filter(version=version).order_by("pk")
    assert [r.status for r in rows] == ["sent", "sent"] and rows[0].pk == first.pk


def test_pdf_attachment_is_optional(
    smtp_settings: Any,
    settings: Any,
    assigned_study: Study,
    radiologist: Any,
    django_capture_on_commit_callbacks: Any,
):
    settings.REPORT_EMAIL_ATTACH_PDF = True
    sign_and_send(assigned_study, radiologist, django_capture_on_commit_callbacks)
    (message,) = smtp_settings.wait_for(1)
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"report-study-{assigned_study.pk}-v1.pdf"
    assert attachment.get_content().startswith(b"%PDF")


def test_addendum_sends_a_second_email(
    smtp_settings: Any,
    reported_study: Study,
    radiologist: Any,
    login: Any,
    django_capture_on_commit_callbacks: Any,
):
    client = login(radiologist)
    base = f"/requests/{case_of(reported_study).pk}/report/"
    client.post(base + "addendum/", {"reason": "Prior received"})
    with django_capture_on_commit_callbacks(execute=True):
        client.post(base + "sign/", {"impression": "Stable."})
    (message,) = smtp_settings.wait_for(1)  # the first report's email was never committed
    assert message["Subject"] == "Your report has been updated"
    assert "Stable." not in text_body(message) and "Prior received" not in text_body(message)


def test_retry_delay_is_exponential_and_capped():
    assert [conf.email_retry_delay(n) for n in range(8)] == [
        60, 120, 240, 480, 960, 1920, 3600, 3600,
    ]  # fmt: skip
