"""A signed report's measurements as a DICOM Structured Report (TID 1500).

The annotations of the latest signed version (``reports/annotations.py``) become a
Measurement Report (PS3.16 TID 1500) in a Comprehensive 3D SR (PS3.3 A.35.13), built
with highdicom: each length, angle, rectangle and ellipse is one Planar ROI Measurements
group (TID 1410) whose Image Region is the annotation's spatial coordinates (SCOORD,
PS3.3 C.18.6: column and row of the image, (0, 0) at the top left corner of the top
left pixel, the grid of ``uploads/dicom/roi.py``) on the referenced image and frame, with
its values measured on the stored pixels (``reports/measurements.py``). Pixel probes
are points, not regions, and are left out.

The SR joins the study's DICOM export (``uploads/sharing/exports.py`` calls
:func:`study_sr_files` through ``EXTRA_DICOM``, registered in ``reports/apps.py``).
"""

from __future__ import annotations

import io
import logging
from typing import Any

import highdicom as hd
import numpy as np
from django.core.files.storage import default_storage
from pydicom import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from reports import measurements
from reports.models import Report, ReportVersion
from uploads.dicom import roi
from uploads.dicom.errors import DicomInputError
from uploads.dicom.render import read_dataset
from uploads.models import Instance, Study

log = logging.getLogger(__name__)

SERIES_NUMBER = 9901
#: Annotation kinds that are regions (TID 1410); a pixel probe is not.
SR_KINDS = ("length", "angle", "rectangle", "ellipse")
UNITS = {
    "HU": codes.UCUM.HounsfieldUnit,
    "mm": codes.UCUM.Millimeter,
    "mm²": codes.UCUM.SquareMillimeter,
    "deg": codes.UCUM.Degree,
    "px": hd.sr.CodedConcept("{pixels}", "UCUM", "pixels"),
    "": hd.sr.CodedConcept("1", "UCUM", "no units"),
}
NAMES = {
    "length": codes.SCT.Length,
    "angle": codes.SCT.Angle,
    "mean": codes.SCT.Mean,
    "sd": codes.SCT.StandardDeviation,
    "min": codes.SCT.Minimum,
    "max": codes.SCT.Maximum,
    "area": codes.SCT.Area,
}


def _region(mark: dict[str, Any], source: Dataset) -> hd.sr.ImageRegion:
    """The annotation's SCOORD on its image and frame (PS3.3 C.18.6.1.2)."""
    pts = np.array(mark["points"], dtype=float)
    kind = mark["kind"]
    if kind == "rectangle":
        (x0, y0), (x1, y1) = pts
        pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]])
        graphic = hd.sr.GraphicTypeValues.POLYLINE
    elif kind == "ellipse":
        (x0, y0), (x1, y1) = pts
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        # Major axis end points first, then the minor axis' (C.18.6.1.2 ELLIPSE).
        horizontal = [[x0, cy], [x1, cy]]
        vertical = [[cx, y0], [cx, y1]]
        wide = abs(x1 - x0) >= abs(y1 - y0)
        pts = np.array(horizontal + vertical if wide else vertical + horizontal)
        graphic = hd.sr.GraphicTypeValues.ELLIPSE
    else:
        graphic = hd.sr.GraphicTypeValues.POLYLINE
    frames = [int(mark["frame"]) + 1] if int(source.get("NumberOfFrames", 1) or 1) > 1 else None
    return hd.sr.ImageRegion(
        graphic_type=graphic,
        graphic_data=pts,
        source_image=hd.sr.SourceImageForRegion.from_source_image(source, frames),
    )


def _group(
    index: int, mark: dict[str, Any], source: Dataset, measured: measurements.Measurement
) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations:
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=hd.UID(), identifier=f"{measurements_kind(mark)} {index}"
        ),
        referenced_region=_region(mark, source),
        measurements=[
            hd.sr.Measurement(name=NAMES[name], value=float(value), unit=UNITS[unit])
            for name, (value, unit) in measured.values.items()
        ],
    )


def measurements_kind(mark: dict[str, Any]) -> str:
    return {"length": "Length", "angle": "Angle", "rectangle": "Rectangle ROI",
            "ellipse": "Ellipse ROI"}[mark["kind"]]  # fmt: skip


def build_sr(version: ReportVersion) -> bytes | None:
    """The Measurement Report of one signed version, as a PS3.10 file (None when it has
    no annotation that makes an SR)."""
    marks = [m for m in version.annotations if m.get("kind") in SR_KINDS]
    if not marks or not version.is_signed:
        return None
    study = version.report.study
    sources: dict[int, tuple[Dataset, bytes]] = {}
    for instance in Instance.objects.filter(
        series__study=study, pk__in={m["instance_id"] for m in marks}
    ):
        with default_storage.open(instance.file, "rb") as handle:
            data = handle.read()
        sources[instance.pk] = (read_dataset(data, pixels=False), data)
    groups = []
    for index, mark in enumerate(marks, 1):
        if mark["instance_id"] not in sources:
            continue
        header, data = sources[mark["instance_id"]]
        try:
            frame = roi.modality_frame(data, int(mark["frame"]))
        except DicomInputError:  # colour: geometry only
            frame = roi.ModalityFrame(np.zeros((1, 1)), None, "")
        measured = measurements.measure(mark, frame)
        if not measured.values:
            continue
        groups.append(_group(index, mark, header, measured))
    if not groups:
        return None
    evidence = [header for header, _ in sources.values()]
    # A DICOM person name (PS3.5 6.2): the signed name as one component.
    signer = (version.signed_by_name or "Radiologist").replace("^", " ")[:60] + "^"
    first = evidence[0]
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=signer),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=observer),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion
        if str(first.get("Modality", "")) == "CT"
        else codes.DCM.ImagingProcedure,
        imaging_measurements=groups,
    )
    base = f"{study.pk}.{version.pk}"
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report,
        series_instance_uid=generate_uid(None, [f"portal-sr-series-{base}"]),
        series_number=SERIES_NUMBER,
        sop_instance_uid=generate_uid(None, [f"portal-sr-{base}"]),
        instance_number=version.number,
        manufacturer="DICOM Portal",
        is_complete=True,
        is_final=True,
        is_verified=True,
        verifying_observer_name=signer,
        verifying_organization="DICOM Portal",
    )
    out = io.BytesIO()
    sr.save_as(out, enforce_file_format=True)
    return out.getvalue()


def study_sr_files(study: Study) -> list[bytes]:
    """The SRs of the latest signed version of each report filed under the study (one per
    review request about it), for those with measurements on its images."""
    files = []
    for report in Report.objects.filter(study=study).order_by("pk"):
        version = report.latest_signed()
        if version is None:
            continue
        try:
            data = build_sr(version)
        except Exception as exc:  # one bad SR must not stop the export
            log.warning("SR of report version %s: %s", version.pk, type(exc).__name__)
            continue
        if data:
            files.append(data)
    return files
