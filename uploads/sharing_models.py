"""Share links (read-only access to one study without an account) and exports.

Imported at the end of ``uploads/models.py`` so Django registers the models in the
``uploads`` app. Tokens are stored as SHA-256 digests only: the full link is shown once,
when it is created. Passcodes are hashed with Django's password hashers.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from uploads.models import Study

__all__ = ["Export", "ExportKind", "ExportStatus", "ShareLink", "Verdict"]


class Verdict(models.TextChoices):
    ELIGIBLE = "eligible", "Eligible"
    NOT_ELIGIBLE = "not_eligible", "Not eligible"
    NEEDS_MORE = "needs_more", "Needs more images"


class ShareLink(models.Model):
    """A link ``/s/<token>/`` that opens the viewer of one study, read-only."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="share_links")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # sha256(token), hex: the token itself is never stored.
    token_hash = models.CharField(max_length=64, unique=True)
    label = models.CharField(
        max_length=100, blank=True, help_text="For whom (a note for the creator)"
    )
    expires_at = models.DateTimeField()
    passcode_hash = models.CharField(max_length=128, blank=True)
    allow_download = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    open_count = models.PositiveIntegerField(default=0)
    last_opened_at = models.DateTimeField(null=True, blank=True)
    # The reviewer's answer, seen by the creator on the study page.
    verdict = models.CharField(max_length=16, choices=Verdict.choices, blank=True)
    verdict_comment = models.TextField(blank=True)
    verdict_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Share link {self.pk} of study {self.study_id}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return not self.is_revoked and not self.is_expired

    @property
    def state(self) -> str:
        """ "active", "expired" or "revoked"."""
        if self.is_revoked:
            return "revoked"
        return "expired" if self.is_expired else "active"

    @property
    def has_passcode(self) -> bool:
        return bool(self.passcode_hash)


class ExportKind(models.TextChoices):
    DICOM = "dicom", "DICOM files with DICOMDIR (ZIP)"
    PNG = "png", "PNG images per series (ZIP)"
    NIFTI = "nifti", "NIfTI volume per series (ZIP)"


class ExportStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Being built"
    DONE = "done", "Ready"
    FAILED = "failed", "Failed"


class Export(models.Model):
    """A ZIP built in the background from a study's de-identified files."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="exports")
    kind = models.CharField(max_length=8, choices=ExportKind.choices)
    status = models.CharField(
        max_length=8, choices=ExportStatus.choices, default=ExportStatus.PENDING, db_index=True
    )
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent")
    # Rendering options of PNG exports: {"preset": name} or {"center": c, "width": w}.
    params = models.JSONField(default=dict, blank=True)
    # Storage name (Django storage API) of the finished ZIP.
    file = models.CharField(max_length=255, blank=True)
    size = models.BigIntegerField(default=0)
    notes = models.TextField(blank=True, help_text="E.g. series left out, with the reason")
    error = models.CharField(max_length=500, blank=True)
    # Who asked: an account, or the holder of a share link.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="exports",
    )
    share_link = models.ForeignKey(
        ShareLink, null=True, blank=True, on_delete=models.CASCADE, related_name="exports"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.kind}) of study {self.study_id}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def filename(self) -> str:
        """The name offered to the browser (no patient data: the portal's study number)."""
        return f"study-{self.study_id}-{self.kind}.zip"
