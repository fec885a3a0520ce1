"""The "report ready" email and the PDF through a real Celery worker (Redis, PostgreSQL)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from reports.models import Delivery, DeliveryStatus, ReportVersion
from tests.conftest import link_in, start_worker, text_body
from tests.reports.factories import IMPRESSION, case_of, make_study, sign_report

pytestmark = [pytest.mark.services]


def test_sign_sends_email_and_pdf_via_real_worker(
    require_postgres: None,
    require_redis: str,
    transactional_db: None,
    smtp_server: Any,
    settings: Any,
    tmp_path: Path,
    patient: Any,
    radiologist: Any,
) -> None:
    from portal.celery import app

    app.control.purge()
    worker = start_worker(
        tmp_path / "worker.log",
        {"EMAIL_URL": f"smtp://127.0.0.1:{smtp_server.port}", "SITE_URL": "http://portal.test"},
    )
    try:
        deadline = time.monotonic() + 30
        while not app.control.ping(timeout=0.5):
            assert worker.proc.poll() is None, worker.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "worker did not answer a ping"
        study = make_study(patient, status="in_review", assigned_to=radiologist, instances=1)
        version = sign_report(study, radiologist)  # commits: the tasks go to Redis

        (message,) = smtp_server.wait_for(1, timeout=30)
        body = text_body(message)
        assert link_in(body) == f"http://portal.test/requests/{case_of(study).pk}/report/view/"
        assert IMPRESSION not in body
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            row = Delivery.objects.get(version=version)
            pdf = ReportVersion.objects.get(pk=version.pk).pdf
            if row.status == DeliveryStatus.SENT and pdf:
                break
            time.sleep(0.2)
        assert (row.status, row.attempts) == (DeliveryStatus.SENT, 1)
        assert pdf and (Path(settings.MEDIA_ROOT) / pdf).exists()
    finally:
        worker.stop()
