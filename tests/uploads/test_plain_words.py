"""Counts read as words (issue 17: "1 series, 1 images", "1 radiologists", "1 studies"),
and every page names the portal's icon, so browsers do not ask for a missing
/favicon.ico on each page."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_one_image_one_radiologist_one_study(
    login: Any, patient: Any, admin_user: Any, radiologist: Any, imported_study: Any
) -> None:
    from uploads.models import Instance, Series

    series = Series.objects.filter(study=imported_study).first()
    assert series is not None
    Instance.objects.filter(series=series).exclude(
        pk=Instance.objects.filter(series=series).values("pk")[:1]
    ).delete()
    Series.objects.filter(study=imported_study).exclude(pk=series.pk).delete()
    page = login(patient).get("/studies/").content.decode()
    assert "1 series, 1 image<" in page and "1 images" not in page
    overview = login(admin_user).get("/manage/").content.decode()
    text = re.sub(r"<[^>]+>", "", overview)
    assert re.search(r"\b1\s+radiologist\b", text), text
    assert re.search(r"\b1\s+study\b", text), text
    assert not re.search(r"\b1\s+(radiologists|studies|users)\b", text), text


def test_pages_name_an_icon_that_is_served(client: Any, login: Any, patient: Any) -> None:
    for page in (client.get("/login/"), login(patient).get("/studies/"), client.get("/nope-404/")):
        match = re.search(r'<link rel="icon" href="([^"]+)"', page.content.decode())
        assert match, page.status_code
        assert match.group(1).endswith("/favicon.svg")
    assert finders.find("favicon.svg")


def test_audit_log_reads_as_sentences_not_codes_and_json(
    client: Any, login: Any, patient: Any, admin_user: Any
) -> None:
    """Issue 17: the admin's audit page showed event codes (``login.failed``) and the raw
    JSON of each event's details."""
    client.post("/login/", {"email": patient.email, "password": "wrong password"})
    admin = login(admin_user)
    admin.post(f"/manage/users/{patient.pk}/", {"role": "patient", "is_active": ""})
    from portal.audit.models import AuditEvent

    assert {"login.failed", "account.updated"} <= set(
        AuditEvent.objects.values_list("action", flat=True)
    )
    page = admin.get("/manage/audit/").content.decode()
    cells = " ".join(re.findall(r'<tr data-testid="audit-row"[^>]*>(.*?)</tr>', page, re.S))
    text = html.unescape(re.sub(r"<[^>]+>", " ", cells))
    assert "Sign-in failed" in text and "Changed a user's role or status" in text
    assert "active no" in text and "role patient" in text
    assert "login.failed" not in text and "account.updated" not in text
    assert "{" not in text and '"' not in text and "accounts.user" not in text
    # The codes stay available to tools and filters.
    assert 'data-action="login.failed"' in page
    filtered = admin.get("/manage/audit/?action=account.").content.decode()
    assert 'data-action="account.updated"' in filtered
    assert 'data-action="login.failed"' not in filtered
