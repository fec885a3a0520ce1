"""The reporting workflow: request edits, claiming, assignment, drafts, signing and addenda.

Every function takes the acting user (and the request, for the audit log), checks that
the user may do this, changes the database in one transaction and records an audit
event for every state change. Problems raise :mod:`reports.errors` exceptions, which
the views turn into responses.

The workflow runs per review request (``uploads.models.ReviewRequest``, a "case"): one
study may be asked about twice, and one request may cover several studies. Every change
of a request's reporting state goes through this module: claim, assignment (and the
return to the pool when an admin unassigns a request in review), the start of review,
signing, addenda and the uploader's cancel. :mod:`reports.states` defines the states and
draws how a request moves between them.

Where the line runs: the intake (``uploads.intake.cases``) makes a request PENDING and
hands it over in READY (setting ``requested_at``) when its upload is done. That is not a
reporting change: its ``UPDATE`` filters on PENDING, so it never moves a request that has
entered the workflow, and only the intake knows when an upload is done. Conversely, this
module never moves a request out of PENDING (there it only lets the uploader edit it).
This also keeps the dependency one way: ``reports`` uses ``uploads``, and ``uploads``
reads only the pure :mod:`reports.states`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from portal.accounts.models import Role
from portal.audit.log import record
from portal.numbers import finite_float
from portal.oncommit import after_commit
from reports import delivery, report_templates, states, tasks
from reports.annotations import clean_annotations
from reports.errors import Conflict, Invalid, NotAllowed
from reports.models import (
    Delivery,
    DeliveryStatus,
    Notification,
    Report,
    ReportVersion,
    VersionKind,
    VersionStatus,
)
from uploads.models import BEFORE_REVIEW, Instance, RequestStatus, ReviewRequest, Urgency

# The request can be edited until review starts.
REQUEST_EDITABLE = frozenset(BEFORE_REVIEW)
OPEN_FOR_REPORT = states.OPEN
SIGNED_STATES = states.SIGNED
MAX_SECTION_CHARS = 20000
MAX_KEY_IMAGES = 24


# -- the request ------------------------------------------------------------------------------


def update_request(
    case: ReviewRequest,
    user: Any,
    *,
    clinical_question: str,
    history: str,
    urgency: str,
    request: HttpRequest | None = None,
) -> ReviewRequest:
    """Change the uploader's question, history and urgency before review starts.

    Raises
    ------
    NotAllowed
        ``user`` is not the uploader.
    Conflict
        Review has started (or the request was cancelled).
    Invalid
        Unknown urgency.
    """
    if urgency not in Urgency.values:
        raise Invalid("Choose routine or urgent.")
    with transaction.atomic():
        locked = ReviewRequest.objects.select_for_update().get(pk=case.pk)
        if locked.owner_id != user.pk:
            raise NotAllowed("Only the uploader can change the request.")
        if locked.status not in REQUEST_EDITABLE:
            raise Conflict("The request can no longer be changed: review has started.")
        values = {"clinical_question": clinical_question, "history": history, "urgency": urgency}
        changed = [name for name, value in values.items() if getattr(locked, name) != value]
        for name in changed:
            setattr(locked, name, values[name])
        if changed:
            locked.save(update_fields=[*changed, "updated_at"])
            record(request, "request.updated", locked, user=user, fields=changed)
    return locked


def cancel_request(
    case: ReviewRequest, user: Any, *, request: HttpRequest | None = None
) -> ReviewRequest:
    """Withdraw a request that no radiologist has started (READY → CANCELLED).

    The update is conditional, so a claim that wins the race makes the cancel fail.

    Raises
    ------
    NotAllowed
        ``user`` is not the uploader.
    Conflict
        The request is not waiting for review (in review, reported, already cancelled...).
    """
    if case.owner_id != user.pk:
        raise NotAllowed("Only the uploader can cancel the request.")
    with transaction.atomic():
        cancelled = ReviewRequest.objects.filter(
            pk=case.pk, status__in=[RequestStatus.READY, RequestStatus.PENDING]
        ).update(status=RequestStatus.CANCELLED, updated_at=timezone.now())
        if not cancelled:
            raise Conflict("The request can no longer be cancelled: review has started.")
        case.refresh_from_db()
        record(request, "request.cancelled", case, user=user)
    return case


# -- claiming -------------------------------------------------------------------------------


def claim(case: ReviewRequest, user: Any, *, request: HttpRequest | None = None) -> ReviewRequest:
    """Take a request from the pool: assign it to ``user`` and start the review.

    One conditional UPDATE (``status = READY and assigned_to is null``) decides: of two
    radiologists claiming at once, exactly one gets the request.

    Raises
    ------
    NotAllowed
        ``user`` is not a radiologist.
    Conflict
        The request is no longer in the pool.
    """
    if getattr(user, "role", None) != Role.RADIOLOGIST:
        raise NotAllowed("Only radiologists can claim requests.")
    now = timezone.now()
    with transaction.atomic():
        won = ReviewRequest.objects.filter(
            pk=case.pk, status=RequestStatus.READY, assigned_to__isnull=True
        ).update(assigned_to=user, assigned_at=now, status=RequestStatus.IN_REVIEW, updated_at=now)
        if not won:
            raise Conflict("This request is no longer in the pool: someone else has it.")
        case.refresh_from_db()
        record(request, "request.claimed", case, user=user)
    return case


def assign(
    case: ReviewRequest, radiologist: Any | None, user: Any, *, request: HttpRequest | None = None
) -> ReviewRequest:
    """Assign ``case`` to ``radiologist``, or unassign it (``None``).

    The request keeps its state (an assigned request still READY enters review with the
    first draft), except that unassigning a request in review puts it back in the pool
    (READY); a draft stays with the report.

    Raises
    ------
    NotAllowed
        ``user`` is not an admin.
    Invalid
        ``radiologist`` is not an active radiologist.
    """
    if getattr(user, "role", None) != Role.ADMIN:
        raise NotAllowed("Only admins can assign requests.")
    if radiologist is not None and (
        radiologist.role != Role.RADIOLOGIST or not radiologist.is_active
    ):
        raise Invalid("Requests can only be assigned to active radiologists.")
    with transaction.atomic():
        locked = ReviewRequest.objects.select_for_update().get(pk=case.pk)
        previous = locked.assigned_to_id
        fields = ["assigned_to", "assigned_at", "updated_at"]
        locked.assigned_to = radiologist
        locked.assigned_at = timezone.now() if radiologist is not None else None
        if radiologist is None and locked.status == RequestStatus.IN_REVIEW:
            locked.status = RequestStatus.READY
            fields.append("status")
        locked.save(update_fields=fields)
        if radiologist is not None and radiologist.pk != previous:
            Notification.objects.create(
                user=radiologist,
                text=f"Request #{locked.pk} was assigned to you.",
                link=reverse("report-editor", args=[locked.pk]),
            )
        record(
            request,
            "request.assigned",
            locked,
            user=user,
            radiologist=str(radiologist.pk) if radiologist is not None else None,
        )
    return locked


# -- drafts ---------------------------------------------------------------------------------


def _locked_for_author(case: ReviewRequest, user: Any) -> ReviewRequest:
    locked = ReviewRequest.objects.select_for_update().get(pk=case.pk)
    if getattr(user, "role", None) != Role.RADIOLOGIST or locked.assigned_to_id != user.pk:
        raise NotAllowed("Only the radiologist assigned to this request can write its report.")
    return locked


def _start_review(case: ReviewRequest, user: Any, request: HttpRequest | None) -> None:
    """An assigned request still READY (assigned by an admin) enters review."""
    if case.status == RequestStatus.READY:
        case.status = RequestStatus.IN_REVIEW
        case.save(update_fields=["status", "updated_at"])
        record(request, "request.review_started", case, user=user)


def initial_sections(case: ReviewRequest, template: str) -> dict[str, str]:
    """Section text of a new report: the template's defaults plus the request."""
    sections = report_templates.sections_of(template)
    request_text = "\n\n".join(
        part for part in (case.clinical_question.strip(), case.history.strip()) if part
    )
    if request_text and not sections["clinical_information"]:
        sections["clinical_information"] = request_text
    return sections


