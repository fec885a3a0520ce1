"""Error pages are the portal's own, in plain words, with a way back (DEBUG is off here,
as in production): not Django's bare "Not Found" / "403 Forbidden"."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db


def test_unknown_page_and_mistyped_share_link(client: Any) -> None:
    for path in ("/no-such-page/", "/s/mistyped-token/extra/"):
        response = client.get(path)
        assert response.status_code == 404
        page = response.content.decode()
        assert 'data-testid="error-page"' in page and "Page not found" in page
        assert 'data-testid="error-home"' in page
        assert "<h1>Not Found</h1>" not in page


def test_a_page_of_another_role_is_refused_in_words(login: Any, patient: Any) -> None:
    response = login(patient).get("/manage/users/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "You cannot open this page" in page and 'data-testid="error-home"' in page
    assert 'data-testid="nav-studies"' in page  # the page keeps the portal's navigation


def test_server_error_page_needs_no_context() -> None:
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong on our side" in page and "<h1>Server Error (500)</h1>" not in page
