"""Signed report versions are immutable in the model layer; templates are chosen by data."""

from __future__ import annotations

from typing import Any

import pytest

from reports import report_templates
from reports.models import ReportVersion, SignedReportError, VersionStatus
from tests.reports.factories import IMPRESSION, sign_report

pytestmark = pytest.mark.django_db


def test_signed_version_refuses_save_update_and_delete(assigned_study: Any, radiologist: Any):
    version = sign_report(assigned_study, radiologist)
    assert version.status == VersionStatus.SIGNED

    version.impression = "changed"
    with pytest.raises(SignedReportError):
        version.save()
    with pytest.raises(SignedReportError):
        version.save(update_fields=["impression"])
    with pytest.raises(SignedReportError):
        ReportVersion.objects.filter(pk=version.pk).update(impression="changed")
    stale = ReportVersion.objects.get(pk=version.pk)
    stale.status = VersionStatus.DRAFT
    with pytest.raises(SignedReportError):
        stale.save()
    with pytest.raises(SignedReportError):
        ReportVersion.objects.get(pk=version.pk).delete()
    with pytest.raises(SignedReportError):
        ReportVersion.objects.filter(pk=version.pk).delete()

    version.refresh_from_db()
    assert version.impression == IMPRESSION
    assert version.status == VersionStatus.SIGNED


def test_signed_version_may_only_get_its_pdf_name(assigned_study: Any, radiologist: Any):
    version = sign_report(assigned_study, radiologist)
    version.pdf = "reports/x.pdf"
    version.save(update_fields=["pdf"])
    version.save()  # a full save with nothing else changed is harmless
    assert ReportVersion.objects.get(pk=version.pk).pdf == "reports/x.pdf"
    assert ReportVersion.objects.filter(pk=version.pk).update(pdf="reports/y.pdf") == 1


@pytest.mark.parametrize(
    ("modalities", "body_part", "expected"),
    [
        ("CT", "CHEST", "ct-chest"),
        ("CT", "HEAD", "ct-head"),
        ("CT", "ABDOMEN", "ct"),
        ("CT,SR", "", "ct"),
        ("MR", "BRAIN", "mr-brain"),
        ("MR", "KNEE", "mr"),
        ("DX", "CHEST", "xray-chest"),
        ("CR", "HAND", "xray"),
        ("US", "ABDOMEN", "us"),
        ("NM", "", "generic"),
        ("", "", "generic"),
    ],
)
def test_template_is_chosen_from_modality_and_body_part(modalities, body_part, expected):
    assert report_templates.choose_template(modalities, body_part) == expected


def test_every_template_has_every_section():
    for key in report_templates.TEMPLATES:
        assert set(report_templates.sections_of(key)) == set(report_templates.SECTION_NAMES)
    assert report_templates.sections_of("nope") == report_templates.sections_of("generic")
