"""The study keeps where its images are (uploading ... ready, or cancelled); its reporting
state, radiologist and question now live on its review requests (``uploads.0014``,
``reports.0003``), so its copies go. A study in review or reported becomes "ready"."""

from django.db import migrations, models


def studies_images_only(apps, schema_editor):
    Study = apps.get_model("uploads", "Study")
    Study.objects.filter(status__in=["in_review", "reported", "amended"]).update(status="ready")


class Migration(migrations.Migration):
    dependencies = [
        ("uploads", "0014_request_workflow"),
        ("reports", "0003_report_per_request"),
    ]

    operations = [
        migrations.RunPython(studies_images_only, migrations.RunPython.noop),
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
