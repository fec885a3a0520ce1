"""Which review request an upload's studies join, and what happens to it when the
upload is done (``uploads.models.ReviewRequest``): it waits for a radiologist (READY)
once all its studies' images are ready (:func:`hand_over`).

The upload page sends either a question (a new request, the default) or the id of one
of the uploader's earlier requests that is still open ("add to my earlier request").
The server checks that id here: it must be the uploader's own request, and open.
A study that was uploaded before joins the upload's request as well, so a second
question about the same study is a second request and nothing typed is dropped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from uploads.models import (
    FileStatus,
    RequestStatus,
    ReviewRequest,
    Study,
    StudyStatus,
    Upload,
    Urgency,
)


class RequestRefused(ValueError):
    """The request the client named cannot take studies; the message says why."""


def choose(owner: Any, request_id: Any, question: str, history: str, urgency: str) -> ReviewRequest:
    """The request a new upload's studies join.

    Parameters
    ----------
    owner
        The uploader.
    request_id
        None for a new request; else the id of the uploader's earlier open request.
    question, history, urgency
        What the uploader typed. Added to an earlier request rather than dropped:
        the question and history as new paragraphs, "urgent" raises its urgency.

    Raises
    ------
    RequestRefused
        The id is not an integer, not the uploader's request, or the request has
        entered review (or was withdrawn).
    """
    if request_id is None:
        return ReviewRequest.objects.create(
            owner=owner, clinical_question=question, history=history, urgency=urgency
        )
    if isinstance(request_id, bool) or not isinstance(request_id, int):
        raise RequestRefused(_("The earlier request must be given by its number."))
    with transaction.atomic():
        earlier = (
            ReviewRequest.objects.select_for_update().filter(pk=request_id, owner=owner).first()
        )
        if earlier is None:
            raise RequestRefused(_("That earlier request was not found among yours."))
        if not earlier.is_open:
            raise RequestRefused(
                _("That request is already being reviewed; ask a new question instead.")
            )
        changed = []
        for name, typed in (("clinical_question", question), ("history", history)):
            kept = getattr(earlier, name)
            if typed.strip() and typed.strip() not in kept:
                setattr(earlier, name, f"{kept}\n\n{typed}".strip())
                changed.append(name)
        if urgency == Urgency.URGENT and earlier.urgency != Urgency.URGENT:
            earlier.urgency = Urgency.URGENT
            changed.append("urgency")
        if changed:
            earlier.save(update_fields=[*changed, "updated_at"])
    return earlier


def add_studies(upload: Upload, study_ids: list[int]) -> None:
    """The upload's studies join its request (those already there are left alone)."""
    if upload.review_request_id is None:
        return
    link = ReviewRequest.studies.through
    link.objects.bulk_create(
        [link(reviewrequest_id=upload.review_request_id, study_id=pk) for pk in study_ids],
        ignore_conflicts=True,  # the pair is unique
    )


def settle(upload: Upload, now: datetime) -> None:
    """The request of a done upload waits for review from now on (:func:`hand_over`).
    One made for an upload that brought nothing new and asked nothing (the same files
    sent twice) is removed; the upload page tells the uploader so (:func:`nothing_new`)."""
    request = upload.review_request
    if request is None:
        return
    asked_nothing = not (request.clinical_question.strip() or request.history.strip())
    if asked_nothing and nothing_new(upload) and not request.uploads.exclude(pk=upload.pk).exists():
        request.delete()
        return
    hand_over(ReviewRequest.objects.filter(pk=request.pk), now)


def hand_over(requests: QuerySet[ReviewRequest], now: datetime) -> int:
    """Those of ``requests`` still PENDING whose studies' images are all ready (none
    arriving, held for a check of burned-in text or needing attention; a cancelled study
    is left out) wait for a radiologist from ``now`` (READY, ``requested_at``). The
    ``UPDATE`` filters on PENDING, so it never moves a request that entered review.
    Returns how many moved."""
    unready = Study.objects.filter(review_requests=OuterRef("pk")).exclude(
        status__in=[StudyStatus.READY, StudyStatus.CANCELLED]
    )
    ready = Study.objects.filter(review_requests=OuterRef("pk"), status=StudyStatus.READY)
    return (
        requests.filter(status=RequestStatus.PENDING)
        .filter(Exists(ready))
        .exclude(Exists(unready))
        .update(
            status=RequestStatus.READY,
            requested_at=Coalesce(F("requested_at"), Value(now)),
            updated_at=now,
        )
    )


def nothing_new(upload: Upload) -> bool:
    """Every image the upload held was stored before (no file of it was stored now)."""
    files = upload.files.all()
    return (
        not files.filter(status=FileStatus.STORED).exists()
        and files.filter(status=FileStatus.DUPLICATE).exists()
    )


def drop_if_empty(upload: Upload) -> None:
    """A cancelled upload's request goes if it brought no study and no other upload uses it
    (the uploader typed it for this upload only; she can ask again with the next one).
    One that keeps studies from elsewhere waits for review with those
    (:func:`hand_over`); with none of them ready it is cancelled too."""
    request = upload.review_request
    if request is None:
        return
    if not request.studies.exists():
        if not request.uploads.exclude(pk=upload.pk).exists():
            request.delete()
        return
    requests = ReviewRequest.objects.filter(pk=request.pk)
    if (
        not hand_over(requests, timezone.now())
        and not request.studies.filter(status=StudyStatus.READY).exists()
    ):
        requests.filter(status=RequestStatus.PENDING).update(
            status=RequestStatus.CANCELLED, updated_at=timezone.now()
        )
