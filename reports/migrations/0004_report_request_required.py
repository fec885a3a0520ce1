"""Every report now answers a review request (``reports.0003`` filled the column): it is
required and one per request. Apart from 0003 because PostgreSQL does not alter a table
with pending trigger events in the transaction that filled it."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("reports", "0003_report_per_request")]

    operations = [
        migrations.AlterField(
            model_name="report",
            name="review_request",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="report",
                to="uploads.reviewrequest",
            ),
        ),
        migrations.AlterField(
            model_name="report",
            name="study",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="reports",
                to="uploads.study",
            ),
        ),
    ]
