"""The PDF of a signed report version (reportlab), stored with the storage API.

The PDF holds the study summary without patient identity (portal study number,
modality, description, body part, shifted study date), the report sections, the key
images, the radiologist's name and the signing date.
"""

from __future__ import annotations

import io
import logging
import uuid
from typing import Any
from xml.sax.saxutils import escape

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from reports import images
from reports.errors import Conflict
from reports.models import ReportVersion, VersionStatus

log = logging.getLogger(__name__)


def _text(value: str) -> str:
    """Plain text as reportlab paragraph markup (escaped, line breaks kept)."""
    return escape(value.strip()).replace("\n", "<br/>")


def study_summary(version: ReportVersion) -> list[tuple[str, str]]:
    """Rows of the study summary: nothing that identifies the patient. The request's
    other studies follow the one the report is filed under."""
    case = version.report.review_request
    study = version.report.study
    rows = [
        ("Portal request", f"#{case.pk}"),
        ("Portal study", f"#{study.pk}"),
        ("Modality", study.modalities or "unknown"),
        ("Description", study.description or "-"),
        ("Body part", study.body_part or "-"),
        (
            "Study date",
            f"{study.study_date:%Y-%m-%d} (shifted for privacy)" if study.study_date else "unknown",
        ),
    ]
    for other in case.studies.exclude(pk=study.pk).order_by("study_date", "pk"):
        date = f"{other.study_date:%Y-%m-%d}" if other.study_date else "date unknown"
        rows.append(("Also reviewed", f"#{other.pk} {other.modalities or ''} ({date})"))
    rows.append(("Urgency", case.get_urgency_display()))
    return rows


class NumberedCanvas(Canvas):
    """A canvas that writes "Page N of M" in every page's footer: pages are kept until
    the document is finished, when the total is known (the reportlab recipe)."""

    footer = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self.setFont("Helvetica", 8)
            self.setFillColor(colors.HexColor("#667085"))
            self.drawString(2 * cm, 1.2 * cm, self.footer)
            self.drawRightString(A4[0] - 2 * cm, 1.2 * cm, f"Page {number} of {total}")
            super().showPage()
        super().save()


def _key_images(version: ReportVersion, width: float) -> list[Flowable]:
    flow: list[Flowable] = []
    styles = getSampleStyleSheet()
    for index, entry in enumerate(version.key_images, start=1):
        text = f"Key image {index}: {escape(images.describe(entry, version.annotations))}"
        png = images.key_image_png(entry, annotations=version.annotations)
        if png is None:
            flow.append(Paragraph(f"{text} (image not available)", styles["Italic"]))
            continue
        caption = Paragraph(text, styles["Italic"])
        picture = Image(io.BytesIO(png))
        scale = min(width / picture.imageWidth, (9 * cm) / picture.imageHeight)
        picture.drawWidth = picture.imageWidth * scale
        picture.drawHeight = picture.imageHeight * scale
        flow.append(KeepTogether([picture, caption, Spacer(1, 0.3 * cm)]))
    return flow


def build_pdf(version: ReportVersion) -> bytes:
    """Render ``version`` (signed or, for a preview, draft) as PDF bytes."""
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], leading=14)
    # A heading never ends a page: it moves to the next one with what it introduces.
    heading = ParagraphStyle("heading", parent=styles["Heading3"], keepWithNext=1)
    buffer = io.BytesIO()
    study = version.report.study
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=2 * cm,
        rightMargin=2 * cm,
        topMargin=2 * cm,
        bottomMargin=2 * cm,
        title=f"Radiology report, study #{study.pk}",
        author=version.signed_by_name or "",
        creator="DICOM Portal",
    )
    title = "Radiology report"
    if version.is_addendum:
        title += f" (addendum, version {version.number})"
    flow: list[Flowable] = [Paragraph(title, styles["Title"])]
    table = Table(
        [[label, value] for label, value in study_summary(version)],
        colWidths=[4 * cm, doc.width - 4 * cm],
    )
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold"),
                ("TEXTCOLOR", (0, 0), (0, -1), colors.HexColor("#344054")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, -1), (-1, -1), 0.5, colors.HexColor("#d0d5dd")),
            ]
        )
    )
    flow += [table, Spacer(1, 0.4 * cm)]
    if version.is_addendum and version.addendum_reason.strip():
        flow += [
            Paragraph("Reason for addendum", heading),
            Paragraph(_text(version.addendum_reason), body),
        ]
    for _name, label, text in version.sections():
        if text.strip():
            flow += [Paragraph(label, heading), Paragraph(_text(text), body)]
    if version.key_images:
        first, *rest = _key_images(version, doc.width)
        # The heading goes with the first picture (keepWithNext does not hold across a
        # KeepTogether in reportlab).
        flow += [KeepTogether([Paragraph("Key images", heading), first]), *rest]
    signed = timezone.localtime(version.signed_at) if version.signed_at else None
    signature = (
        f"Signed by {escape(version.signed_by_name)} on {signed:%Y-%m-%d %H:%M %Z}"
        if signed
        else "DRAFT - not signed"
    )
    flow += [
        Spacer(1, 0.6 * cm),
        KeepTogether(
            [
                Paragraph(f"<b>{signature}</b>", body),
                Paragraph(f"Report version {version.number}", styles["Italic"]),
            ]
        ),
    ]
    footer = f"Radiology report · portal study #{study.pk} · version {version.number}"
    canvas = type("ReportCanvas", (NumberedCanvas,), {"footer": footer})
    doc.build(flow, canvasmaker=canvas)
    return buffer.getvalue()


def ensure_pdf(version_id: int) -> str:
    """The storage name of a signed version's PDF, generating and storing it if needed.

    Idempotent: a PDF already stored is reused; of two concurrent generations one
    file is kept and the other deleted.

    Raises
    ------
    Conflict
        The version is not signed.
    """
    version = ReportVersion.objects.select_related("report__study", "report__review_request").get(
        pk=version_id
    )
    if version.status != VersionStatus.SIGNED:
        raise Conflict("Only a signed report has a PDF.")
    if version.pdf and default_storage.exists(version.pdf):
        return version.pdf
    data = build_pdf(version)
    study_id = version.report.study_id
    name = default_storage.save(
        f"reports/{study_id}/report-{study_id}-v{version.number}-{uuid.uuid4().hex[:8]}.pdf",
        ContentFile(data),
    )
    with transaction.atomic():
        locked = ReportVersion.objects.select_for_update().get(pk=version_id)
        if locked.pdf and locked.pdf != version.pdf and default_storage.exists(locked.pdf):
            default_storage.delete(name)  # another worker stored it meanwhile
            return locked.pdf
        locked.pdf = name
        locked.save(update_fields=["pdf"])
    log.info("report version %s: PDF stored (%d bytes)", version_id, len(data))
    return name
