"""Migrations ``uploads.0011``/``0012`` with data: each study that carries a request for
review becomes one review request covering it, with its question, history, urgency and
times; its report, versions and deliveries keep working; going back removes them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.migrations import migrate, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("uploads", "0010_quarantine_cleared"), ("reports", "0001_initial")]
AFTER = [("uploads", "0012_review_requests_data"), ("reports", "0001_initial")]


@pytest.mark.usefixtures("back_to_latest")
def test_studies_with_a_request_become_requests_and_reports_survive() -> None:
    apps = migrate(BEFORE)
    User = apps.get_model("accounts", "User")
    owner = User.objects.create(email="marie@example.org", password="!", role="patient")
    reader = User.objects.create(email="dr@example.org", password="!", role="radiologist")
    Study = apps.get_model("uploads", "Study")
    asked_at = timezone.now() - timedelta(days=3)
    reported = Study.objects.create(
        owner=owner, status="reported", study_instance_uid="2.25.1", patient_pseudonym="P1",
        clinical_question="Is the lesion growing?", history="Operated 2019.", urgency="urgent",
        requested_at=asked_at, assigned_to=reader, assigned_at=asked_at,
    )  # fmt: skip
    waiting = Study.objects.create(owner=owner, status="ready", study_instance_uid="2.25.2")
    arriving = Study.objects.create(owner=owner, status="processing", study_instance_uid="2.25.3")
    upload = apps.get_model("uploads", "Upload").objects.create(owner=owner, state="done")
    upload.studies.add(reported)
    Report = apps.get_model("reports", "Report")
    report = Report.objects.create(study=reported)
    version = apps.get_model("reports", "ReportVersion").objects.create(
        report=report, number=1, kind="original", status="signed", impression="Stable.",
        signed_at=asked_at, author=reader, signed_by_name="Dr",
    )  # fmt: skip
    apps.get_model("reports", "Delivery").objects.create(
        version=version, recipient=owner, status="sent"
    )

    apps = migrate(AFTER)
    ReviewRequest = apps.get_model("uploads", "ReviewRequest")
    assert ReviewRequest.objects.count() == 2  # the study still arriving asked nothing yet
    first = ReviewRequest.objects.get(studies=reported.pk)
    assert first.owner_id == owner.pk
    assert first.clinical_question == "Is the lesion growing?"
    assert first.history == "Operated 2019." and first.urgency == "urgent"
    assert first.requested_at == asked_at
    assert first.created_at == reported.created_at
    assert list(first.studies.values_list("pk", flat=True)) == [reported.pk]
    assert ReviewRequest.objects.get(studies=waiting.pk).clinical_question == ""
    assert not ReviewRequest.objects.filter(studies=arriving.pk).exists()
    assert apps.get_model("uploads", "Upload").objects.get(pk=upload.pk).review_request_id == (
        first.pk
    )

    # Today's code reads the migrated rows (every app at its latest): the report, its
    # version and its delivery.
    migrate_to_latest()
    from reports import services
    from reports.models import Delivery
    from uploads.models import ReviewRequest as Case
    from uploads.models import Study as Model

    case = Case.objects.get(studies=reported.pk)
    signed = services.signed_version(case)
    assert signed is not None and signed.pk == version.pk and signed.impression == "Stable."
    assert Delivery.objects.get(version=signed).status == "sent"
    assert case.assigned_to_id == reader.pk and case.status == "reported"
    assert Model.objects.get(pk=reported.pk).status == "ready"  # its images are

    # Back: the requests go, the studies keep their request fields.
    apps = migrate(BEFORE)
    assert apps.get_model("uploads", "Study").objects.get(pk=reported.pk).clinical_question == (
        "Is the lesion growing?"
    )
