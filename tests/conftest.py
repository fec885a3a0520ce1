"""Shared fixtures: role users (as in healthchecks' hc/test.py), service guards, SMTP, browser.

Service guards skip a test when PostgreSQL / Redis / Chromium is missing, except in
CI (``CI=true``), where a missing service fails the test instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
from django.conf import settings

from tests.s3 import S3Server, start_s3

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API + ORM

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
PASSWORD = "correct-horse-battery-9"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ARTIFACTS = REPO / "test-artifacts"
#: Tests that time themselves or load the machine (whole stacks, soak, benchmarks): under
#: pytest-xdist they all run on one worker, one after another (``--dist loadgroup``).
LOAD_GROUP = pytest.mark.xdist_group("load")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``-n``, as ``make test`` runs) worker processes gw0, gw1... run
    their shares of the suite at the same time. pytest-django gives each a database of its
    own (``test_<name>_gw0``) and pytest a ``tmp_path`` root of its own; this gives each its
    own keys in the one Redis database (cache and Celery broker, apart by prefix: queues,
    acknowledgements and worker pings), or without Redis its own file cache and broker
    folders. The environment carries the prefixes to the processes tests start (celery
    worker, gunicorn), whose portal/settings.py reads them."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    from django.test import override_settings

    from portal.celery import app

    cache = dict(settings.CACHES["default"])
    broker = dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    if settings.REDIS_URL:
        prefix = "-".join(filter(None, [os.environ.get("CACHE_KEY_PREFIX"), worker]))
        cache["KEY_PREFIX"] = prefix
        broker["global_keyprefix"] = f"{prefix}:"
        os.environ.update(CACHE_KEY_PREFIX=prefix, CELERY_KEY_PREFIX=f"{prefix}:")
    else:
        cache["LOCATION"] = f"{cache['LOCATION']}-{worker}"
        for option in ("data_folder_in", "data_folder_out", "control_folder", "processed_folder"):
            broker[option] = f"{broker[option]}-{worker}"
            Path(str(broker[option])).mkdir(parents=True, exist_ok=True)
    # Enabled for the whole run: the ``settings`` fixture's changes go on top of it.
    override_settings(
        CACHES={**settings.CACHES, "default": cache}, CELERY_BROKER_TRANSPORT_OPTIONS=broker
    ).enable()
    app.conf.broker_transport_options = broker


def missing(reason: str) -> NoReturn:
    """Skip locally, fail in CI."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: services must be present)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _eager_celery(request: pytest.FixtureRequest) -> Iterator[None]:
    """Unit tests run tasks in-process; tests marked ``services`` use a real worker."""
    from portal.celery import app

    eager = "services" not in request.keywords
    old = app.conf.task_always_eager
    app.conf.task_always_eager = eager
    app.conf.task_eager_propagates = eager
    yield
    app.conf.task_always_eager = old


@pytest.fixture(autouse=True)
def _isolated_files(tmp_path: Path, settings: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Counters live in the shared cache (Redis): off by default, on in the rate-limit tests.
    settings.SIGNUP_RATE = settings.UPLOAD_CREATE_RATE = "0"
    settings.ACCOUNT_EMAIL_RATE = settings.PASSWORD_RESET_IP_RATE = "0"
    settings.SITE_URL = "http://testserver"


# -- role users ------------------------------------------------------------------------------


def make_user(email: str, role: str, **extra: Any) -> Any:
    from portal.accounts.models import User

    return User.objects.create_user(
        email, PASSWORD, role=role, email_verified=True, name=extra.pop("name", ""), **extra
    )


@pytest.fixture
def patient(db: None) -> Any:
    return make_user("alice@example.org", "patient")


@pytest.fixture
def other_patient(db: None) -> Any:
    return make_user("bob@example.org", "patient")


@pytest.fixture
def radiologist(db: None) -> Any:
    return make_user("charlie@example.org", "radiologist", name="Dr. Charlie")


@pytest.fixture
def other_radiologist(db: None) -> Any:
    return make_user("dana@example.org", "radiologist", name="Dr. Dana")


@pytest.fixture
def admin_user(db: None) -> Any:
    return make_user("eve@example.org", "admin")


@pytest.fixture
def login(client: Any) -> Any:
    def _login(user: Any) -> Any:
        if user is not None:
            client.force_login(user)
        return client

    return _login


@pytest.fixture
def back_to_latest() -> Iterator[None]:
    """After a test that moved the database between migrations: every app at its latest."""
    from tests.migrations import migrate_to_latest

    yield
    migrate_to_latest()


# -- real services ---------------------------------------------------------------------------


@pytest.fixture
def require_postgres() -> None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        missing("PostgreSQL not configured (DATABASE_URL)")


@pytest.fixture
def require_redis() -> str:
    if not settings.REDIS_URL:
        missing("Redis not configured (REDIS_URL)")
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1).ping()
    except redis.RedisError as exc:
        missing(f"Redis not reachable: {exc}")
    return settings.REDIS_URL


