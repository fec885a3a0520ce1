"""OpenID Connect sign-in against a real provider: oidc-provider (npm, OpenID Certified),
started by ``tests/oidc/provider.mjs`` on a free loopback port for this module.

Every sign-in here is the whole flow: the portal's button (GET /oidc/login/) sends the
browser to the provider's authorization endpoint; ``requests`` plays the browser at the
provider (its login form, its redirects); the provider's redirect comes back to the
portal's callback through Django's test client; the portal exchanges the code (with its
PKCE verifier; the provider requires PKCE) and checks the ID token with the provider's
published keys. Tampered and expired tokens are made by the provider itself (its test
controls alter the token endpoint's ``id_token`` after signing, or run its clock behind).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from portal.accounts.models import ExternalIdentity, Role, User
from portal.audit.models import AuditEvent
from tests.conftest import PASSWORD, enrol_totp, next_totp

REPO = Path(__file__).resolve().parent.parent
PROVIDER_SCRIPT = REPO / "tests" / "oidc" / "provider.mjs"
CALLBACK = "http://testserver/oidc/callback/"
SECRET = "test-client-secret"

ACCOUNTS = {
    "newpat": {"sub": "sub-newpat", "email": "New.Patient@example.org", "email_verified": True,
               "name": "New Patient"},
    "alice": {"sub": "sub-alice", "email": "alice@example.org", "email_verified": True},
    "alice-unverified": {"sub": "sub-alice-2", "email": "alice@example.org",
                         "email_verified": False},
    "alice-admin": {"sub": "sub-alice-3", "email": "alice@example.org", "email_verified": True,
                    "groups": ["portal-admins"]},
    "alice-again": {"sub": "sub-alice-4", "email": "alice@example.org", "email_verified": True},
    "rad": {"sub": "sub-rad", "email": "rad@example.org", "email_verified": True,
            "groups": ["everyone", "radiology"]},
    "boss": {"sub": "sub-boss", "email": "boss@example.org", "email_verified": True,
             "groups": ["radiology", "portal-admins"]},
    "walkin": {"sub": "sub-walkin", "email": "walkin@example.org", "email_verified": True,
               "groups": ["radiology"]},
    "ex-rad": {"sub": "sub-ex-rad", "email": "charlie@example.org", "email_verified": True,
               "groups": ["everyone"]},
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Provider:
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def control(self, **values: Any) -> None:
        requests.post(f"{self.issuer}/test-control", json=values, timeout=5).raise_for_status()


@contextmanager
def run_provider(folder: Path, redirect_uris: list[str]) -> Iterator[Provider]:
    """``tests/oidc/provider.mjs`` on a free loopback port, until the block ends."""
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("node and node_modules/oidc-provider are needed (make install)")
    client = {"client_id": "portal", "client_secret": SECRET, "redirect_uris": redirect_uris}
    config = {"clients": [client], "accounts": ACCOUNTS, "idTokenTTL": 300}
    (folder / "provider.json").write_text(json.dumps(config))
    port = free_port()
    log_path = folder / "provider.log"
    command = [node, str(PROVIDER_SCRIPT), "--port", str(port),
               "--config", str(folder / "provider.json")]  # fmt: skip
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(f"{issuer}/.well-known/openid-configuration", timeout=1)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the provider did not start: {log_path.read_text()}")
                time.sleep(0.1)
        yield Provider(issuer)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def oidc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    with run_provider(tmp_path_factory.mktemp("oidc"), [CALLBACK]) as server:
        yield server


def configure(settings: Any, server: Provider) -> None:
    settings.OIDC_ISSUER = server.issuer
    settings.OIDC_CLIENT_ID = "portal"
    settings.OIDC_CLIENT_SECRET = SECRET
    settings.OIDC_PROVIDER_NAME = "Hospital sign-in"
    settings.OIDC_SCOPES = "openid email profile groups"
    settings.OIDC_ROLE_CLAIM = "groups"
    settings.OIDC_ADMIN_VALUES = ["portal-admins"]
    settings.OIDC_RADIOLOGIST_VALUES = ["radiology"]
    settings.OIDC_SIGNUP = "patients"


@pytest.fixture
def provider(oidc_server: Provider, settings: Any, db: None) -> Iterator[Provider]:
    configure(settings, oidc_server)
    yield oidc_server
    oidc_server.control(tamper=None, clockOffset=0)


def sign_in(client: Any, provider: Provider, login: str, next_url: str = "") -> Any:
    """The whole flow for the provider account ``login``; the callback's response."""
    response = client.get("/oidc/login/", {"next": next_url} if next_url else {})
    assert response.status_code == 302, response.status_code
    url = response["Location"]
    assert url.startswith(f"{provider.issuer}/auth?") and "code_challenge=" in url
    browser = requests.Session()
    for _ in range(10):
        if url.startswith(CALLBACK):
            parts = urlsplit(url)
            return client.get(parts.path, dict(re.findall(r"([^=&]+)=([^&]*)", parts.query)))
        answer = browser.get(url, allow_redirects=False, timeout=10)
        if answer.status_code == 200:  # the provider's login form
            action = re.search(r'action="([^"]+)"', answer.text)
            assert action, answer.text
            answer = browser.post(urljoin(url, action.group(1)), data={"login": login},
                                  allow_redirects=False, timeout=10)  # fmt: skip
        assert answer.is_redirect, (answer.status_code, answer.text[:300])
        url = urljoin(url, answer.headers["Location"])
    raise AssertionError("no redirect back to the portal")


