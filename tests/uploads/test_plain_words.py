"""Counts read as words (issue 17: "1 series, 1 images", "1 radiologists", "1 studies"),
and every page names the portal's icon, so browsers do not ask for a missing
/favicon.ico on each page."""

from __future__ import annotations

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