def worker_database_url() -> str:
    """The URL of the database pytest-django created, for subprocesses (worker, gunicorn)."""
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def stop(self, sig: int | None = None) -> None:
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_worker(log: Path, extra_env: dict[str, str] | None = None) -> Worker:
    env = {
        **os.environ,
        "DATABASE_URL": worker_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DATA_DIR": str(Path(settings.MEDIA_ROOT).parent / "worker-data"),
        "SECRET_KEY": settings.SECRET_KEY,
        "DEID_SECRET": settings.DEID_SECRET,
        **storage_env(),
        **(extra_env or {}),
    }
    handle = log.open("wb")
    # INGEST_TEST_DELAY (seconds a file): a worker slowed down by tests/slow_worker.py
    runner = "tests.slow_worker" if "INGEST_TEST_DELAY" in env else "celery"
    proc = subprocess.Popen(
        [sys.executable, "-m", runner, "-A", "portal", "worker", "-P", "solo",
         "--without-gossip", "--without-mingle", "--loglevel=INFO"],
        cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT,
    )  # fmt: skip
    return Worker(proc, log, env)


@pytest.fixture
def celery_worker(
    require_postgres: None, require_redis: str, transactional_db: None, tmp_path: Path
) -> Iterator[Worker]:
    """A real ``celery worker`` subprocess on Redis, using the test PostgreSQL database."""
    from portal.celery import app

    app.control.purge()
    worker = start_worker(tmp_path / "worker.log")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if worker.proc.poll() is not None:
            pytest.fail("worker exited:\n" + worker.log.read_text()[-3000:])
        if app.control.ping(timeout=0.5):
            break
    else:
        worker.stop()
        pytest.fail("worker did not answer a ping in 30 s:\n" + worker.log.read_text()[-3000:])
    yield worker
    worker.stop()


# -- storage: local disk or S3 (moto_server) ---------------------------------------------------


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One ``moto_server`` on a free loopback port for the session; each test gets a bucket."""
    try:
        server = start_s3(tmp_path_factory.mktemp("s3") / "moto.log")
    except (FileNotFoundError, RuntimeError) as exc:
        missing(f"S3 server (moto) not available: {exc}")
    yield server
    server.stop()


@dataclass
class Storage:
    """The storage a test runs on: ``kind`` is "local" (MEDIA_ROOT) or "s3" (a fresh bucket)."""

    kind: str
    server: S3Server | None = None
    bucket: str = ""

    def names(self, prefix: str = "") -> list[str]:
        """Every stored object's name under ``prefix``, read from the back-end itself."""
        if self.server is not None:
            return sorted(self.server.keys(self.bucket, prefix))
        root = Path(settings.MEDIA_ROOT)
        found = (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        return sorted(name for name in found if name.startswith(prefix))


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, settings: Any) -> Storage:
    """Runs a test twice: on local disk and on S3 (django-storages' S3Storage on moto_server,
    configured as portal/settings.py does for ``STORAGE=s3``). Changing ``STORAGES`` sends
    ``setting_changed``, which resets ``default_storage`` for every module that imported it."""
    if request.param == "local":
        return Storage("local")
    server: S3Server = request.getfixturevalue("s3_server")
    bucket = server.new_bucket()
    settings.STORAGES = {**settings.STORAGES, "default": server.storage_options(bucket)}
    return Storage("s3", server, bucket)


def storage_env() -> dict[str, str]:
    """The environment that gives a subprocess (worker, gunicorn) this test's storage."""
    default = settings.STORAGES["default"]
    if default["BACKEND"] != "storages.backends.s3.S3Storage":
        return {"STORAGE": "local"}
    options = default["OPTIONS"]
    return {
        "STORAGE": "s3",
        "S3_BUCKET": options["bucket_name"],
        "S3_ENDPOINT_URL": options["endpoint_url"],
        "S3_REGION": options["region_name"] or "",
        "S3_ACCESS_KEY_ID": options["access_key"] or "",
        "S3_SECRET_ACCESS_KEY": options["secret_key"] or "",
    }


# -- email -----------------------------------------------------------------------------------


@dataclass
class SMTPSink:
    host: str
    port: int
    messages: list[Any]

    def wait_for(self, count: int, timeout: float = 15) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.messages) >= count, f"{len(self.messages)} of {count} emails arrived"
        return self.messages


