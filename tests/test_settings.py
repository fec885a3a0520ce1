"""The env-driven settings: helpers, email URLs, production check --deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.settings import email_settings, env_bool, env_int, env_list

REPO = Path(__file__).resolve().parent.parent


def test_env_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_bool("X_BOOL") is True
    assert env_bool("X_MISSING", True) is True
    assert env_int("X_INT", 1) == 42
    assert env_list("X_LIST") == ["a", "b", "c"]
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured):
        env_bool("X_BOOL")
    monkeypatch.setenv("X_INT", "4x")
    with pytest.raises(ImproperlyConfigured):
        env_int("X_INT", 1)


def test_email_urls() -> None:
    smtp = email_settings("smtp://user:p%40ss@mail.example:2525?tls=1")
    assert smtp["EMAIL_HOST"] == "mail.example" and smtp["EMAIL_PORT"] == 2525
    assert smtp["EMAIL_HOST_PASSWORD"] == "p@ss" and smtp["EMAIL_USE_TLS"] is True
    assert email_settings("smtps://mail.example")["EMAIL_PORT"] == 465
    assert email_settings("console://")["EMAIL_BACKEND"] == (
        "django.core.mail.backends.console.EmailBackend"
    )
    assert email_settings("file:///tmp/mail")["EMAIL_FILE_PATH"] == "/tmp/mail"
    with pytest.raises(ImproperlyConfigured):
        email_settings("carrier-pigeon://")


def run_settings(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    drop = {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    base = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO, env={**base, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_embedded_defaults(tmp_path: Path) -> None:
    code = (
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.EMAIL_BACKEND,"
        " s.STORAGES['default']['BACKEND'], s.CACHES['default']['BACKEND'])"
    )
    result = run_settings({"DATA_DIR": str(tmp_path)}, "shell", "--no-imports", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "filesystem://",
        "django.core.mail.backends.console.EmailBackend",
        "django.core.files.storage.FileSystemStorage",
        "django.core.cache.backends.filebased.FileBasedCache",
    ]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_services_selected_by_env(tmp_path: Path) -> None:
    env = {
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://u:p@db:5432/portal",
        "REDIS_URL": "redis://redis:6379/0",
        "STORAGE": "s3",
        "S3_BUCKET": "scans",
        "S3_ENDPOINT_URL": "http://minio:9000",
        "EMAIL_URL": "smtp://mailpit:1025",
    }
    code = (
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.EMAIL_BACKEND,"
        " s.STORAGES['default']['BACKEND'], s.STORAGES['default']['OPTIONS']['bucket_name'],"
        " s.CACHES['default']['BACKEND'])"
    )
    result = run_settings(env, "shell", "--no-imports", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "redis://redis:6379/0",
        "django.core.mail.backends.smtp.EmailBackend",
        "storages.backends.s3.S3Storage",
        "scans",
        "portal.cache.PortalRedisCache",
    ]


def test_check_deploy_is_clean_with_production_env(tmp_path: Path) -> None:
    env = {
        "DATA_DIR": str(tmp_path),
        "SECRET_KEY": "x" * 20 + "-production-secret-with-enough-entropy-0123456789",
        "DEID_SECRET": "another-long-secret-for-pseudonyms-0123456789",
        "SITE_URL": "https://portal.example.org",
        "ALLOWED_HOSTS": "portal.example.org",
        "DEBUG": "false",
    }
    result = run_settings(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
