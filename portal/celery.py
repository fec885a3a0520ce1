"""The Celery app. Tasks live in each app's or part's ``tasks.py`` and are autodiscovered.

Tasks are thin: they take ids, call a service function and own the retry policy.
``acks_late`` + ``reject_on_worker_lost`` (settings) mean a task whose worker dies
is delivered again, so every task must be idempotent.
"""

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # each installed app's tasks.py
# the parts of the uploads app have their own
app.autodiscover_tasks(["uploads.intake", "uploads.viewer", "uploads.sharing"])


@task_prerun.connect
@task_postrun.connect
def close_old_connections(task: Any = None, **kwargs: Any) -> None:
    """Keep a database connection across tasks (``CELERY_DB_REUSE_MAX``) unless it broke
    or is older than ``CONN_MAX_AGE``: what Django does around each request. Not for a
    task run eagerly, inside its caller's transaction."""
    from django.db import close_old_connections

    if not getattr(getattr(task, "request", None), "is_eager", False):
        close_old_connections()


@worker_ready.connect
def warn_about_redis_memory(**kwargs: Any) -> None:
    """A Redis without a memory budget (``portal/checks.py``) is logged when a worker starts."""
    import logging

    from portal.checks import check_redis_memory

    for warning in check_redis_memory():
        logging.getLogger("portal.checks").warning("%s %s", warning.msg, warning.hint)
