"""Fixtures of the reporting tests: studies in each state, an SMTP port nobody serves."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.reports.factories import make_study, sign_report
from uploads.models import Study


@pytest.fixture
def pool_study(patient: Any) -> Study:
    """Alice's study, waiting in the pool (READY, unassigned), with one CT image."""
    return make_study(patient, instances=1)


@pytest.fixture
def assigned_study(patient: Any, radiologist: Any) -> Study:
    """Alice's study, claimed by Charlie (IN_REVIEW)."""
    return make_study(patient, status="in_review", assigned_to=radiologist, instances=1)


@pytest.fixture
def reported_study(assigned_study: Study, radiologist: Any) -> Study:
    """Alice's study with a signed report by Charlie."""
    sign_report(assigned_study, radiologist)
    assigned_study.refresh_from_db()
    return assigned_study


@pytest.fixture
def closed_port() -> int:
    """A local TCP port with nothing listening on it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_down(settings: Any, closed_port: int) -> Iterator[int]:
    """Email settings pointing at a closed port: every send fails with ECONNREFUSED.

    Eager tasks stop propagating exceptions, so Celery's eager ``retry`` runs the whole
    retry chain in-process (with propagation the first ``Retry`` would be raised).
    """
    from portal.celery import app

    propagates = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = closed_port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 2
    settings.REPORT_EMAIL_MAX_RETRIES = 3
    yield closed_port
    app.conf.task_eager_propagates = propagates
