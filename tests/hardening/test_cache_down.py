"""With the cache (Redis) unreachable, signed-in pages, login and slices still work:
sessions fall back to the database, throttling fails open, slices are rendered uncached."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import caches

pytestmark = pytest.mark.django_db

DOWN = {
    "default": {
        "BACKEND": "portal.cache.PortalRedisCache",
        # Nothing listens on port 1: every cache call fails at once.
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


@pytest.fixture
def cache_down(settings: Any) -> None:
    settings.CACHES = DOWN  # Django's setting_changed handler rebuilds the cache handlers
    with pytest.raises(Exception):  # noqa: B017 - proves the cache really is down
        caches["default"].get("probe")


def test_login_and_pages_work_without_the_cache(
    client: Any, cache_down: None, patient: Any
) -> None:
    from tests.conftest import PASSWORD

    response = client.post("/login/", {"email": patient.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/studies/").status_code == 200
    assert client.get("/api/uploads/config/").status_code == 200


def test_slices_render_without_the_cache(
    login: Any, patient: Any, imported_study: Any, cache_down: None
) -> None:
    from uploads.models import Instance

    instance = Instance.objects.filter(series__study=imported_study).first()
    assert instance is not None
    response = login(patient).get(f"/api/instances/{instance.pk}/slice.png?wc=40&ww=400")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
