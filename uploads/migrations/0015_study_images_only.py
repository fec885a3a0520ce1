"""The study keeps where its images are (uploading ... ready, or cancelled); its reporting
state, radiologist and question now live on its review requests (``uploads.0014``,
``reports.0003``), so its copies go. A study in review or reported becomes "ready".
Going back, each study takes them again from its first request."""

from django.db import migrations, models


def studies_images_only(apps, schema_editor):
    Study = apps.get_model("uploads", "Study")
    Study.objects.filter(status__in=["in_review", "reported", "amended"]).update(status="ready")


def studies_from_first_requests(apps, schema_editor):
    Study = apps.get_model("uploads", "Study")
    for study in Study.objects.filter(review_requests__isnull=False).distinct().iterator():
        first = study.review_requests.order_by("created_at", "pk").first()
        status = study.status
        if status == "ready" and first.status in ("in_review", "reported", "amended"):
            status = first.status
        Study.objects.filter(pk=study.pk).update(
            status=status,
            clinical_question=first.clinical_question,
            history=first.history,
            urgency=first.urgency,
            requested_at=first.requested_at,
            assigned_to_id=first.assigned_to_id,
            assigned_at=first.assigned_at,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("uploads", "0014_request_workflow"),
        ("reports", "0004_report_request_required"),
    ]

    operations = [
        migrations.RunPython(studies_images_only, studies_from_first_requests),
        migrations.RemoveField(model_name="study", name="assigned_to"),
        migrations.RemoveField(model_name="study", name="assigned_at"),
        migrations.RemoveField(model_name="study", name="clinical_question"),
        migrations.RemoveField(model_name="study", name="history"),
        migrations.RemoveField(model_name="study", name="urgency"),
        migrations.RemoveField(model_name="study", name="requested_at"),
        migrations.AlterField(
            model_name="study",
            name="status",
            field=models.CharField(
                choices=[
                    ("uploading", "Uploading"),
                    ("processing", "Being prepared"),
                    ("needs_attention", "Needs attention"),
                    ("ready", "Images ready"),
                    ("cancelled", "Cancelled"),
                ],
                db_index=True,
                default="uploading",
                max_length=20,
            ),
        ),
    ]
