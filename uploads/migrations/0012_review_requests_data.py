"""Each study that carries a request for review (a question, history, urgency, an
assignment, or a place in the reporting workflow) gets one review request covering it,
with the same question, history, urgency and times; the uploads that brought the study
point at that request. Going back removes the requests (the studies keep their fields)."""

from django.db import migrations
from django.db.models import Q

REPORTING = ["ready", "in_review", "reported", "amended", "cancelled"]


def studies_to_requests(apps, schema_editor):
    Study = apps.get_model("uploads", "Study")
    ReviewRequest = apps.get_model("uploads", "ReviewRequest")
    Upload = apps.get_model("uploads", "Upload")
    asked = (
        ~Q(clinical_question="")
        | ~Q(history="")
        | Q(urgency="urgent")
        | Q(assigned_to__isnull=False)
        | Q(status__in=REPORTING)
    )
    for study in Study.objects.filter(asked).order_by("pk").iterator():
        request = ReviewRequest.objects.create(
            owner_id=study.owner_id,
            clinical_question=study.clinical_question,
            history=study.history,
            urgency=study.urgency,
            requested_at=study.requested_at,
        )
        # auto_now_add: the request is as old as the study it was part of.
        ReviewRequest.objects.filter(pk=request.pk).update(created_at=study.created_at)
        request.studies.add(study)
        Upload.objects.filter(studies=study, review_request__isnull=True).update(
            review_request=request
        )


def remove_requests(apps, schema_editor):
    apps.get_model("uploads", "ReviewRequest").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("uploads", "0011_review_requests")]

    operations = [migrations.RunPython(studies_to_requests, remove_requests)]
