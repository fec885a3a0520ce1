"""The study index (uploads, studies, series, instances), share links and exports.

Only de-identified data is stored here (UIDs, dates as shifted)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from reports import states as reporting


class StudyStatus(models.TextChoices):
    """Where a study's images are: the intake's states while they arrive and are prepared,
    then ready (or cancelled with their upload). Where a *request* about the study is in
    the reporting workflow is the request's own status (:class:`RequestStatus`)."""

    UPLOADING = "uploading", _("Uploading")
    PROCESSING = "processing", _("Being prepared")
    NEEDS_ATTENTION = "needs_attention", _("Needs attention")
    READY = "ready", _("Images ready")
    CANCELLED = "cancelled", _("Cancelled")


class RequestStatus(models.TextChoices):
    """Where a review request is: waiting for its upload's images, then the reporting
    states, which ``reports.states`` defines and draws."""

    PENDING = reporting.choice(reporting.PENDING, _)
    READY = reporting.choice(reporting.READY, _)
    IN_REVIEW = reporting.choice(reporting.IN_REVIEW, _)
    REPORTED = reporting.choice(reporting.REPORTED, _)
    AMENDED = reporting.choice(reporting.AMENDED, _)
    CANCELLED = reporting.choice(reporting.CANCELLED, _)


class Urgency(models.TextChoices):
    ROUTINE = "routine", _("Routine")
    URGENT = "urgent", _("Urgent")


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
    # Kept by the profile's "retain patient characteristics" option: M, F, O or "".
    patient_sex = models.CharField(max_length=1, blank=True)
    # DICOM Age String (e.g. "054Y"), or "".
    patient_age = models.CharField(max_length=4, blank=True)

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
    def patient_characteristics(self) -> str:
        """Sex and age in words ("female, 54 years"), or ""."""
        sex = {"M": "male", "F": "female", "O": "other"}.get(self.patient_sex, "")
        age = ""
        if self.patient_age:
            n, unit = int(self.patient_age[:3]), self.patient_age[3]
            words = {"D": ("day", "days"), "W": ("week", "weeks"), "M": ("month", "months"),
                     "Y": ("year", "years")}[unit]  # fmt: skip
            age = f"{n} {words[0] if n == 1 else words[1]}"
        return ", ".join(part for part in (sex, age) if part)


#: Request states in which it can still change and take studies (review has not started).
BEFORE_REVIEW = (RequestStatus.PENDING, RequestStatus.READY)


class ReviewRequestQuerySet(models.QuerySet["ReviewRequest"]):
    def open(self) -> ReviewRequestQuerySet:
        """Requests that may still change and take studies: review has not started and
        they were not withdrawn."""
        return self.filter(status__in=BEFORE_REVIEW)