def new_draft(case: ReviewRequest, user: Any | None = None) -> ReportVersion:
    """An unsaved original version with the automatically chosen template's text (chosen
    by the request's first study)."""
    study = case.first_study()
    template = report_templates.choose_template(
        study.modalities if study else "", study.body_part if study else ""
    )
    version = ReportVersion(
        number=1,
        kind=VersionKind.ORIGINAL,
        status=VersionStatus.DRAFT,
        template=template,
        author=user,
        key_images=[],
    )
    for name, text in initial_sections(case, template).items():
        setattr(version, name, text)
    return version


def editable_draft(case: ReviewRequest) -> ReportVersion | None:
    """The draft to show in the editor: the stored one, else a new unsaved one.

    None when the report is signed and no addendum is being written, or when the
    request is not open for reporting (e.g. cancelled).
    """
    report = Report.objects.filter(review_request=case).first()
    if report is not None:
        draft = report.draft()
        if draft is not None:
            return draft if open_for(case, draft) else None
        if report.versions.exists():
            return None
    if case.status not in OPEN_FOR_REPORT:
        return None
    return new_draft(case)


def clean_key_images(case: ReviewRequest, value: Any) -> list[dict[str, Any]]:
    """Validate a key-image list against the instances of the request's studies.

    Parameters
    ----------
    case
        The request whose studies the images must belong to.
    value
        A list of ``{"instance_id", "frame", "center", "width"}`` (center and width
        may be null: the image's own window is then used).

    Returns
    -------
    list of dict
        Normalised entries.

    Raises
    ------
    Invalid
        Not a list, too long, an instance of another request, a frame out of range or a
        window that is not a pair of numbers with a positive width.
    """
    if not isinstance(value, list):
        raise Invalid("Key images must be a list.")
    if len(value) > MAX_KEY_IMAGES:
        raise Invalid(f"At most {MAX_KEY_IMAGES} key images.")
    ids: set[int] = set()
    for entry in value:
        if not isinstance(entry, dict):
            raise Invalid("Each key image must be an object.")
        try:
            ids.add(int(entry.get("instance_id")))  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError) as exc:  # int() of JSON's 1e999: inf
            raise Invalid("Each key image needs an instance.") from exc
    frames = dict(
        Instance.objects.filter(series__study__review_requests=case, pk__in=ids).values_list(
            "pk", "frames"
        )
    )
    cleaned = []
    for entry in value:
        instance_id = int(entry["instance_id"])
        if instance_id not in frames:
            raise Invalid("A key image is not an image of this request's studies.")
        try:
            frame = int(entry.get("frame") or 0)
            center = _number(entry.get("center"))
            width = _number(entry.get("width"))
        except (TypeError, ValueError, OverflowError) as exc:
            raise Invalid("Frame, window center and width must be numbers.") from exc
        if not 0 <= frame < max(frames[instance_id], 1):
            raise Invalid("A key image's frame is out of range.")
        if (center is None) != (width is None) or (width is not None and width <= 0):
            raise Invalid("Give both window center and a positive width, or neither.")
        image: dict[str, Any] = {
            "instance_id": instance_id,
            "frame": frame,
            "center": center,
            "width": width,
        }
        cleaned.append(image | _view(entry))
    return cleaned


