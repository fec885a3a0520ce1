"""PACS peers, imports (a task status row each) and what the imports leave behind.

No original identifier is kept: an imported study is remembered by a keyed hash of its
Study Instance UID (HMAC under the server's de-identification key, per account), and a
cohort list's extra columns (e.g. ICD-10 codes) by the listed patient's pseudonym — the
same pseudonym the de-identified studies carry.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from pacs import dimse


def validate_ae_title(value: str) -> None:
    try:
        dimse.check_ae_title(value)
    except dimse.InvalidPeer as exc:
        raise ValidationError(str(exc)) from exc


def validate_host(value: str) -> None:
    try:
        dimse.check_host(value)
    except dimse.InvalidPeer as exc:
        raise ValidationError(str(exc)) from exc


class PacsPeer(models.Model):
    """A PACS the portal may query and retrieve from (the portal calls it)."""

    name = models.CharField(max_length=64, unique=True)
    ae_title = models.CharField("AE title", max_length=16, validators=[validate_ae_title])
    host = models.CharField(max_length=253, validators=[validate_host])
    port = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(65535)])
    created_at = models.DateTimeField(auto_now_add=True)
    # The last C-ECHO check: when, whether it answered, and what went wrong.
    echo_at = models.DateTimeField(null=True, blank=True)
    echo_ok = models.BooleanField(null=True)
    echo_message = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "PACS peer"

    def __str__(self) -> str:
        return f"{self.name} ({self.as_peer()})"

    def as_peer(self) -> dimse.Peer:
        return dimse.Peer(self.ae_title, self.host, self.port)


class PacsImport(models.Model):
    """One import from a PACS, and its progress (the task status row)."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Waiting to start")
        RUNNING = "running", _("Importing")
        RETRYING = "retrying", _("Waiting to try again")
        DONE = "done", _("Finished")
        FAILED = "failed", _("Failed")

    peer = models.ForeignKey(PacsPeer, null=True, blank=True, on_delete=models.SET_NULL)
    # The PACS as AE@host:port, kept if the peer is changed or deleted later.
    peer_label = models.CharField(max_length=300)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pacs_imports"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    since = models.DateField()
    until = models.DateField(null=True, blank=True)
    modality = models.CharField(max_length=16, blank=True)
    # With a cohort list only the listed patients' studies are imported (matched by
    # pseudonym: ``CohortRow``); ``listed`` is how many patients the list had.
    cohort = models.BooleanField(default=False)
    listed = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    message = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Progress: studies the PACS matched, of those selected (dates, modality, list),
    # imported now, skipped (imported before) and failed.
    matched = models.PositiveIntegerField(default=0)
    selected = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    instances = models.PositiveIntegerField(default=0)
    # Instances received from the PACS in this run so far (progress within a study).
    received = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"PACS import {self.pk} from {self.peer_label}"

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)

    @property
    def processed(self) -> int:
        return self.imported + self.skipped + self.failed

    @property
    def percent(self) -> int:
        if not self.selected:
            return 100 if self.finished else 0
        return min(100, round(100 * self.processed / self.selected))


class ImportedStudy(models.Model):
    """A PACS study imported for an account: a re-run skips it. ``key`` is an HMAC of the
    original Study Instance UID (``service.study_key``), never the UID itself. Deleting the
    portal study deletes this row, so a later run imports the study again."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64)
    study = models.ForeignKey("uploads.Study", on_delete=models.CASCADE, related_name="+")
    pacs_import = models.ForeignKey(
        PacsImport, null=True, blank=True, on_delete=models.SET_NULL, related_name="studies"
    )
    instances = models.PositiveIntegerField(default=0)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="pacs_imported_once")]

    def __str__(self) -> str:
        return f"Study {self.study_id} imported from a PACS"


class CohortRow(models.Model):
    """A cohort list's extra columns (e.g. ``icd10``) for one listed patient, kept
    against the patient's pseudonym for the export's metadata CSV — never against the
    original Patient ID."""

    pacs_import = models.ForeignKey(PacsImport, on_delete=models.CASCADE, related_name="rows")
    pseudonym = models.CharField(max_length=64, db_index=True)
    columns = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pacs_import", "pseudonym"], name="pacs_row_once")
        ]

    def __str__(self) -> str:
        return f"Cohort row of import {self.pacs_import_id}"
