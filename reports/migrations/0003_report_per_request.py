"""A report answers a review request, no longer a study: each report moves to the first
request of its study (one is made for a study that had none). Should two studies of one
request each have had a report, the second study's report gets a request of its own,
with the same question. ``Report.study`` stays, as the study the report is filed under."""

import django.db.models.deletion
from django.db import migrations, models


def reports_to_requests(apps, schema_editor):
    Report = apps.get_model("reports", "Report")
    ReviewRequest = apps.get_model("uploads", "ReviewRequest")
    taken = set()
    for report in Report.objects.select_related("study").order_by("pk").iterator():
        study = report.study
        request = study.review_requests.order_by("created_at", "pk").first()
        if request is None or request.pk in taken:
            request = ReviewRequest.objects.create(
                owner_id=study.owner_id,
                clinical_question=request.clinical_question if request else "",
                history=request.history if request else "",
                urgency=request.urgency if request else "routine",
                requested_at=(request.requested_at if request else None) or study.requested_at,
                status=study.status if study.status != "uploading" else "ready",
                assigned_to_id=study.assigned_to_id,
                assigned_at=study.assigned_at,
            )
            request.studies.add(study)
        taken.add(request.pk)
        Report.objects.filter(pk=report.pk).update(review_request=request)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0002_report_annotations"),
        ("uploads", "0014_request_workflow"),
    ]

    operations = [
        migrations.AddField(
            model_name="report",
            name="review_request",
            field=models.OneToOneField(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="report",
                to="uploads.reviewrequest",
            ),
        ),
        migrations.RunPython(reports_to_requests, migrations.RunPython.noop),
    ]
