"""Admin "Burned-in text" page: images held after cleaning (docs/burned-in-text.md).

An image is held (``Instance.pixel_hold``) when OCR still reads identifying words after
cleaning, when the file says text is burned in but none matched, when it could not be
read here, or when a browser-cleaned image still shows dates or long numbers. Its study
stays "Being prepared" (off the worklist) until an admin confirms the image is clean or
rejects the file; both decisions are audit-logged. The page shows the stored (cleaned)
image with the boxes OCR found; never the words themselves.
"""

from __future__ import annotations

import io

import numpy as np
from django.contrib import messages
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_POST
from PIL import Image, ImageDraw
from pydicom import dcmread

from portal.accounts.decorators import role_required
from portal.accounts.models import Role
from portal.audit.log import record
from uploads import storage
from uploads.dicom.pixels import display_frames
from uploads.intake import cases
from uploads.intake.ingest import LIVE, held_images
from uploads.models import Instance, ReviewRequest, Study, StudyStatus

#: The preview's longest side, in pixels.
PREVIEW = 800
WAITING = [StudyStatus.UPLOADING, StudyStatus.PROCESSING, StudyStatus.NEEDS_ATTENTION]


def held() -> list[Instance]:
    return list(
        Instance.objects.exclude(pixel_hold="")
        .select_related("series__study")
        .order_by("created_at", "pk")[:200]
    )


@role_required(Role.ADMIN)
def held_list(request: HttpRequest) -> HttpResponse:
    rows = []
    for instance in held():
        cleaning = instance.pixel_cleaning or {}
        boxes = cleaning.get("boxes", [])
        rows.append(
            {
                "instance": instance,
                "study": instance.series.study,
                "masked": len(cleaning.get("regions", [])),
                "found": len(boxes),
            }
        )
    return render(request, "uploads/pixel_review.html", {"rows": rows})


@role_required(Role.ADMIN)
def held_image(request: HttpRequest, pk: int) -> HttpResponse:
    """The stored image's first frame as PNG, with the text OCR found outlined (red:
    identifying and masked; yellow: other text)."""
    instance = get_object_or_404(Instance, pk=pk)
    with default_storage.open(instance.file, "rb") as fp:
        ds = dcmread(io.BytesIO(fp.read()))
    (_, frame), *_ = display_frames(ds, 1)
    values = frame.astype(np.float32)
    low, high = float(values.min()), float(values.max())
    grey = ((values - low) * (255.0 / max(high - low, 1.0))).astype(np.uint8)
    image = Image.fromarray(grey).convert("RGB")
    draw = ImageDraw.Draw(image)
    for box in (instance.pixel_cleaning or {}).get("boxes", []):
        colour = (230, 40, 40) if box.get("identifying") else (240, 200, 0)
        x, y = box["x"], box["y"]
        draw.rectangle((x, y, x + box["w"], y + box["h"]), outline=colour, width=2)
    image.thumbnail((PREVIEW, PREVIEW))
    out = io.BytesIO()
    image.save(out, "PNG")
    response = HttpResponse(out.getvalue(), content_type="image/png")
    response["Cache-Control"] = "private, no-store"
    return response


def release(study: Study) -> None:
    """The study's images are ready when nothing of it is held any more and none of its
    uploads is still under way (its waiting requests then go to the worklist); with no
    image left it is cancelled."""
    locked = Study.objects.select_for_update().get(pk=study.pk)
    if locked.status not in WAITING:
        return
    if Study.objects.filter(pk=locked.pk).filter(held_images()).exists():
        return
    if locked.uploads.filter(state__in=LIVE).exists():
        return
    now = timezone.now()
    if not Instance.objects.filter(series__study=locked).exists():
        locked.status = StudyStatus.CANCELLED
    else:
        locked.status = StudyStatus.READY
    locked.save(update_fields=["status", "updated_at"])
    cases.hand_over(ReviewRequest.objects.filter(studies=locked), now)


@require_POST
@role_required(Role.ADMIN)
def held_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    with transaction.atomic():
        instance = get_object_or_404(Instance.objects.select_for_update(), pk=pk)
        if not instance.pixel_hold:
            messages.info(request, gettext("This image was already checked."))
            return redirect("pixel-review")
        instance.pixel_hold = ""
        instance.pixel_checked_by = request.user  # type: ignore[assignment]
        instance.pixel_checked_at = timezone.now()
        instance.save(update_fields=["pixel_hold", "pixel_checked_by", "pixel_checked_at"])
        study = instance.series.study
        record(request, "pixels.confirmed", instance, study=study.pk)
        release(study)
    messages.success(
        request,
        gettext("Image confirmed clean; study #%(number)s can go on.") % {"number": study.pk},
    )
    return redirect("pixel-review")


@require_POST
@role_required(Role.ADMIN)
def held_reject(request: HttpRequest, pk: int) -> HttpResponse:
    with transaction.atomic():
        instance = get_object_or_404(Instance.objects.select_for_update(), pk=pk)
        if not instance.pixel_hold:
            messages.info(request, gettext("This image was already checked."))
            return redirect("pixel-review")
        series, study, name = instance.series, instance.series.study, instance.file
        record(request, "pixels.rejected", instance, study=study.pk)
        instance.delete()
        if not series.instances.exists():
            series.delete()
        release(study)
    storage.delete_quietly(name)
    messages.success(
        request, gettext("The file was removed from study #%(number)s.") % {"number": study.pk}
    )
    return redirect("pixel-review")
