"""docker-compose.yml describes the production stack that `make stack` runs natively."""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def test_compose_has_every_production_service_with_healthchecks() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ["web", "worker", "beat", "dicom", "postgres", "redis", "minio", "mailpit"]:
        assert name in services, name
    for name in ["web", "worker", "postgres", "redis", "minio", "mailpit"]:
        assert "healthcheck" in services[name], name
    assert "gunicorn" in services["web"]["command"]
    assert services["worker"]["command"].startswith("celery -A portal worker")
    env = services["web"]["environment"]
    assert env["STORAGE"] == "s3" and env["DATABASE_URL"].startswith("postgres://")
    assert set(compose["volumes"]) >= {"postgres-data", "minio-data", "portal-data"}


def test_procfile_runs_the_same_processes() -> None:
    procfile = (REPO / "Procfile").read_text()
    for prefix in ["web: gunicorn portal.wsgi", "worker: python -m celery -A portal worker",
                   "beat: python -m celery -A portal beat",
                   "dicom: python manage.py dicom_receiver"]:  # fmt: skip
        assert prefix in procfile