def _view(entry: Mapping[str, Any]) -> dict[str, float]:
    """The viewport of a key image taken from the viewer: ``zoom`` (at least 1) and the
    image point at the viewport's centre (``cx``, ``cy``, fractions of the image)."""
    try:
        zoom = _number(entry.get("zoom"))
        cx, cy = _number(entry.get("cx")), _number(entry.get("cy"))
    except ValueError as exc:
        raise Invalid("A key image's zoom and centre must be numbers.") from exc
    if zoom is None or zoom <= 1:
        return {}
    if cx is None or cy is None or not (0 <= cx <= 1 and 0 <= cy <= 1):
        cx = cy = 0.5
    return {"zoom": min(zoom, 16.0), "cx": cx, "cy": cy}


def _number(value: Any) -> float | None:
    """None for an empty value, else a finite float (ValueError otherwise)."""
    if value is None or value == "":
        return None
    return finite_float(value)


def _apply(version: ReportVersion, case: ReviewRequest, data: Mapping[str, Any]) -> list[str]:
    """Copy submitted fields onto a draft; returns the names changed."""
    changed = []
    for name in report_templates.SECTION_NAMES:
        if name in data:
            text = str(data[name] or "")
            if len(text) > MAX_SECTION_CHARS:
                raise Invalid(f"A section is longer than {MAX_SECTION_CHARS} characters.")
            text = text.replace("\r\n", "\n")
            if getattr(version, name) != text:
                setattr(version, name, text)
                changed.append(name)
    template = data.get("template")
    if template and template != version.template:
        if template not in report_templates.TEMPLATES:
            raise Invalid("Unknown template.")
        version.template = str(template)
        changed.append("template")
    if "addendum_reason" in data and version.is_addendum:
        reason = str(data["addendum_reason"] or "").replace("\r\n", "\n")
        if reason != version.addendum_reason:
            version.addendum_reason = reason
            changed.append("addendum_reason")
    if "key_images" in data:
        images = clean_key_images(case, data["key_images"])
        if images != version.key_images:
            version.key_images = images
            changed.append("key_images")
    if "annotations" in data:
        marks = clean_annotations(case, data["annotations"])
        if marks != version.annotations:
            version.annotations = marks
            changed.append("annotations")
    return changed


