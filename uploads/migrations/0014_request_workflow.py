"""Review requests get their own place in the reporting workflow: a status, a radiologist
and (``reports.0003``) a report. Each request takes the state of the study it was first
made about:

- the study's first request gets the study's reporting state and radiologist;
- a later request about a reported study (a follow-up question, until now answered by an
  addendum) waits for the same radiologist (READY, assigned), as it did on the worklist;
- a request whose upload has not finished is PENDING.

``uploads.0015`` then removes the study's own copies of these fields."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

REPORTING = {"ready", "in_review", "reported", "amended", "cancelled"}


def requests_take_study_state(apps, schema_editor):
    ReviewRequest = apps.get_model("uploads", "ReviewRequest")
    for request in ReviewRequest.objects.order_by("pk").iterator():
        study = request.studies.order_by("pk").first()
        if study is None or study.status not in REPORTING:
            status = "ready" if request.requested_at else "pending"
            ReviewRequest.objects.filter(pk=request.pk).update(status=status)
            continue
        first = study.review_requests.order_by("created_at", "pk").first()
        if first.pk == request.pk:
            status = study.status
        else:
            status = "ready" if study.status != "cancelled" else "cancelled"
        ReviewRequest.objects.filter(pk=request.pk).update(
            status=status,
            assigned_to_id=study.assigned_to_id,
            assigned_at=study.assigned_at,
            requested_at=request.requested_at or study.requested_at,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("uploads", "0013_merge_cases_and_burned_in"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="reviewrequest",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Images arriving"),
                    ("ready", "Waiting for a radiologist"),
                    ("in_review", "In review"),
                    ("reported", "Report ready"),
                    ("amended", "Report amended"),
                    ("cancelled", "Cancelled"),
                ],
                db_index=True,
                default="pending",
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="reviewrequest",
            name="assigned_to",
            field=models.ForeignKey(
                blank=True,
                limit_choices_to={"role": "radiologist"},
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="assigned_requests",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="reviewrequest",
            name="assigned_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(requests_take_study_state, migrations.RunPython.noop),
    ]
