"""Rate limits: sign-up per client IP (``SIGNUP_RATE``), upload creation per user
(``UPLOAD_CREATE_RATE``), on the generic fixed-window helper ``portal.ratelimit``.
(Login throttling: tests/test_accounts.py.)

Counters live in the shared cache (Redis in these runs, kept between runs), so each test
uses addresses or keys of its own and resets what it uses.
"""

from __future__ import annotations

import logging
import random
import uuid
from typing import Any

import pytest
from django.test import Client

from portal import ratelimit
from portal import settings as configured
from portal.accounts.models import User
from tests.conftest import PASSWORD
from uploads.models import Upload

pytestmark = pytest.mark.django_db


def test_parse_rate() -> None:
    assert ratelimit.parse_rate("10/hour") == (10, 3600)
    assert ratelimit.parse_rate("60/h") == (60, 3600)
    assert ratelimit.parse_rate("5/30s") == (5, 30)
    assert ratelimit.parse_rate("100/day") == (100, 86400)
    assert ratelimit.parse_rate(" 3 / minutes ") == (3, 60)
    assert ratelimit.parse_rate("0") is None and ratelimit.parse_rate("") is None
    for bad in ("10", "ten/hour", "10/fortnight", "-1/h"):
        with pytest.raises(ValueError):
            ratelimit.parse_rate(bad)


def test_fixed_window_counts_and_resets(monkeypatch: pytest.MonkeyPatch) -> None:
    key = f"test:{uuid.uuid4().hex}"
    now = [1_000_000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    assert [ratelimit.hit(key, 3, 60) for _ in range(5)] == [True, True, True, False, False]
    now[0] += 60  # the next window
    assert ratelimit.hit(key, 3, 60)
    assert ratelimit.hit(f"{key}:other", 3, 60)  # keys are independent


def test_cache_down_fails_open(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr(ratelimit.cache, "add", down)
    with caplog.at_level(logging.WARNING, logger="portal.ratelimit"):
        assert all(ratelimit.hit("test:down", 1, 60) for _ in range(3))
    assert "cache unavailable" in caplog.text


def signup(client: Client, ip: str, n: int) -> Any:
    return client.post(
        "/signup/",
        {"email": f"rate{n}-{uuid.uuid4().hex[:8]}@example.org", "password": PASSWORD,
         "password2": PASSWORD},
        REMOTE_ADDR=ip,
    )  # fmt: skip


def random_ip() -> str:
    return f"198.51.{random.randint(0, 255)}.{random.randint(1, 254)}"


def test_signup_is_limited_per_ip(
    settings: Any, mailoutbox: list[Any], transactional_db: None
) -> None:
    settings.SIGNUP_RATE = "3/hour"
    ip, other = random_ip(), random_ip()
    client = Client()
    try:
        assert [signup(client, ip, n).status_code for n in range(3)] == [200, 200, 200]
        refused = signup(client, ip, 3)
        assert refused.status_code == 429
        assert b"Too many sign-ups" in refused.content
        assert User.objects.count() == 3 and len(mailoutbox) == 3  # no account, no email
        assert signup(client, other, 4).status_code == 200  # another address is not blocked
        assert client.get("/signup/", REMOTE_ADDR=ip).status_code == 200  # the page still shows
    finally:
        for address in (ip, other):
            ratelimit.reset("signup", address, "SIGNUP_RATE")


def test_signup_default_rate_applies_without_a_setting(settings: Any) -> None:
    settings.SIGNUP_RATE = configured.SIGNUP_RATE  # the default of portal/settings.py
    limit, _ = ratelimit.parse_rate(configured.SIGNUP_RATE) or (0, 0)
    assert limit >= 5
    ip = random_ip()
    client = Client()
    try:
        bad = {"email": "not-an-email", "password": "x", "password2": "y"}  # invalid: no user
        codes = [client.post("/signup/", bad, REMOTE_ADDR=ip).status_code for _ in range(limit + 1)]
        assert codes == [200] * limit + [429]
    finally:
        ratelimit.reset("signup", ip, "SIGNUP_RATE")


def create(client: Any) -> Any:
    return client.post("/api/uploads/", {"expected_files": 1}, content_type="application/json")


def test_upload_creation_is_limited_per_user(
    settings: Any, login: Any, patient: Any, other_patient: Any
) -> None:
    settings.UPLOAD_CREATE_RATE = "3/hour"
    for user in (patient, other_patient):
        ratelimit.reset("upload-create", user.pk, "UPLOAD_CREATE_RATE")
    try:
        client = login(patient)
        assert [create(client).status_code for _ in range(3)] == [201, 201, 201]
        refused = create(client)
        assert refused.status_code == 429
        assert refused["Content-Type"] == "application/json"
        assert "too many uploads" in refused.json()["error"]
        assert Upload.objects.filter(owner=patient).count() == 3
        # Uploads already started go on: registering and sending files is not limited.
        upload = Upload.objects.filter(owner=patient).first()
        assert upload is not None
        assert client.get(f"/api/uploads/{upload.pk}/").status_code == 200
        client.logout()
        assert create(login(other_patient)).status_code == 201  # per user
    finally:
        for user in (patient, other_patient):
            ratelimit.reset("upload-create", user.pk, "UPLOAD_CREATE_RATE")


def test_rate_limits_can_be_switched_off(settings: Any, login: Any, patient: Any) -> None:
    settings.UPLOAD_CREATE_RATE = "0"
    client = login(patient)
    assert all(create(client).status_code == 201 for _ in range(8))
