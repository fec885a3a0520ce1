"""Web security: CSRF on every route, security headers on pages, production cookies and
HSTS. (``check --deploy`` is in tests/test_settings.py; the per-role permission matrix in
tests/test_permissions.py.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from portal.middleware import CSP
from tests.reports.factories import make_study
from tests.test_permissions import MATRIX, kwargs_for
from tests.test_settings import run_settings

pytestmark = pytest.mark.django_db

UNSAFE = ("post", "put", "patch", "delete")
#: Routes whose view takes a POST/PUT (the matrix lists the main method of each route;
#: these pages show a form on GET and take it on POST).
FORM_ROUTES = {"login", "signup", "password_reset", "password_reset_confirm", "accept-invite",
               "users"}  # fmt: skip
UNSAFE_ROUTES = sorted(
    name for name, (_, method, _) in MATRIX.items() if method in UNSAFE or name in FORM_ROUTES
)


@pytest.fixture
def users(patient: Any, radiologist: Any, admin_user: Any, other_patient: Any) -> dict[str, Any]:
    study = make_study(other_patient)  # a request about it waits in the pool
    return {"patient": patient, "radiologist": radiologist, "admin": admin_user,
            "target": other_patient, "study": study}  # fmt: skip


def is_csrf_failure(response: Any) -> bool:
    return response.status_code == 403 and b"CSRF" in response.content


@pytest.mark.parametrize("name", UNSAFE_ROUTES)
def test_unsafe_route_refuses_requests_without_csrf_token(name: str, users: dict[str, Any]) -> None:
    """Logged in (so the session cookie would be sent by a cross-site form) and not."""
    kind, _method, _ = MATRIX[name]
    url = reverse(name, kwargs=kwargs_for(kind, users))
    for user in (None, users["patient"], users["radiologist"], users["admin"]):
        client = Client(enforce_csrf_checks=True)
        if user is not None:
            client.force_login(user)
        for verb in UNSAFE:
            response = getattr(client, verb)(url, {}, content_type="application/json")
            assert is_csrf_failure(response), (name, verb, user, response.status_code)


@pytest.mark.parametrize("name", UNSAFE_ROUTES)
def test_same_route_with_a_token_passes_the_csrf_check(name: str, users: dict[str, Any]) -> None:
    """The control: with the token the request reaches the view (whatever it answers)."""
    kind, method, _ = MATRIX[name]
    url = reverse(name, kwargs=kwargs_for(kind, users))
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["admin"])
    client.get("/studies/")  # a page with a form sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    verb = "put" if method == "put" else "post"
    response = getattr(client, verb)(url, {}, content_type="application/json",
                                     headers={"X-CSRFToken": token})  # fmt: skip
    assert not is_csrf_failure(response), name


def test_every_route_is_csrf_protected_even_safe_ones(users: dict[str, Any]) -> None:
    """No view is csrf_exempt: a POST to any route without a token is refused."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["admin"])
    for name, (kind, _, _) in MATRIX.items():
        url = reverse(name, kwargs=kwargs_for(kind, users))
        assert is_csrf_failure(client.post(url)), name


PAGES = ["/login/", "/signup/", "/studies/", "/upload/", "/api/uploads/config/", "/no-such-page/"]


def test_security_headers_on_pages(login: Any, patient: Any) -> None:
    anonymous = Client()
    client = login(patient)
    for path in PAGES:
        for who in (anonymous, client):
            response = who.get(path)
            headers = response.headers
            assert headers["Content-Security-Policy"] == CSP, path
            assert "frame-ancestors 'none'" in CSP and "object-src 'none'" in CSP
            assert "unsafe-inline" not in CSP and "unsafe-eval" not in CSP
            assert headers["X-Frame-Options"] == "DENY", path
            assert headers["X-Content-Type-Options"] == "nosniff", path
            assert headers["Referrer-Policy"] == "same-origin", path
            assert headers["Cross-Origin-Opener-Policy"] == "same-origin", path


def test_security_headers_on_images_and_json(login: Any, patient: Any, imported_study: Any) -> None:
    client = login(patient)
    instance = imported_study.series.first().instances.first()
    for path in [f"/api/instances/{instance.pk}/slice.png",
                 f"/api/studies/{imported_study.pk}/manifest/"]:  # fmt: skip
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"


PRODUCTION_CHECK = """
import json
from django.conf import settings as s
from django.test import Client
c = Client()
r = c.get('/login/', secure=True, HTTP_HOST='portal.example.org')
plain = c.get('/login/', HTTP_HOST='portal.example.org')
cookie = r.cookies.get('csrftoken')
print(json.dumps({
    'DEBUG': s.DEBUG,
    'SESSION_COOKIE_SECURE': s.SESSION_COOKIE_SECURE,
    'CSRF_COOKIE_SECURE': s.CSRF_COOKIE_SECURE,
    'SESSION_COOKIE_HTTPONLY': s.SESSION_COOKIE_HTTPONLY,
    'SESSION_COOKIE_SAMESITE': s.SESSION_COOKIE_SAMESITE,
    'SECURE_SSL_REDIRECT': s.SECURE_SSL_REDIRECT,
    'SECURE_HSTS_SECONDS': s.SECURE_HSTS_SECONDS,
    'SECURE_HSTS_INCLUDE_SUBDOMAINS': s.SECURE_HSTS_INCLUDE_SUBDOMAINS,
    'status': r.status_code,
    'hsts': r.headers.get('Strict-Transport-Security', ''),
    'cookie_secure': bool(cookie and cookie['secure']),
    'plain_status': plain.status_code,
    'plain_location': plain.headers.get('Location', ''),
}))
"""


def test_production_settings_secure_cookies_hsts_and_https_redirect(tmp_path: Path) -> None:
    env = {
        "DATA_DIR": str(tmp_path),
        "SECRET_KEY": "x" * 20 + "-production-secret-with-enough-entropy-0123456789",
        "DEID_SECRET": "another-long-secret-for-pseudonyms-0123456789",
        "SITE_URL": "https://portal.example.org",
        "ALLOWED_HOSTS": "portal.example.org",
        "DEBUG": "false",
    }
    result = run_settings(env, "shell", "--no-imports", "-c", PRODUCTION_CHECK)
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["DEBUG"] is False
    assert got["SESSION_COOKIE_SECURE"] and got["CSRF_COOKIE_SECURE"]
    assert got["SESSION_COOKIE_HTTPONLY"] and got["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert got["SECURE_SSL_REDIRECT"]
    assert got["SECURE_HSTS_SECONDS"] >= 31536000 and got["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    # What a browser gets: HSTS over HTTPS, a Secure CSRF cookie, HTTP redirected.
    assert got["status"] == 200
    assert got["hsts"].startswith("max-age=31536000") and "includeSubDomains" in got["hsts"]
    assert got["cookie_secure"]
    assert got["plain_status"] == 301 and got["plain_location"].startswith("https://")
