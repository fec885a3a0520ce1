"""Celery task of the viewer: pre-render a study's slices into the cache."""

from __future__ import annotations

from celery import shared_task

from portal.errors import TRANSIENT
from uploads.viewer import rendering

#: Pre-rendering is a warm-up: on Redis it waits behind ingest and every other task.
#: kombu's Redis transport keeps a list per priority step (0, 3, 6, 9) and a worker
#: takes from the lowest step first; messages without a priority count as 0.
PRERENDER_PRIORITY = 9


def queue_prerender(study_id: int) -> None:
    prerender_study.apply_async((study_id,), priority=PRERENDER_PRIORITY)


@shared_task(
    name="uploads.tasks.prerender_study",  # the name queued messages carry: keep it
    acks_late=True,
    ignore_result=True,
    max_retries=3,
    retry_backoff=True,
    autoretry_for=TRANSIENT,
)
def prerender_study(study_id: int) -> int:
    """Thumbnails and default-window slices into the cache, so the first look is fast."""
    return rendering.prerender_study(study_id)