@pytest.fixture
def smtp_server() -> Iterator[SMTPSink]:
    """A real SMTP server (aiosmtpd) in this process, collecting parsed messages."""
    yield from run_smtp()


def run_smtp(delay: float = 0.0) -> Iterator[SMTPSink]:
    """Serve SMTP on a free loopback port; each message is answered ``delay`` seconds
    late (a slow mail server)."""
    import asyncio
    import email
    import email.policy
    import socket

    from aiosmtpd.controller import Controller

    sink = SMTPSink("127.0.0.1", 0, [])

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            await asyncio.sleep(delay)
            sink.messages.append(
                email.message_from_bytes(envelope.content, policy=email.policy.default)
            )
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        sink.port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=sink.port)
    controller.start()
    yield sink
    controller.stop()


@pytest.fixture
def smtp_settings(smtp_server: SMTPSink, settings: Any) -> SMTPSink:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = smtp_server.host
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    return smtp_server


def link_in(body: str) -> str:
    """The first URL in an email body."""
    import re

    match = re.search(r"https?://\S+", body)
    assert match, body
    return match.group(0)


def text_body(message: Any) -> str:
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content())


# -- browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        missing(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any, live_server: Any, settings: Any) -> Iterator[Any]:
    settings.SITE_URL = live_server.url
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15000)
    pg = context.new_page()
    yield pg
    context.close()


def browser_login(page: Any, email: str, password: str = PASSWORD) -> None:
    """Log in through the form, as a person would. Staff (``MFA_REQUIRED_ROLES``) pass the
    second factor too: an account without an authenticator enrols one (the key is read
    from the page, the recovery codes are acknowledged), one with an authenticator types
    the next code (:func:`next_totp`)."""
    page.goto("/login/")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(password)
    with page.expect_navigation():
        page.get_by_test_id("login-submit").click()
    page.wait_for_load_state()
    if "/login/two-factor/" in page.url:
        import pyotp

        secret = page.get_by_test_id("mfa-secret").inner_text().replace(" ", "")
        page.get_by_test_id("mfa-code").fill(pyotp.TOTP(secret).now())
        with page.expect_navigation():
            page.get_by_test_id("mfa-submit").click()
        with page.expect_navigation():
            page.get_by_test_id("mfa-continue").click()
        page.wait_for_load_state()
    elif "/login/code/" in page.url:
        from portal.accounts.models import User

        page.get_by_test_id("mfa-code").fill(next_totp(User.objects.get(email__iexact=email)))
        with page.expect_navigation():
            page.get_by_test_id("mfa-submit").click()
        page.wait_for_load_state()


# -- two-factor authentication -----------------------------------------------------------------


def enrol_totp(user: Any) -> str:
    """Give ``user`` a confirmed authenticator (as the enrolment page would); its secret."""
    from django.utils import timezone

    from portal.accounts import mfa

    device = mfa.start_enrolment(user)
    device.confirmed_at = timezone.now()
    device.save(update_fields=["confirmed_at"])
    mfa.new_recovery_codes(user)
    return mfa.secret_of(device)


def next_totp(user: Any) -> str:
    """The code the portal accepts next for ``user``'s authenticator: each time-step works
    once, so a second login in the same 30 s uses the next step's code (accepted for clock
    drift), and a third waits for the clock."""
    import pyotp

    from portal.accounts import mfa

    while True:
        device = mfa.device_of(user)
        assert device is not None, f"{user.email} has no authenticator"
        now = int(time.time() // mfa.STEP)
        step = max(now, device.last_used_step + 1)
        if step <= now + mfa.DRIFT:
            return str(pyotp.TOTP(mfa.secret_of(device)).generate_otp(step))
        time.sleep(mfa.STEP - time.time() % mfa.STEP + 0.05)


def password_login(
    client: Any, user: Any, password: str = PASSWORD, next: str = "", **extra: Any
) -> Any:
    """Log ``user`` in with the Django test client through the real forms (password, then
    the code for staff, enrolling an authenticator first when they have none). Returns the
    last response (a redirect to ``next`` or the home page when it worked). ``extra``
    goes to both posts (e.g. ``secure=True``)."""
    from django.urls import reverse

    from portal.accounts import mfa

    url = reverse("login") + (f"?next={next}" if next else "")
    if mfa.required_for(user) and not mfa.has_device(user):
        enrol_totp(user)
    response = client.post(url, {"email": user.email, "password": password}, **extra)
    if response.status_code == 302 and response.url == reverse("mfa-verify"):
        response = client.post(response.url, {"code": next_totp(user)}, **extra)
    return response
