"""Reports, their versions, email deliveries and in-portal notifications.

A review request has at most one :class:`Report`; the report is a list of :class:`ReportVersion`
rows: version 1 is the original, later ones are addenda. A version is a draft until it
is signed; a signed version never changes again (``ReportVersion.save`` refuses, and so
does the queryset's ``update``), except for the storage name of its PDF, which is
written once after signing.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from reports.report_templates import SECTIONS
from uploads.models import ReviewRequest, Study


class SignedReportError(Exception):
    """Raised on any attempt to change or delete a signed report version."""


class Report(models.Model):
    """The report answering one review request. ``study`` is the request's first study:
    the one its PDF and structured report are filed under (the request's studies no
    longer change once review has started, which is when the report is made)."""

    review_request = models.OneToOneField(
        ReviewRequest, on_delete=models.CASCADE, related_name="report"
    )
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="reports")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Report of request {self.review_request_id}"

    def latest_signed(self) -> ReportVersion | None:
        """The newest signed version, or None before the first signature."""
        return self.versions.filter(status=VersionStatus.SIGNED).order_by("-number").first()

    def draft(self) -> ReportVersion | None:
        """The version being written, if any (there is at most one)."""
        return self.versions.filter(status=VersionStatus.DRAFT).first()


class VersionKind(models.TextChoices):
    ORIGINAL = "original", _("Original report")
    ADDENDUM = "addendum", _("Addendum")


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SIGNED = "signed", "Signed"


# Fields a signed version may still have written: its PDF is generated after signing.
MUTABLE_AFTER_SIGNING = frozenset({"pdf"})


class ReportVersionQuerySet(models.QuerySet["ReportVersion"]):
    def update(self, **kwargs: Any) -> int:
        """Refuse bulk updates that would change a signed version."""
        if (
            set(kwargs) - MUTABLE_AFTER_SIGNING
            and self.filter(status=VersionStatus.SIGNED).exists()
        ):
            raise SignedReportError("signed report versions cannot be changed")
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        if self.filter(status=VersionStatus.SIGNED).exists():
            raise SignedReportError("signed report versions cannot be deleted")
        return super().delete()


class ReportVersion(models.Model):
    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=VersionKind.choices)
    status = models.CharField(
        max_length=10, choices=VersionStatus.choices, default=VersionStatus.DRAFT, db_index=True
    )
    template = models.CharField(max_length=32, blank=True)
    clinical_information = models.TextField(blank=True)
    technique = models.TextField(blank=True)
    comparison = models.TextField(blank=True)
    findings = models.TextField(blank=True)
    impression = models.TextField(blank=True)
    recommendations = models.TextField(blank=True)
    addendum_reason = models.TextField(blank=True)
    # [{"instance_id": int, "frame": int, "center": float | None, "width": float | None}]
    key_images = models.JSONField(default=list, blank=True)
    # Measurements drawn in the viewer, in image coordinates (reports/annotations.py):
    # [{"id", "instance_id", "frame", "kind", "points": [[x, y], ...]}]
    annotations = models.JSONField(default=list, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="report_versions",
    )
    # The signer's name as printed on the report, kept even if the account changes.
    signed_by_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    # Storage name (Django storage API) of the generated PDF; empty until generated.
    pdf = models.CharField(max_length=255, blank=True)

    objects: ClassVar[Any] = ReportVersionQuerySet.as_manager()

    class Meta:
        ordering = ["report", "number"]
        constraints = [
            models.UniqueConstraint(fields=["report", "number"], name="unique_version_number"),
            models.UniqueConstraint(
                fields=["report"],
                condition=models.Q(status="draft"),
                name="one_draft_per_report",
            ),
        ]

    def __str__(self) -> str:
        return f"Report {self.report_id} v{self.number} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, refusing any change to a version that is signed in the database.

        Raises
        ------
        SignedReportError
            If the stored row is signed and a field other than ``pdf`` differs.
        """
        if self.pk is not None:
            row = type(self).objects.filter(pk=self.pk).values().first()
            stored: dict[str, Any] | None = dict(row) if row is not None else None
            if stored is not None and stored["status"] == VersionStatus.SIGNED:
                fields = kwargs.get("update_fields")
                if fields is None:
                    names = {f.name for f in self._meta.concrete_fields}
                else:
                    names = set(fields)
                for name in names - MUTABLE_AFTER_SIGNING - {"updated_at"}:
                    attname = self._meta.get_field(name).attname  # type: ignore[union-attr]
                    if stored[attname] != getattr(self, attname):
                        raise SignedReportError(
                            f"report version {self.pk} is signed and cannot be changed"
                        )
                kwargs["update_fields"] = sorted(names & MUTABLE_AFTER_SIGNING)
                if not kwargs["update_fields"]:
                    return
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if (
            self.pk is not None
            and type(self).objects.filter(pk=self.pk, status=VersionStatus.SIGNED).exists()
        ):
            raise SignedReportError(f"report version {self.pk} is signed and cannot be deleted")
        return super().delete(*args, **kwargs)

    @property
    def is_signed(self) -> bool:
        return self.status == VersionStatus.SIGNED

    @property
    def is_addendum(self) -> bool:
        return self.kind == VersionKind.ADDENDUM

    def sections(self) -> list[tuple[str, str, str]]:
        """``(name, label, text)`` of each section, in report order."""
        return [(name, label, getattr(self, name)) for name, label in SECTIONS]


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class Delivery(models.Model):
    """One email telling the uploader that a report version is ready (no report content)."""

    version = models.ForeignKey(ReportVersion, on_delete=models.PROTECT, related_name="deliveries")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_deliveries"
    )
    status = models.CharField(
        max_length=10,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.QUEUED,
        db_index=True,
    )
    attempts = models.PositiveIntegerField(default=0)
    # Exception class and SMTP code or errno only: never an address or report text.
    last_error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"Delivery {self.pk} of version {self.version_id} ({self.status})"


class Notification(models.Model):
    """A message in the portal for one user (e.g. "your report is ready")."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    text = models.CharField(max_length=255)
    link = models.CharField(max_length=255, blank=True)
    read = models.BooleanField(default=False, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Notification {self.pk} for {self.user_id}"

    def get_absolute_url(self) -> str:
        return self.link or reverse("notifications")
