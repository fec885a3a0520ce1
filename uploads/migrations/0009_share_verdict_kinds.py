"""Share links choose what their reviewer may answer (issue 17).

Every existing link becomes a trial-eligibility link with the three trial choices, and
its answer (a key such as ``needs_more``) becomes the choice's label ("Needs more
images"); its comment and time are kept. An answer already given counts as notified
(nobody is emailed about answers from before this migration).
"""

from django.db import migrations, models

#: The keys links stored before this migration, and their labels.
TRIAL = {"eligible": "Eligible", "not_eligible": "Not eligible", "needs_more": "Needs more images"}


def to_kinds(apps, schema_editor):
    ShareLink = apps.get_model("uploads", "ShareLink")
    for link in ShareLink.objects.all().only("pk", "verdict", "verdict_at").iterator():
        ShareLink.objects.filter(pk=link.pk).update(
            verdict_kind="trial",
            verdict_choices=list(TRIAL.values()),
            verdict=TRIAL.get(link.verdict, link.verdict),
            verdict_notified_at=link.verdict_at,
        )


def to_keys(apps, schema_editor):
    """Back: labels of the trial set become keys again; other answers cannot be kept in
    the old field (16 characters, three values) and are cleared, their comment kept."""
    ShareLink = apps.get_model("uploads", "ShareLink")
    keys = {label: key for key, label in TRIAL.items()}
    for link in ShareLink.objects.exclude(verdict="").only("pk", "verdict").iterator():
        ShareLink.objects.filter(pk=link.pk).update(verdict=keys.get(link.verdict, ""))


class Migration(migrations.Migration):
    dependencies = [
        ("uploads", "0008_patient_characteristics"),
    ]

    operations = [
        migrations.AddField(
            model_name="sharelink",
            name="verdict_kind",
            field=models.CharField(
                choices=[
                    ("opinion", "Second opinion"),
                    ("trial", "Trial eligibility"),
                    ("custom", "Own choices"),
                    ("none", "No answer (view only)"),
                ],
                default="opinion",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="sharelink",
            name="verdict_choices",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="sharelink",
            name="verdict_notified_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="sharelink",
            name="verdict",
            field=models.CharField(blank=True, max_length=60),
        ),
        migrations.RunPython(to_kinds, to_keys),
    ]
