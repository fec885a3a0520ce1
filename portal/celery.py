"""The Celery app. Tasks live in each app's ``tasks.py`` and are autodiscovered.

Tasks are thin: they take ids, call a service function and own the retry policy.
``acks_late`` + ``reject_on_worker_lost`` (settings) mean a task whose worker dies
is delivered again, so every task must be idempotent.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