def open_for(case: ReviewRequest, draft: ReportVersion) -> bool:
    """Whether a stored draft may still be written and signed: an original report only
    while the request is open for reporting (a draft kept through an unassignment must not
    revive a request the uploader withdrew since), an addendum once the report is signed."""
    if draft.is_addendum:
        return case.status in SIGNED_STATES
    return case.status in OPEN_FOR_REPORT


def _draft_for_update(case: ReviewRequest, user: Any, request: HttpRequest | None) -> ReportVersion:
    """The stored draft (locked), creating the original draft on first save."""
    study = case.first_study()
    if study is None:
        raise Conflict("This request has no images yet.")
    report, _ = Report.objects.get_or_create(review_request=case, defaults={"study": study})
    draft = (
        ReportVersion.objects.select_for_update()
        .filter(report=report, status=VersionStatus.DRAFT)
        .first()
    )
    if draft is not None:
        if not open_for(case, draft):
            raise Conflict("This request is not open for reporting.")
        return draft
    if report.versions.exists():
        raise Conflict("This report is signed and cannot be changed. Add an addendum instead.")
    if case.status not in OPEN_FOR_REPORT:
        raise Conflict("This request is not open for reporting.")
    draft = new_draft(case, user)
    draft.report = report
    draft.save()
    record(request, "report.draft_created", draft, user=user, request_id=case.pk)
    return draft


def save_draft(
    case: ReviewRequest,
    user: Any,
    data: Mapping[str, Any],
    *,
    request: HttpRequest | None = None,
    autosave: bool = False,
) -> ReportVersion:
    """Save the draft of ``case``'s report (creating it on the first save).

    Parameters
    ----------
    case
        The review request; ``user`` must be its assigned radiologist.
    user
        The radiologist.
    data
        Any of the section names, ``template``, ``addendum_reason``, ``key_images``.
    request
        For the audit log.
    autosave
        Recorded in the audit event.

    Raises
    ------
    NotAllowed, Conflict, Invalid
        Not the assigned radiologist; report signed with no addendum open; bad data.
    """
    with transaction.atomic():
        locked = _locked_for_author(case, user)
        draft = _draft_for_update(locked, user, request)
        changed = _apply(draft, locked, data)
        _start_review(locked, user, request)
        if changed or draft.author_id != user.pk:
            draft.author = user
            draft.save()
            record(
                request,
                "report.draft_saved",
                draft,
                user=user,
                request_id=locked.pk,
                fields=changed,
                autosave=autosave,
            )
    return draft


def add_key_image(
    case: ReviewRequest, user: Any, entry: Mapping[str, Any], *, request: HttpRequest | None = None
) -> ReportVersion:
    """Append one key image to the draft (used by the viewer's "add key image")."""
    with transaction.atomic():
        locked = _locked_for_author(case, user)
        draft = _draft_for_update(locked, user, request)
        images = clean_key_images(locked, [*draft.key_images, dict(entry)])
        draft.key_images = images
        draft.author = user
        draft.save()
        _start_review(locked, user, request)
        record(request, "report.key_image_added", draft, user=user, request_id=locked.pk)
    return draft


# -- signing and addenda ---------------------------------------------------------------------


