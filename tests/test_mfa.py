"""Two-factor authentication (issue 21 B): enrolment forced for staff, a code at each
login, wrong codes refused and throttled, replays refused, recovery codes once, the Django
admin behind the same second factor, audit events. Sessions: tests/test_sessions.py."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
import pytest
from django.core.cache import cache
from django.test import Client

from portal.accounts import mfa, throttle
from portal.accounts.models import RecoveryCode, TOTPDevice
from portal.audit.models import AuditEvent
from tests.conftest import PASSWORD, enrol_totp, make_user, next_totp, password_login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttle(radiologist: Any, patient: Any) -> None:
    for user in (radiologist, patient):
        throttle.reset(user.email)
        throttle.reset(f"mfa:{user.pk}")
    cache.delete("login-fail:ip:127.0.0.1")


def post_password(client: Client, user: Any, next: str = "") -> Any:
    url = "/login/" + (f"?next={next}" if next else "")
    return client.post(url, {"email": user.email, "password": PASSWORD})


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_radiologist_must_enrol_then_needs_a_code_at_each_login(
    client: Client, radiologist: Any
) -> None:
    response = post_password(client, radiologist, next="/worklist/")
    assert response.status_code == 302 and response.url == "/login/two-factor/"
    assert not signed_in(client)  # the password alone gives no session
    assert client.get("/worklist/").url.startswith("/login/")
    page = client.get("/login/two-factor/").content.decode()
    assert 'data-testid="mfa-qr"' in page and "<svg" in page
    secret = re.search(r'data-testid="mfa-secret">([A-Z2-7 ]+)<', page)
    assert secret
    key = secret.group(1).replace(" ", "")
    # The key is stored encrypted, never as it is.
    device = TOTPDevice.objects.get(user=radiologist)
    assert key not in device.secret_encrypted and device.confirmed_at is None
    assert client.post("/login/two-factor/", {"code": "000000"}).status_code == 200
    assert not signed_in(client)
    done = client.post("/login/two-factor/", {"code": pyotp.TOTP(key).now()})
    assert done.status_code == 200 and signed_in(client)
    codes = re.findall(r'data-testid="recovery-code">([a-z0-9-]+)<', done.content.decode())
    assert len(codes) == 10 and len(set(codes)) == 10
    assert 'href="/worklist/"' in done.content.decode()  # continue to where they were going
    assert RecoveryCode.objects.filter(user=radiologist).count() == 10
    assert not RecoveryCode.objects.filter(code_hash__in=codes).exists()  # hashed
    login = AuditEvent.objects.filter(action="login").latest("id")
    assert login.detail == {"method": "password", "mfa": "totp"}
    assert AuditEvent.objects.filter(action="mfa.enrolled", actor=radiologist.email).exists()

    client.post("/logout/")
    response = post_password(client, radiologist)
    assert response.url == "/login/code/" and not signed_in(client)
    wrong = client.post("/login/code/", {"code": "123456"})
    assert wrong.status_code == 200 and b"not right" in wrong.content and not signed_in(client)
    right = client.post("/login/code/", {"code": next_totp(radiologist)})
    assert right.status_code == 302 and right.url == "/" and signed_in(client)


def test_a_code_works_once(client: Client, radiologist: Any) -> None:
    secret = enrol_totp(radiologist)
    step = int(time.time() // 30)
    code = pyotp.TOTP(secret).generate_otp(step)
    post_password(client, radiologist)
    assert client.post("/login/code/", {"code": code}).status_code == 302
    other = Client()
    post_password(other, radiologist)
    replay = other.post("/login/code/", {"code": code})
    assert replay.status_code == 200 and "_auth_user_id" not in other.session
    # A code from too far away in time is refused too.
    far = pyotp.TOTP(secret).generate_otp(step + 3)
    assert other.post("/login/code/", {"code": far}).status_code == 200


def test_wrong_codes_are_throttled(client: Client, radiologist: Any, settings: Any) -> None:
    enrol_totp(radiologist)
    post_password(client, radiologist)
    for n in range(settings.LOGIN_MAX_FAILURES):
        assert client.post("/login/code/", {"code": f"00000{n}"}).status_code == 200
    locked = client.post("/login/code/", {"code": next_totp(radiologist)})
    assert locked.status_code == 429 and b"Too many" in locked.content
    assert not signed_in(client)
    failed = AuditEvent.objects.filter(action="mfa.failed", actor=radiologist.email)
    assert failed.count() == settings.LOGIN_MAX_FAILURES + 1
    assert failed.filter(detail__locked=True).count() == 1
    throttle.reset(f"mfa:{radiologist.pk}")
    assert client.post("/login/code/", {"code": next_totp(radiologist)}).status_code == 302


def test_a_recovery_code_works_once(client: Client, radiologist: Any) -> None:
    enrol_totp(radiologist)
    codes = mfa.new_recovery_codes(radiologist)
    post_password(client, radiologist)
    response = client.post("/login/code/", {"code": codes[0].upper().replace("-", " ")})
    assert response.status_code == 302 and signed_in(client)
    event = AuditEvent.objects.get(action="mfa.recovery_used")
    assert event.detail == {"left": 9}
    assert AuditEvent.objects.filter(action="login").latest("id").detail["mfa"] == "recovery"
    client.post("/logout/")
    post_password(client, radiologist)
    again = client.post("/login/code/", {"code": codes[0]})
    assert again.status_code == 200 and not signed_in(client)
    assert client.post("/login/code/", {"code": codes[1]}).status_code == 302


def test_a_pending_sign_in_expires(client: Client, radiologist: Any, settings: Any) -> None:
    enrol_totp(radiologist)
    post_password(client, radiologist)
    settings.MFA_PENDING_SECONDS = 0
    time.sleep(0.01)
    response = client.post("/login/code/", {"code": next_totp(radiologist)})
    assert response.status_code == 302 and response.url == "/login/"
    assert not signed_in(client)


def test_patients_sign_in_without_a_second_factor_unless_they_turn_it_on(
    client: Client, patient: Any
) -> None:
    response = post_password(client, patient)
    assert response.status_code == 302 and response.url == "/" and signed_in(client)
    assert AuditEvent.objects.filter(action="login").latest("id").detail == {
        "method": "password",
        "mfa": "none",
    }
    page = client.get("/account/security/").content.decode()
    assert 'data-testid="mfa-off"' in page
    enrol = client.get("/login/two-factor/").content.decode()
    key = re.search(r'data-testid="mfa-secret">([A-Z2-7 ]+)<', enrol).group(1)
    done = client.post("/login/two-factor/", {"code": pyotp.TOTP(key.replace(" ", "")).now()})
    assert done.status_code == 200 and b"recovery-codes" in done.content
    assert 'data-testid="mfa-on"' in client.get("/account/security/").content.decode()
    client.post("/logout/")
    assert post_password(client, patient).url == "/login/code/"
    assert client.post("/login/code/", {"code": next_totp(patient)}).status_code == 302
    # Patients may turn it off again (staff may not: 403 in tests/test_permissions.py).
    assert client.post("/account/security/disable/").url == "/account/security/"
    assert not mfa.has_device(patient)
    assert AuditEvent.objects.filter(action="mfa.disabled", actor=patient.email).exists()


def test_new_recovery_codes_replace_the_old_ones(client: Client, radiologist: Any) -> None:
    enrol_totp(radiologist)
    old = mfa.new_recovery_codes(radiologist)
    password_login(client, radiologist)
    page = client.post("/account/security/codes/").content.decode()
    new = re.findall(r'data-testid="recovery-code">([a-z0-9-]+)<', page)
    assert len(new) == 10 and not set(new) & set(old)
    assert not mfa.use_recovery_code(radiologist, old[0])
    assert mfa.use_recovery_code(radiologist, new[0])
    assert AuditEvent.objects.filter(action="mfa.recovery_regenerated").count() == 1


def test_the_admin_site_needs_the_second_factor(admin_user: Any) -> None:
    client = Client()
    throttle.reset(admin_user.email)
    enrol_totp(admin_user)
    login_url = client.get("/admin/", follow=True).redirect_chain[-1][0]
    response = client.post(login_url, {"email": admin_user.email, "password": PASSWORD})
    assert response.url == "/login/code/"
    assert client.get("/admin/").status_code == 302  # the password alone is not enough
    assert client.get("/admin/accounts/user/").status_code == 302
    done = client.post("/login/code/", {"code": next_totp(admin_user)})
    assert done.status_code == 302 and done.url == "/admin/"
    assert client.get("/admin/accounts/user/").status_code == 200


def test_an_admin_without_2fa_enrols_before_reaching_the_admin_site(admin_user: Any) -> None:
    client = Client()
    throttle.reset(admin_user.email)
    login_url = client.get("/admin/", follow=True).redirect_chain[-1][0]
    response = client.post(login_url, {"email": admin_user.email, "password": PASSWORD})
    assert response.url == "/login/two-factor/"
    assert client.get("/admin/").status_code == 302
    assert client.get("/login/code/").url == "/login/two-factor/"


def test_an_admin_resets_a_users_2fa(login: Any, admin_user: Any, radiologist: Any) -> None:
    enrol_totp(radiologist)
    theirs = Client()
    password_login(theirs, radiologist)
    client = login(admin_user)
    response = client.post(f"/manage/users/{radiologist.pk}/reset-2fa/")
    assert response.status_code == 302 and response.url == "/manage/users/"
    assert not mfa.has_device(radiologist) and not RecoveryCode.objects.exists()
    event = AuditEvent.objects.get(action="mfa.reset")
    assert event.object_id == str(radiologist.pk) and event.detail == {"sessions_ended": 1}
    assert theirs.get("/worklist/").url.startswith("/login/")  # their session ended
    assert post_password(theirs, radiologist).url == "/login/two-factor/"  # enrol again


def test_no_secret_or_code_in_the_audit_log(client: Client, radiologist: Any) -> None:
    secret = enrol_totp(radiologist)
    codes = mfa.new_recovery_codes(radiologist)
    post_password(client, radiologist)
    client.post("/login/code/", {"code": "999999"})
    client.post("/login/code/", {"code": codes[0]})
    text = str(list(AuditEvent.objects.values_list("detail", flat=True)))
    assert secret not in text and codes[0] not in text and "999999" not in text


def test_admins_and_radiologists_are_the_default_roles(settings: Any) -> None:
    assert settings.MFA_REQUIRED_ROLES == ["radiologist", "admin"]
    user = make_user("frank@example.org", "patient")
    assert not mfa.required_for(user)
    settings.MFA_REQUIRED_ROLES = ["radiologist", "admin", "patient"]
    assert mfa.required_for(user)


def test_only_the_sign_in_module_calls_login() -> None:
    """``django.contrib.auth.login`` is called in portal/accounts/signin.py only: every way
    in passes the second factor there (the test client's force_login aside)."""
    import ast
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    callers = set()
    for package in ("portal", "uploads", "reports"):
        for path in (repo / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.ImportFrom)
                    and node.module == "django.contrib.auth"
                    and any(alias.name == "login" for alias in node.names)
                ):
                    callers.add(path.relative_to(repo).as_posix())
    assert callers == {"portal/accounts/signin.py"}
