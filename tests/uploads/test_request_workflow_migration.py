"""Migrations ``uploads.0014``, ``reports.0003`` and ``uploads.0015`` with data: the
reporting workflow moves from the study to its review requests. Each request takes its
study's state and radiologist, each report its request; a follow-up question asked after
the report waits for the same radiologist; the studies keep only where their images are.
Going back gives the studies their fields again from their first request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.migrations import migrate, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("uploads", "0013_merge_cases_and_burned_in"), ("reports", "0002_report_annotations")]


@pytest.mark.usefixtures("back_to_latest")
def test_requests_take_over_the_workflow_and_reports_survive() -> None:
    apps = migrate(BEFORE)
    User = apps.get_model("accounts", "User")
    owner = User.objects.create(email="marie@example.org", password="!", role="patient")
    reader = User.objects.create(email="dr@example.org", password="!", role="radiologist")
    Study = apps.get_model("uploads", "Study")
    Case = apps.get_model("uploads", "ReviewRequest")
    Report = apps.get_model("reports", "Report")
    Version = apps.get_model("reports", "ReportVersion")
    at = timezone.now() - timedelta(days=3)

    def study(uid: str, status: str, **fields):
        return Study.objects.create(owner=owner, status=status, study_instance_uid=uid, **fields)

    def case(studies, **fields):
        made = Case.objects.create(owner=owner, **fields)
        made.studies.set(studies)
        return made

    def signed(report, number=1):
        return Version.objects.create(
            report=report, number=number, kind="original" if number == 1 else "addendum",
            status="signed", impression="Stable.", signed_at=at, author=reader,
            signed_by_name="Dr",
        )  # fmt: skip

    reported = study("2.25.1", "reported", assigned_to=reader, assigned_at=at, requested_at=at,
                     clinical_question="Growing?", urgency="urgent")  # fmt: skip
    first = case([reported], clinical_question="Growing?", urgency="urgent", requested_at=at)
    follow_up = case([reported], clinical_question="And now?", requested_at=at)
    version = signed(Report.objects.create(study=reported))
    Case.objects.filter(pk=follow_up.pk).update(created_at=timezone.now())
    in_review = study("2.25.2", "in_review", assigned_to=reader, assigned_at=at)
    reviewing = case([in_review], requested_at=at)
    waiting = study("2.25.3", "ready")
    pooled = case([waiting], requested_at=at)
    withdrawn = study("2.25.4", "cancelled")
    cancelled = case([withdrawn], requested_at=at)
    arriving = study("2.25.5", "processing")
    pending = case([arriving])
    # Two studies of one request, each reported on its own (before the workflow moved).
    left, right = study("2.25.6", "reported", assigned_to=reader), study("2.25.7", "amended")
    both = case([left, right], clinical_question="Compare", requested_at=at)
    left_report, right_report = (
        Report.objects.create(study=left),
        Report.objects.create(study=right),
    )
    signed(left_report), signed(right_report), signed(right_report, 2)

    migrate_to_latest()
    from reports import services
    from reports.models import Report as Reports
    from uploads.models import ReviewRequest
    from uploads.models import Study as Studies

    def state(pk: int) -> tuple[str, int | None]:
        row = ReviewRequest.objects.get(pk=pk)
        return row.status, row.assigned_to_id

    assert state(first.pk) == ("reported", reader.pk)
    assert state(follow_up.pk) == ("ready", reader.pk)  # waits for the same radiologist
    assert state(reviewing.pk) == ("in_review", reader.pk)
    assert state(pooled.pk) == ("ready", None)
    assert state(cancelled.pk) == ("cancelled", None)
    assert state(pending.pk) == ("pending", None)
    assert services.signed_version(ReviewRequest.objects.get(pk=first.pk)).pk == version.pk
    assert not Reports.objects.filter(review_request=follow_up.pk).exists()
    # The request of two reported studies keeps the first report; the second gets a
    # request of its own with the same question, in the state of its study.
    assert Reports.objects.get(pk=left_report.pk).review_request_id == both.pk
    split = Reports.objects.get(pk=right_report.pk).review_request
    assert split.pk != both.pk and split.clinical_question == "Compare"
    assert split.status == "amended" and list(split.studies.values_list("pk", flat=True)) == [
        right.pk
    ]
    # The studies keep where their images are.
    statuses = dict(Studies.objects.values_list("pk", "status"))
    assert statuses[reported.pk] == statuses[in_review.pk] == statuses[right.pk] == "ready"
    assert statuses[withdrawn.pk] == "cancelled" and statuses[arriving.pk] == "processing"

    # Back: the studies take their fields again from their first request.
    apps = migrate(BEFORE)
    back = apps.get_model("uploads", "Study").objects.get(pk=reported.pk)
    assert (back.status, back.assigned_to_id) == ("reported", reader.pk)
    assert (back.clinical_question, back.urgency) == ("Growing?", "urgent")
