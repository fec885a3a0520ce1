"""Celery task of the viewer: pre-render a study's slices into derived storage."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from portal.errors import TRANSIENT
from uploads.models import FileStatus, UploadFile
from uploads.viewer import rendering

log = logging.getLogger(__name__)

#: Pre-rendering is a warm-up: on Redis it waits behind ingest and every other task.
#: kombu's Redis transport keeps a list per priority step (0, 3, 6, 9) and a worker
#: takes from the lowest step first; messages without a priority count as 0.
PRERENDER_PRIORITY = 9


def queue_prerender(study_id: int) -> None:
    """Queue the warm-up of a study, unless ``PRERENDER_SLICES`` is 0 (switched off)."""
    if settings.PRERENDER_SLICES > 0:
        prerender_study.apply_async((study_id,), priority=PRERENDER_PRIORITY)


def ingest_waiting() -> bool:
    """Whether received files wait to be processed (by any upload). The embedded
    file-system broker has no priorities, so this is how pre-rendering lets them go first."""
    return UploadFile.objects.filter(status=FileStatus.RECEIVED).exists()


def defer(study_id: int, deferred: int) -> None:
    log.info("pre-rendering of study %s deferred: files wait for ingest", study_id)
    prerender_study.apply_async(
        (study_id, deferred + 1),
        countdown=settings.PRERENDER_DEFER_SECONDS,
        priority=PRERENDER_PRIORITY,
    )


@shared_task(
    name="uploads.tasks.prerender_study",  # the name queued messages carry: keep it
    acks_late=True,
    ignore_result=True,
    max_retries=3,
    retry_backoff=True,
    autoretry_for=TRANSIENT,
)
def prerender_study(study_id: int, deferred: int = 0) -> int:
    """Thumbnails and default-window slices into derived storage, so the first look is
    fast. While files wait for ingest it re-queues itself (``PRERENDER_DEFER_SECONDS``
    later, up to ``PRERENDER_MAX_DEFERS`` times, then it runs anyway); started, it stops
    and re-queues when files arrive (what it stored is kept and skipped next time)."""
    may_defer = deferred < settings.PRERENDER_MAX_DEFERS
    if may_defer and ingest_waiting():
        defer(study_id, deferred)
        return 0
    try:
        return rendering.prerender_study(study_id, give_way=ingest_waiting if may_defer else None)
    except rendering.Interrupted as stop:
        defer(study_id, deferred)
        return stop.rendered