def sign(
    case: ReviewRequest,
    user: Any,
    data: Mapping[str, Any] | None = None,
    *,
    request: HttpRequest | None = None,
) -> ReportVersion:
    """Sign the draft (after saving ``data`` into it): it becomes immutable.

    The request becomes REPORTED (AMENDED for an addendum); the uploader gets an
    in-portal notification and, once the transaction commits, the PDF is generated
    and the "report ready" email is sent by Celery tasks.

    Raises
    ------
    NotAllowed
        Not the assigned radiologist.
    Conflict
        Nothing to sign (already signed, no draft).
    Invalid
        No impression, or an addendum without a reason.
    """
    with transaction.atomic():
        locked = _locked_for_author(case, user)
        draft = _draft_for_update(locked, user, request)
        if data:
            _apply(draft, locked, data)
        if not draft.impression.strip():
            raise Invalid("Write the impression before signing.")
        if draft.is_addendum and not draft.addendum_reason.strip():
            raise Invalid("Give the reason for the addendum before signing.")
        _start_review(locked, user, request)
        draft.status = VersionStatus.SIGNED
        draft.signed_at = timezone.now()
        draft.author = user
        draft.signed_by_name = user.display_name
        draft.save()
        locked.status = RequestStatus.AMENDED if draft.is_addendum else RequestStatus.REPORTED
        locked.save(update_fields=["status", "updated_at"])
        record(
            request,
            "report.signed",
            draft,
            user=user,
            request_id=locked.pk,
            version=draft.number,
            kind=draft.kind,
        )
        record(request, f"request.{locked.status}", locked, user=user, version=draft.number)
        sent = delivery.queue_for_version(draft)
        version_id = draft.pk
        # robust: the report is signed either way; a broker hiccup is logged, and
        # ``requeue_stale_deliveries`` sends what was not queued.
        after_commit(tasks.generate_report_pdf.delay, version_id)
        for delivery_id in sent:
            after_commit(tasks.send_report_email.delay, delivery_id)
    return draft


def start_addendum(
    case: ReviewRequest, user: Any, reason: str, *, request: HttpRequest | None = None
) -> ReportVersion:
    """Open an addendum: a new draft version starting from the last signed text.

    Returns the open addendum if there already is one (a double click is harmless).

    Raises
    ------
    NotAllowed
        Not the assigned radiologist.
    Invalid
        No reason given.
    Conflict
        No signed report yet.
    """
    reason = (reason or "").strip()
    with transaction.atomic():
        locked = _locked_for_author(case, user)
        report = Report.objects.filter(review_request=locked).first()
        latest = report.latest_signed() if report is not None else None
        if report is None or latest is None:
            raise Conflict("There is no signed report to amend yet.")
        existing = report.draft()
        if existing is not None:
            return existing
        if not reason:
            raise Invalid("Give the reason for the addendum.")
        last_number = report.versions.order_by("-number").values_list("number", flat=True)[0]
        addendum = ReportVersion(
            report=report,
            number=last_number + 1,
            kind=VersionKind.ADDENDUM,
            status=VersionStatus.DRAFT,
            template=latest.template,
            addendum_reason=reason,
            key_images=list(latest.key_images),
            annotations=list(latest.annotations),
            author=user,
        )
        for name in report_templates.SECTION_NAMES:
            setattr(addendum, name, getattr(latest, name))
        addendum.save()
        record(
            request,
            "report.addendum_started",
            addendum,
            user=user,
            request_id=locked.pk,
            version=addendum.number,
        )
    return addendum


# -- reading --------------------------------------------------------------------------------


def signed_version(case: ReviewRequest, number: int | None = None) -> ReportVersion | None:
    """A signed version of ``case``'s report: ``number``, else the newest."""
    versions = ReportVersion.objects.filter(
        report__review_request=case, status=VersionStatus.SIGNED
    )
    if number is not None:
        return versions.filter(number=number).first()
    return versions.order_by("-number").first()


def resend(original: Delivery, user: object, *, request: HttpRequest | None = None) -> Delivery:
    """Send a delivery's email again (admin action); returns the delivery to send.

    A failed delivery is queued again; a sent one gets a new delivery row, so the
    record of the first email stays as it was.

    Raises
    ------
    Conflict
        The delivery is still queued (being sent or retried).
    """
    with transaction.atomic():
        locked = Delivery.objects.select_for_update().get(pk=original.pk)
        if locked.status == DeliveryStatus.QUEUED:
            raise Conflict("This email is still queued; wait for it to be sent or to fail.")
        if locked.status == DeliveryStatus.FAILED:
            locked.status = DeliveryStatus.QUEUED
            locked.save(update_fields=["status", "updated_at"])
            target = locked
        else:
            target = Delivery.objects.create(version=locked.version, recipient=locked.recipient)
        record(request, "delivery.resent", target, user=user, original=locked.pk)
        target_id = target.pk
        after_commit(tasks.send_report_email.delay, target_id)
    return target
