"""The reporting workflow through the views: request, claim, draft, sign, addendum."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from django.db import connection

from portal.audit.models import AuditEvent
from reports import services
from reports.errors import Conflict
from reports.models import Delivery, Notification, Report, ReportVersion, VersionStatus
from tests.reports.factories import FINDINGS, IMPRESSION, add_instance, case_of, make_study
from uploads.models import RequestStatus, Study, StudyStatus

pytestmark = pytest.mark.django_db


def actions(obj: Any) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_id=str(obj.pk), object_type=obj._meta.label_lower)
        .order_by("at", "id")
        .values_list("action", flat=True)
    )


# -- the uploader's request -------------------------------------------------------------------


def test_uploader_edits_request_until_review_starts(login: Any, pool_study: Study, radiologist):
    client = login(pool_study.owner)
    page = client.get(f"/requests/{case_of(pool_study).pk}/edit/")
    assert page.status_code == 200 and 'data-testid="request-question"' in page.content.decode()
    response = client.post(
        f"/requests/{case_of(pool_study).pk}/edit/",
        {"clinical_question": "New question", "history": "Smoker", "urgency": "urgent"},
    )
    assert response.status_code == 302
    pool_study.refresh_from_db()
    assert (
        case_of(pool_study).clinical_question,
        case_of(pool_study).history,
        case_of(pool_study).urgency,
    ) == (
        "New question",
        "Smoker",
        "urgent",
    )
    assert "request.updated" in actions(case_of(pool_study))

    services.claim(case_of(pool_study), radiologist)
    response = client.post(
        f"/requests/{case_of(pool_study).pk}/edit/",
        {"clinical_question": "Too late", "history": "", "urgency": "routine"},
    )
    assert response.status_code == 409
    pool_study.refresh_from_db()
    assert case_of(pool_study).clinical_question == "New question"
    assert (
        'data-testid="request-locked"'
        in client.get(f"/requests/{case_of(pool_study).pk}/edit/").content.decode()
    )


def test_uploader_cancels_ready_request_but_not_in_review(
    login: Any, patient: Any, radiologist: Any
):
    ready = make_study(patient)
    client = login(patient)
    assert client.post(f"/requests/{case_of(ready).pk}/cancel/").status_code == 302
    ready.refresh_from_db()
    assert case_of(ready).status == RequestStatus.CANCELLED
    assert "request.cancelled" in actions(case_of(ready))
    # cancelled is final, and an in-review request cannot be cancelled
    assert client.post(f"/requests/{case_of(ready).pk}/cancel/").status_code == 409
    claimed = make_study(patient)
    services.claim(case_of(claimed), radiologist)
    assert client.post(f"/requests/{case_of(claimed).pk}/cancel/").status_code == 409
    claimed.refresh_from_db()
    assert case_of(claimed).status == RequestStatus.IN_REVIEW
    # the study page offers cancel only while ready
    page = client.get(f"/studies/{claimed.pk}/").content.decode()
    assert 'data-testid="request-cancel"' not in page


# -- claiming -------------------------------------------------------------------------------


def test_claim_moves_study_to_reviewer_and_second_claim_fails(
    login: Any, pool_study: Study, radiologist: Any, other_radiologist: Any
):
    first = login(radiologist).post(f"/requests/{case_of(pool_study).pk}/claim/")
    assert first.status_code == 302 and first.url == f"/requests/{case_of(pool_study).pk}/report/"
    pool_study.refresh_from_db()
    assert case_of(pool_study).assigned_to == radiologist
    assert case_of(pool_study).status == RequestStatus.IN_REVIEW
    assert "request.claimed" in actions(case_of(pool_study))

    login(other_radiologist)
    second = login(other_radiologist).post(
        f"/requests/{case_of(pool_study).pk}/claim/", follow=True
    )
    assert "no longer in the pool" in second.content.decode()
    pool_study.refresh_from_db()
    assert case_of(pool_study).assigned_to == radiologist
    with pytest.raises(Conflict):
        services.claim(case_of(pool_study), other_radiologist)


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_have_exactly_one_winner(
    patient: Any, radiologist: Any, other_radiologist
):
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent transactions (PostgreSQL)")
    study = make_study(patient)
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}

    def attempt(user: Any) -> None:
        barrier.wait()
        try:
            services.claim(case_of(study), user)
            results[user.email] = "won"
        except Conflict:
            results[user.email] = "lost"
        finally:
            connection.close()

    threads = [
        threading.Thread(target=attempt, args=(u,)) for u in (radiologist, other_radiologist)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(results.values()) == ["lost", "won"]
    study.refresh_from_db()
    winner = next(email for email, r in results.items() if r == "won")
    assert case_of(study).assigned_to is not None and case_of(study).assigned_to.email == winner


# -- drafts, signing, addenda ---------------------------------------------------------------------


def test_editor_prefills_template_and_request(login: Any, assigned_study: Study):
    page = login(case_of(assigned_study).assigned_to).get(
        f"/requests/{case_of(assigned_study).pk}/report/"
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="report-template"' in html
    assert '<option value="ct-chest" selected>' in html
    assert "Lungs and airways:" in html  # the CT chest template's findings skeleton
    assert "Cough for three weeks" in html  # clinical information from the request
    assert 'src="/static/dist/report-editor.entry.js"' in html
    assert not Report.objects.filter(study=assigned_study).exists()  # GET creates nothing


def test_autosave_form_save_and_sign(login: Any, assigned_study: Study, patient: Any):
    client = login(case_of(assigned_study).assigned_to)
    url = f"/requests/{case_of(assigned_study).pk}/report/"
    instance = assigned_study.series.get().instances.get()
    response = client.post(
        url + "autosave/",
        json.dumps(
            {
                "findings": "draft text",
                "template": "ct",
                "key_images": [
                    {"instance_id": instance.pk, "frame": 0, "center": 40, "width": 400}
                ],
            }
        ),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["ok"] is True
    draft = ReportVersion.objects.get(report__study=assigned_study)
    assert (draft.findings, draft.template, draft.status) == ("draft text", "ct", "draft")
    assert draft.key_images == [
        {"instance_id": instance.pk, "frame": 0, "center": 40.0, "width": 400.0}
    ]

    # a key image of another study, or a bad frame, is refused
    other = add_instance(make_study(patient))
    bad = client.post(
        url + "autosave/",
        json.dumps({"key_images": [{"instance_id": other.pk, "frame": 0}]}),
        content_type="application/json",
    )
    assert bad.status_code == 400
    bad = client.post(
        url + "key-images/",
        json.dumps({"instance_id": instance.pk, "frame": 3}),
        content_type="application/json",
    )
    assert bad.status_code == 400
    ok = client.post(
        url + "key-images/",
        json.dumps({"instance_id": instance.pk, "frame": 0}),
        content_type="application/json",
    )
    assert ok.status_code == 200 and len(ok.json()["key_images"]) == 2

    assert client.post(url, {"findings": FINDINGS, "impression": ""}).status_code == 302
    preview = client.get(url + "preview/")
    assert preview.status_code == 200 and FINDINGS in preview.content.decode()

    # signing without an impression is refused and keeps the typed text
    refused = client.post(url + "sign/", {"findings": FINDINGS, "impression": " "})
    assert refused.status_code == 400
    assert FINDINGS in refused.content.decode()
    assert ReportVersion.objects.get(report__study=assigned_study).status == "draft"

    signed = client.post(url + "sign/", {"findings": FINDINGS, "impression": IMPRESSION})
    assert signed.status_code == 302 and signed.url == url + "view/"
    version = ReportVersion.objects.get(report__study=assigned_study)
    assert version.status == VersionStatus.SIGNED
    assert version.signed_by_name == "Dr. Charlie" and version.signed_at is not None
    assert version.impression == IMPRESSION
    assigned_study.refresh_from_db()
    assert case_of(assigned_study).status == RequestStatus.REPORTED
    assert "report.signed" in actions(version)
    assert "request.reported" in actions(case_of(assigned_study))
    # the uploader is told in the portal, and an email is queued
    note = Notification.objects.get(user=patient)
    assert note.link == url + "view/" and IMPRESSION not in note.text
    assert Delivery.objects.filter(version=version, recipient=patient).count() == 1


def test_admin_assigned_study_enters_review_on_first_save(
    login: Any, patient: Any, radiologist: Any, admin_user: Any
):
    study = make_study(patient)
    login(admin_user).post(
        f"/manage/requests/{case_of(study).pk}/assign/", {"radiologist": radiologist.pk}
    )
    study.refresh_from_db()
    assert study.status == StudyStatus.READY and case_of(study).assigned_to == radiologist
    client = login(radiologist)
    response = client.post(
        f"/requests/{case_of(study).pk}/report/autosave/",
        json.dumps({"findings": "x"}),
        content_type="application/json",
    )
    assert response.status_code == 200
    study.refresh_from_db()
    assert case_of(study).status == RequestStatus.IN_REVIEW
    assert "request.review_started" in actions(case_of(study))
    # unassigning during review puts it back in the pool
    login(admin_user).post(f"/manage/requests/{case_of(study).pk}/assign/", {"radiologist": ""})
    study.refresh_from_db()
    assert study.status == StudyStatus.READY and case_of(study).assigned_to is None


def test_addendum_starts_from_signed_text_and_amends(
    login: Any, reported_study: Study, radiologist: Any, patient: Any
):
    client = login(radiologist)
    url = f"/requests/{case_of(reported_study).pk}/report/"
    page = client.get(url).content.decode()
    assert 'data-testid="report-addendum"' in page and 'data-testid="report-sign"' not in page
    assert client.post(url + "addendum/", {"reason": ""}).status_code == 400
    assert (
        client.post(url + "addendum/", {"reason": "Comparison study received"}).status_code == 302
    )
    draft = ReportVersion.objects.get(report__study=reported_study, status="draft")
    assert (draft.number, draft.kind, draft.impression) == (2, "addendum", IMPRESSION)
    assert draft.addendum_reason == "Comparison study received"
    # the signed version 1 is untouched and still what readers get
    view = login(patient).get(url + "view/").content.decode()
    assert "Comparison study received" not in view

    client = login(radiologist)
    response = client.post(
        url + "sign/",
        {"impression": IMPRESSION + " Stable versus prior.", "addendum_reason": "Prior received"},
    )
    assert response.status_code == 302
    reported_study.refresh_from_db()
    assert case_of(reported_study).status == RequestStatus.AMENDED
    versions = ReportVersion.objects.filter(report__study=reported_study).order_by("number")
    assert [v.status for v in versions] == ["signed", "signed"]
    assert versions[0].impression == IMPRESSION
    assert versions[1].impression.endswith("Stable versus prior.")
    assert Delivery.objects.filter(version=versions[1]).count() == 1
    view = login(patient).get(url + "view/").content.decode()
    assert "Stable versus prior." in view and 'data-testid="report-history"' in view
    old = login(patient).get(url + "view/?version=1").content.decode()
    assert "Stable versus prior." not in old and 'data-testid="report-superseded"' in old


def test_timeline_on_study_page(login: Any, reported_study: Study, patient: Any):
    page = login(patient).get(f"/studies/{reported_study.pk}/").content.decode()
    assert 'data-testid="timeline"' in page
    for stage in ("uploaded", "ready", "in_review", "reported"):
        assert f'data-stage="{stage}" data-done="true"' in page, stage
    assert 'data-testid="study-report-link"' in page


def test_reading_a_report_is_audited_and_marks_notification_read(
    login: Any, reported_study: Study, patient: Any
):
    client = login(patient)
    assert Notification.objects.get(user=patient).read is False
    assert 'data-testid="notifications-badge"' in client.get("/notifications/").content.decode()
    client.get(f"/requests/{case_of(reported_study).pk}/report/view/")
    version = ReportVersion.objects.get(report__study=reported_study)
    assert "report.viewed" in actions(version)
    assert Notification.objects.get(user=patient).read is True
    page = client.get("/notifications/").content.decode()
    assert page.count('data-testid="notification"') == 1
    assert 'data-testid="notifications-badge"' not in page


def test_notification_open_marks_read_and_follows_link(
    login: Any, reported_study: Study, patient: Any
):
    note = Notification.objects.get(user=patient)
    response = login(patient).post(f"/notifications/{note.pk}/read/", {"open": "1"})
    assert response.status_code == 302 and response.url == note.link
    note.refresh_from_db()
    assert note.read is True
    assert "notification.read" in actions(note)


def test_cancelled_study_cannot_be_reported(login: Any, patient: Any, radiologist: Any):
    study = make_study(patient, status="cancelled", assigned_to=radiologist)
    client = login(radiologist)
    page = client.get(f"/requests/{case_of(study).pk}/report/").content.decode()
    assert "not open for reporting" in page and 'data-testid="report-sign"' not in page
    response = client.post(f"/requests/{case_of(study).pk}/report/sign/", {"impression": "x"})
    assert response.status_code == 409
    assert not ReportVersion.objects.filter(report__study=study).exists()


def test_a_withdrawn_request_stays_withdrawn_though_a_draft_was_kept(
    patient: Any, radiologist: Any, admin_user: Any
) -> None:
    """A draft survives unassignment; the uploader then withdraws the request; an admin
    assigns the study again. The kept draft must not bring the study back: no signing,
    no saving, no report email, and the editor offers nothing to write."""
    study = make_study(patient, assigned_to=radiologist)
    services.save_draft(case_of(study), radiologist, {"impression": IMPRESSION})
    services.assign(case_of(study), None, admin_user)
    services.cancel_request(case_of(study), patient)
    services.assign(case_of(study), radiologist, admin_user)
    study.refresh_from_db()
    assert case_of(study).status == RequestStatus.CANCELLED
    with pytest.raises(Conflict):
        services.sign(case_of(study), radiologist, {"impression": IMPRESSION})
    with pytest.raises(Conflict):
        services.save_draft(case_of(study), radiologist, {"findings": FINDINGS})
    assert services.editable_draft(case_of(study)) is None
    study.refresh_from_db()
    assert case_of(study).status == RequestStatus.CANCELLED
    assert not ReportVersion.objects.filter(report__study=study, status=VersionStatus.SIGNED)
    assert not Delivery.objects.exists()


def test_assignment_notifies_the_radiologist(
    login: Any, patient: Any, radiologist: Any, other_radiologist: Any, admin_user: Any
):
    """Issue 17: radiologists got no notification when a study was assigned to them."""

    study = make_study(patient)
    admin = login(admin_user)
    url = f"/manage/requests/{case_of(study).pk}/assign/"
    assert admin.post(url, {"radiologist": radiologist.pk}).status_code == 302
    admin.post(url, {"radiologist": radiologist.pk})  # saved again: no second message
    (note,) = Notification.objects.filter(user=radiologist)
    assert note.text == f"Request #{case_of(study).pk} was assigned to you." and not note.read
    assert note.link == f"/requests/{case_of(study).pk}/report/"
    admin.post(url, {"radiologist": other_radiologist.pk})
    assert Notification.objects.filter(user=other_radiologist).count() == 1
    assert not Notification.objects.filter(user=patient).exists()
    page = login(radiologist).get("/worklist/").content.decode()
    assert 'data-testid="notifications-badge" aria-label="1 unread">1<' in page