def signed_in_user(client: Any) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def failures() -> list[str]:
    return [
        event.detail["reason"]
        for event in AuditEvent.objects.filter(action="login.failed").order_by("id")
    ]


def test_off_without_an_issuer(client: Any, settings: Any, db: None) -> None:
    settings.OIDC_ISSUER = ""
    page = client.get("/login/").content.decode()
    assert 'data-testid="login-oidc"' not in page
    assert client.get("/oidc/login/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404


def test_new_patient_signs_up_and_is_matched_by_subject_later(
    client: Any, provider: Provider
) -> None:
    page = client.get("/login/").content.decode()
    assert 'data-testid="login-oidc"' in page and "Sign in with Hospital sign-in" in page

    response = sign_in(client, provider, "newpat", next_url="/studies/")
    assert response.status_code == 302 and response.url == "/studies/"
    user = signed_in_user(client)
    assert user is not None and user.email == "new.patient@example.org"
    assert user.role == Role.PATIENT and user.email_verified and not user.has_usable_password()
    assert user.name == "New Patient"
    identity = ExternalIdentity.objects.get(user=user)
    assert (identity.issuer, identity.subject) == (provider.issuer, "sub-newpat")
    login = AuditEvent.objects.get(action="login", user=user)
    assert login.detail == {"method": "oidc", "mfa": "none"}
    assert AuditEvent.objects.filter(action="account.signup", user=user).exists()

    # Later sign-ins match by (issuer, subject), not by email: the portal address changed.
    client.post("/logout/")
    User.objects.filter(pk=user.pk).update(email="renamed@example.org")
    response = sign_in(client, provider, "newpat")
    assert response.status_code == 302 and response.url == "/"
    assert signed_in_user(client) == user
    assert User.objects.count() == 1 and ExternalIdentity.objects.count() == 1
    # A foreign next= is not followed.
    client.post("/logout/")
    assert sign_in(client, provider, "newpat", next_url="https://evil.example/").url == "/"


def test_signup_closed_and_no_session(client: Any, provider: Provider, settings: Any) -> None:
    settings.OIDC_SIGNUP = "none"
    response = sign_in(client, provider, "newpat")
    assert response.status_code == 403
    page = response.content.decode()
    assert 'data-testid="oidc-error"' in page and "Ask an administrator for an invitation" in page
    assert signed_in_user(client) is None and not User.objects.exists()
    assert failures() == ["signup_closed"]


def test_linking_needs_an_email_the_provider_verified(
    client: Any, provider: Provider, patient: User
) -> None:
    response = sign_in(client, provider, "alice-unverified")
    assert response.status_code == 403 and signed_in_user(client) is None
    assert b"did not confirm your email address" in response.content
    assert not ExternalIdentity.objects.exists() and User.objects.count() == 1
    assert failures() == ["email_unverified"]

    response = sign_in(client, provider, "alice")
    assert response.status_code == 302 and signed_in_user(client) == patient
    assert ExternalIdentity.objects.get(subject="sub-alice").user == patient
    patient.refresh_from_db()
    assert patient.role == Role.PATIENT and patient.check_password(PASSWORD)  # kept: verified
    assert AuditEvent.objects.filter(action="account.linked", user=patient).count() == 1


def test_a_second_subject_with_the_same_email_is_not_linked(
    client: Any, provider: Provider, patient: User
) -> None:
    """The provider gave the address to another account (a reused mailbox): that one does
    not get into the portal account the first one linked."""
    assert sign_in(client, provider, "alice").status_code == 302
    client.post("/logout/")
    response = sign_in(client, provider, "alice-again")
    assert response.status_code == 403 and signed_in_user(client) is None
    assert b"already linked to another Hospital sign-in account" in response.content
    assert failures() == ["identity_conflict"]
    assert list(ExternalIdentity.objects.values_list("subject", flat=True)) == ["sub-alice"]


def test_linking_an_unconfirmed_sign_up_drops_its_password(client: Any, provider: Provider) -> None:
    """Someone signed up with Alice's address and never confirmed it: the account is
    Alice's once her provider vouches for the address, and the stranger's password is gone."""
    squatted = User.objects.create_user("alice@example.org", PASSWORD, role=Role.PATIENT)
    assert sign_in(client, provider, "alice").status_code == 302
    squatted.refresh_from_db()
    assert signed_in_user(client) == squatted
    assert squatted.email_verified and not squatted.has_usable_password()


def test_staff_claim_signs_in_an_invited_account_with_the_claimed_role(
    client: Any, provider: Provider
) -> None:
    # Invited by an administrator (no password, email not confirmed yet).
    rad = User.objects.create_user("rad@example.org", None, role=Role.RADIOLOGIST)
    boss = User.objects.create_user("boss@example.org", None, role=Role.RADIOLOGIST)

    # Staff need their second factor after the provider too (MFA_REQUIRED_ROLES): a
    # provider sign-in is the first factor only.
    response = sign_in(client, provider, "rad")
    assert response.status_code == 302 and response.url == "/login/two-factor/"
    assert signed_in_user(client) is None
    enrol_totp(rad)
    client.post("/logout/")
    response = sign_in(client, provider, "rad")
    assert response.status_code == 302 and response.url == "/login/code/"
    assert signed_in_user(client) is None
    assert client.post(response.url, {"code": next_totp(rad)}).status_code == 302
    assert signed_in_user(client) == rad
    rad.refresh_from_db()
    assert rad.role == Role.RADIOLOGIST and rad.email_verified
    assert client.get("/worklist/").status_code == 200
    assert AuditEvent.objects.get(action="login", user=rad).detail == {
        "method": "oidc",
        "mfa": "totp",
    }

    client.post("/logout/")
    enrol_totp(boss)
    response = sign_in(client, provider, "boss")
    assert response.status_code == 302 and response.url == "/login/code/"
    client.post(response.url, {"code": next_totp(boss)})
    boss.refresh_from_db()
    assert signed_in_user(client) == boss and boss.role == Role.ADMIN and boss.is_staff
    change = AuditEvent.objects.get(action="account.role_from_oidc")
    assert change.detail == {"old": "radiologist", "new": "admin"}
    assert client.get("/manage/users/").status_code == 200


def test_staff_claim_without_an_invitation_is_refused(client: Any, provider: Provider) -> None:
    response = sign_in(client, provider, "walkin")
    assert (
        response.status_code == 403 and b"Staff accounts are by invitation only" in response.content
    )
    assert signed_in_user(client) is None and not User.objects.exists()
    assert failures() == ["staff_not_invited"]


def test_claim_never_makes_a_patient_staff(client: Any, provider: Provider, patient: User) -> None:
    response = sign_in(client, provider, "alice-admin")
    assert response.status_code == 403 and signed_in_user(client) is None
    patient.refresh_from_db()
    assert patient.role == Role.PATIENT and not ExternalIdentity.objects.exists()
    assert failures() == ["staff_claim_for_patient"]


def test_staff_account_without_the_claim_any_more_is_refused(
    client: Any, provider: Provider, radiologist: User
) -> None:
    response = sign_in(client, provider, "ex-rad")
    assert response.status_code == 403 and signed_in_user(client) is None
    radiologist.refresh_from_db()
    assert radiologist.role == Role.RADIOLOGIST  # not demoted: an administrator decides
    assert failures() == ["staff_claim_missing"]


def test_deactivated_account_is_refused(client: Any, provider: Provider, patient: User) -> None:
    assert sign_in(client, provider, "alice").status_code == 302
    client.post("/logout/")
    User.objects.filter(pk=patient.pk).update(is_active=False)
    response = sign_in(client, provider, "alice")
    assert response.status_code == 403 and b"deactivated" in response.content
    assert signed_in_user(client) is None
    failed = AuditEvent.objects.get(action="login.failed")
    assert failed.user == patient and failed.detail == {"method": "oidc", "reason": "inactive"}


@pytest.mark.parametrize(
    ("control", "reason"),
    [
        ({"tamper": "signature"}, "id_token_invalid"),
        ({"tamper": "claim"}, "id_token_invalid"),
        ({"clockOffset": -600}, "id_token_expired"),
    ],
    ids=["flipped-signature-byte", "altered-claim", "expired"],
)
def test_tampered_or_expired_id_token_is_refused(
    client: Any, provider: Provider, patient: User, control: dict[str, Any], reason: str
) -> None:
    provider.control(**control)
    response = sign_in(client, provider, "alice")
    assert response.status_code == 400
    assert b"could not be completed" in response.content
    assert signed_in_user(client) is None and not ExternalIdentity.objects.exists()
    assert failures() == [reason]
    assert not AuditEvent.objects.filter(action="login").exists()
    # The same flow without the fault signs in: the refusal was the token's.
    provider.control(tamper=None, clockOffset=0)
    assert sign_in(client, provider, "alice").status_code == 302
    assert signed_in_user(client) == patient


def test_callback_without_a_flow_of_this_session_is_refused(
    client: Any, provider: Provider
) -> None:
    response = client.get("/oidc/callback/", {"code": "abc", "state": "forged"})
    assert response.status_code == 400 and signed_in_user(client) is None
    response = client.get("/oidc/callback/", {"error": "access_denied", "state": "x"})
    assert response.status_code == 400 and b"was cancelled" in response.content
    assert failures() == ["state_mismatch", "provider_error"]
    for event in AuditEvent.objects.all():
        assert "abc" not in json.dumps(event.detail)


def test_password_login_goes_through_complete_sign_in(client: Any, patient: User) -> None:
    response = client.post("/login/?next=/studies/", {"email": patient.email, "password": PASSWORD})
    assert response.status_code == 302 and response.url == "/studies/"
    assert AuditEvent.objects.get(action="login").detail == {"method": "password", "mfa": "none"}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_sign_in_in_chromium(page: Any, live_server: Any, settings: Any, tmp_path: Path) -> None:
    """The button in a real browser, with the portal's CSP and cookies: an invited
    radiologist signs in at the provider and lands on the page they asked for."""
    with run_provider(tmp_path, [f"{live_server.url}/oidc/callback/"]) as server:
        configure(settings, server)
        rad = User.objects.create_user("rad@example.org", None, role=Role.RADIOLOGIST)
        enrol_totp(rad)
        page.goto("/login/?next=/worklist/")
        page.get_by_test_id("login-oidc").click()
        page.wait_for_url(f"{server.issuer}/interaction/**")
        page.locator("input[name=login]").fill("rad")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server.url}/login/code/")  # then the second factor
        page.get_by_test_id("mfa-code").fill(next_totp(rad))
        page.get_by_test_id("mfa-submit").click()
        page.wait_for_url(f"{live_server.url}/worklist/")
        assert page.get_by_test_id("nav-logout").count() == 1
        event = AuditEvent.objects.get(action="login")
        assert event.actor == "rad@example.org"
        assert event.detail == {"method": "oidc", "mfa": "totp"}

        page.get_by_test_id("nav-logout").click()
        page.context.clear_cookies()  # the provider's session too: another person
        page.goto("/login/")
        page.get_by_test_id("login-oidc").click()
        page.locator("input[name=login]").fill("walkin")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server.url}/oidc/callback/**")
        assert (
            "Staff accounts are by invitation only"
            in page.get_by_test_id("oidc-error").inner_text()
        )


def test_links_are_listed_on_the_user_in_the_django_admin(
    client: Any, provider: Provider, patient: User, admin_user: User
) -> None:
    assert sign_in(client, provider, "alice").status_code == 302
    client.force_login(admin_user)
    page = client.get(f"/admin/accounts/user/{patient.pk}/change/")
    assert page.status_code == 200 and b"sub-alice" in page.content


def test_provider_unreachable_or_naming_another_issuer(
    client: Any, provider: Provider, settings: Any
) -> None:
    settings.OIDC_ISSUER = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    response = client.get("/oidc/login/")
    assert response.status_code == 502 and b"could not be reached" in response.content
    # The same provider under another name: its discovery document names 127.0.0.1.
    settings.OIDC_ISSUER = provider.issuer.replace("127.0.0.1", "localhost")
    response = client.get("/oidc/login/")
    assert response.status_code == 502 and signed_in_user(client) is None
    assert failures() == ["provider_unreachable", "issuer_mismatch"]


def test_settings_refuse_a_half_configuration(tmp_path: Path) -> None:
    from tests.test_settings import run_settings

    base = {"DATA_DIR": str(tmp_path)}
    bad_signup = run_settings({**base, "OIDC_SIGNUP": "everyone"}, "check")
    assert bad_signup.returncode != 0 and "OIDC_SIGNUP must be" in bad_signup.stderr
    no_client = run_settings({**base, "OIDC_ISSUER": "https://idp.example"}, "check")
    assert no_client.returncode != 0 and "OIDC_CLIENT_ID is needed" in no_client.stderr
    fine = run_settings(
        {**base, "OIDC_ISSUER": "https://idp.example", "OIDC_CLIENT_ID": "x"}, "check"
    )
    assert fine.returncode == 0, fine.stderr