class ReviewRequest(models.Model):
    """A request for review (a case): what the uploader asked, about which studies, and
    where it is in the reporting workflow (status, assignment; its report is
    ``reports.models.Report.review_request``).

    One study can be asked about more than once (a second opinion, a follow-up question),
    and one request can cover several studies (today's CT and last year's MR). The upload
    that brings the studies decides which request they join (``Upload.review_request``):
    a new one, or an earlier open one the uploader chose, so nothing she typed is dropped
    when a study arrives again (``uploads.intake.cases``). Each request has its own status,
    radiologist, report and deliveries (``reports.services``).
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_requests"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    clinical_question = models.TextField(blank=True)
    history = models.TextField(blank=True)
    urgency = models.CharField(max_length=10, choices=Urgency.choices, default=Urgency.ROUTINE)
    # When the upload that made it was done: it waits for review from then on.
    requested_at = models.DateTimeField(null=True, blank=True)
    studies = models.ManyToManyField(Study, blank=True, related_name="review_requests")
    status = models.CharField(
        max_length=20, choices=RequestStatus.choices, default=RequestStatus.PENDING, db_index=True
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_requests",
        limit_choices_to={"role": "radiologist"},
    )
    assigned_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[Any] = ReviewRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Request {self.pk} by {self.owner_id}"

    @property
    def is_open(self) -> bool:
        """See :meth:`ReviewRequestQuerySet.open`."""
        return self.status in BEFORE_REVIEW

    @property
    def in_pool(self) -> bool:
        return self.status == RequestStatus.READY and self.assigned_to_id is None

    @property
    def modalities(self) -> str:
        """The modalities of its studies ("CT, MR"); prefetch ``studies`` for a list."""
        found = {m for study in self.studies.all() for m in study.modalities.split(",") if m}
        return ", ".join(sorted(found))

    def first_study(self) -> Study | None:
        """The study the request was first made about (its report's study)."""
        return self.studies.order_by("pk").first()


class Series(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64)
    modality = models.CharField(max_length=16, blank=True)
    description = models.CharField(max_length=255, blank=True)
    number = models.IntegerField(null=True, blank=True)
    body_part = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["number", "id"]
        verbose_name_plural = "series"
        constraints = [
            models.UniqueConstraint(
                fields=["study", "series_instance_uid"], name="unique_series_per_study"
            )
        ]

    def __str__(self) -> str:
        return f"Series {self.number or '?'} {self.modality} {self.description}".strip()


class Instance(models.Model):
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64)
    sop_class_uid = models.CharField(max_length=64)
    transfer_syntax = models.CharField(max_length=64, blank=True)
    instance_number = models.IntegerField(null=True, blank=True)
    slice_position = models.FloatField(null=True, blank=True)
    rows = models.PositiveIntegerField(default=0)
    columns = models.PositiveIntegerField(default=0)
    frames = models.PositiveIntegerField(default=1)
    has_pixels = models.BooleanField(default=True)
    pixel_spacing = models.JSONField(null=True, blank=True)
    needs_pixel_review = models.BooleanField(default=False)
    pixel_review_reason = models.CharField(max_length=255, blank=True)
    # Burned-in text (uploads/dicom/pixels.py): what OCR found and what was masked
    # (boxes and regions only, never the words), why an admin must confirm the image
    # before its study is released ("" = not held), and who decided.
    pixel_cleaning = models.JSONField(null=True, blank=True)
    pixel_hold = models.CharField(max_length=255, blank=True)
    pixel_checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    pixel_checked_at = models.DateTimeField(null=True, blank=True)
    # Storage name (Django storage API) of the de-identified file.
    file = models.CharField(max_length=255)
    size = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slice_position", "instance_number", "sop_instance_uid"]
        constraints = [
            models.UniqueConstraint(
                fields=["series", "sop_instance_uid"], name="unique_instance_per_series"
            )
        ]

    def __str__(self) -> str:
        return f"Instance {self.instance_number or '?'} of series {self.series_id}"


class Upload(models.Model):
    """One drop of files by one uploader; it may hold several studies.

    It ends ``done`` when no file is on its way any more and the sender has said it sent
    everything (``sealed``), or as many different files as it announced have arrived;
    or ``needs_attention`` with a reason (``uploads/intake/watchdog.py``), from which it can
    still end done.
    """

    class State(models.TextChoices):
        OPEN = "open", "Receiving files"
        DONE = "done", "Processed"
        NEEDS_ATTENTION = "needs_attention", "Needs attention"
        CANCELLED = "cancelled", "Cancelled"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.OPEN)
    clinical_question = models.TextField(blank=True)
    history = models.TextField(blank=True)
    urgency = models.CharField(max_length=10, choices=Urgency.choices, default=Urgency.ROUTINE)
    # Client-side de-identification was applied (browser engine) before sending.
    client_deidentified = models.BooleanField(default=False)
    # How many files the client said it will send (for progress; files with the same
    # bytes are registered once, so this is not what closes the upload, ``sealed`` is).
    expected_files = models.PositiveIntegerField(default=0)
    # The sender said it has sent every file (or listed those it skipped).
    sealed = models.BooleanField(default=False)
    # Why the upload needs attention, in words the uploader understands.
    attention = models.CharField(max_length=500, blank=True)
    # Re-queued by the watchdog without progress since; when it last was.
    requeues = models.PositiveIntegerField(default=0)
    requeued_at = models.DateTimeField(null=True, blank=True)
    # Once it has ended (done or cancelled): its quarantine folder was emptied. A worker
    # killed between ending it and the clean-up leaves it False; the watchdog clears it.
    quarantine_cleared = models.BooleanField(default=False)
    studies = models.ManyToManyField(Study, blank=True, related_name="uploads")
    # The request its studies join: a new one made for it, or the uploader's earlier open
    # request she chose on the upload page (checked by the server). Null for imports.
    review_request = models.ForeignKey(
        ReviewRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="uploads"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Upload {self.pk} by {self.owner_id}"


class FileStatus(models.TextChoices):
    RECEIVING = "receiving", "Receiving"
    RECEIVED = "received", "Waiting to be processed"
    STORED = "stored", "Stored"
    DUPLICATE = "duplicate", "Already stored"
    EXPANDED = "expanded", "Archive unpacked"
    REJECTED = "rejected", "Rejected"


TERMINAL = {FileStatus.STORED, FileStatus.DUPLICATE, FileStatus.EXPANDED, FileStatus.REJECTED}


class UploadFile(models.Model):
    """One file of an upload: its chunks in quarantine, then its fate in the pipeline.

    The name is what the uploader's computer called it; it is kept only to explain a
    rejection and is cleared once the file is stored.
    """

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="files")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    key = models.CharField(max_length=64, db_index=True, help_text="SHA-256 of the bytes, hex")
    name = models.CharField(max_length=255, blank=True)
    size = models.BigIntegerField()
    received = models.BigIntegerField(default=0)
    status = models.CharField(
        max_length=12, choices=FileStatus.choices, default=FileStatus.RECEIVING, db_index=True
    )
    message = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    instance = models.ForeignKey(Instance, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["upload", "key"], name="unique_file_per_upload")
        ]

    def __str__(self) -> str:
        return f"File {self.pk} of upload {self.upload_id} ({self.status})"

    @property
    def quarantine_prefix(self) -> str:
        return f"quarantine/{self.upload_id}/{self.pk}/"


