"""The study index. Only de-identified data is stored here (UIDs, dates as shifted)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class StudyStatus(models.TextChoices):
    UPLOADING = "uploading", "Uploading"
    PROCESSING = "processing", "Being prepared"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"
    READY = "ready", "Waiting for a radiologist"
    IN_REVIEW = "in_review", "In review"
    REPORTED = "reported", "Report ready"
    AMENDED = "amended", "Report amended"
    CANCELLED = "cancelled", "Cancelled"


class Urgency(models.TextChoices):
    ROUTINE = "routine", "Routine"
    URGENT = "urgent", "Urgent"


class Study(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="studies"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    status = models.CharField(
        max_length=20, choices=StudyStatus.choices, default=StudyStatus.UPLOADING, db_index=True
    )
    # De-identified identity of the study (PS3.15 Annex E pseudonyms).
    study_instance_uid = models.CharField(max_length=64, blank=True, db_index=True)
    patient_pseudonym = models.CharField(max_length=64, blank=True)
    study_date = models.DateField(null=True, blank=True, help_text="As shifted")
    modalities = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=255, blank=True)
    body_part = models.CharField(max_length=64, blank=True)
    # The request for review.
    clinical_question = models.TextField(blank=True)
    history = models.TextField(blank=True)
    urgency = models.CharField(max_length=10, choices=Urgency.choices, default=Urgency.ROUTINE)
    requested_at = models.DateTimeField(null=True, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_studies",
        limit_choices_to={"role": "radiologist"},
    )
    assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "studies"
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "study_instance_uid"],
                condition=~models.Q(study_instance_uid=""),
                name="unique_study_per_owner",
            )
        ]

    def __str__(self) -> str:
        return f"Study {self.pk} ({self.modalities or '?'} {self.description or ''})".strip()

    @property
    def in_pool(self) -> bool:
        return self.status == StudyStatus.READY and self.assigned_to_id is None