class Usage(models.Model):
    """Bytes of de-identified files an uploader has stored, as a running total: changed in
    the same transaction as every instance created or deleted (``uploads/intake/quota.py``), so
    checking the quota does not grow with the uploader's history."""

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="storage_usage",
    )
    stored_bytes = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.stored_bytes} bytes stored by {self.owner_id}"


# -- share links and exports ----------------------------------------------------------------
# Share links (read-only access to one study without an account) and exports.
#
# Tokens are stored as SHA-256 digests only: the full link is shown once,
# when it is created. Passcodes are hashed with Django's password hashers.


class Verdict(models.TextChoices):
    """The trial-eligibility set. A link keeps the labels (``ShareLink.verdict_choices``);
    the values are the keys links stored before migration 0008 (still accepted)."""

    ELIGIBLE = "eligible", "Eligible"
    NOT_ELIGIBLE = "not_eligible", "Not eligible"
    NEEDS_MORE = "needs_more", "Needs more images"


class VerdictKind(models.TextChoices):
    """What the holder of a share link may answer, chosen when the link is made."""

    OPINION = "opinion", "Second opinion"
    TRIAL = "trial", "Trial eligibility"
    CUSTOM = "custom", "Own choices"
    NONE = "none", "No answer (view only)"


#: The choices of a trial-eligibility link, as stored on it.
TRIAL_CHOICES: list[str] = [str(label) for label in Verdict.labels]


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
    # What the reviewer may answer: a kind and, for choice kinds, the labels offered.
    verdict_kind = models.CharField(
        max_length=8, choices=VerdictKind.choices, default=VerdictKind.OPINION
    )
    verdict_choices = models.JSONField(default=list, blank=True)
    # The reviewer's answer, seen by the creator on the study page: the chosen label
    # (choice kinds) and the comment, or the opinion (second opinion) in verdict_comment.
    verdict = models.CharField(max_length=60, blank=True)
    verdict_comment = models.TextField(blank=True)
    verdict_at = models.DateTimeField(null=True, blank=True)
    # When the creator was emailed that an answer waits (at most once per answer).
    verdict_notified_at = models.DateTimeField(null=True, blank=True)

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

    @property
    def asks_for_answer(self) -> bool:
        return self.verdict_kind != VerdictKind.NONE

    @property
    def asks_for_choice(self) -> bool:
        return self.verdict_kind in (VerdictKind.TRIAL, VerdictKind.CUSTOM)

    @property
    def is_answered(self) -> bool:
        return self.verdict_at is not None


class ExportKind(models.TextChoices):
    DICOM = "dicom", _("DICOM files with DICOMDIR (ZIP)")
    PNG = "png", _("PNG images per series (ZIP)")
    NIFTI = "nifti", _("NIfTI volume per series (ZIP)")


class ExportStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Being built")
    DONE = "done", _("Ready")
    FAILED = "failed", _("Failed")


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
