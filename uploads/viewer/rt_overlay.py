"""Radiotherapy overlay of one image: the study's structure contours and isodose lines
in the image's plane, as vectors in the image's pixel coordinates (the viewer draws them
over the server-rendered PNG). The geometry is in ``uploads/dicom/rt.py``."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from django.core.files.storage import default_storage
from pydicom.dataset import Dataset

from uploads.dicom import rt
from uploads.dicom.errors import DicomInputError
from uploads.dicom.render import read_dataset
from uploads.models import Instance, Study

RT_MODALITIES = ("RTSTRUCT", "RTDOSE", "RTPLAN")


def rt_instances(study: Study) -> list[Instance]:
    """The study's structure sets, dose grids and plans."""
    return list(
        Instance.objects.filter(series__study=study, series__modality__in=RT_MODALITIES)
        .select_related("series")
        .order_by("series__number", "id")
    )


def _read(name: str, pixels: bool = False) -> Dataset:
    with default_storage.open(name, "rb") as handle:
        return read_dataset(handle, pixels=pixels)


# Parsed RT objects per stored file (a file's name holds its UIDs; it never changes).
@lru_cache(maxsize=8)
def _structures(name: str) -> tuple[str, list[rt.Structure]]:
    ds = _read(name)  # contours (group 3006) come before any pixel data
    refs = ds.get("ReferencedFrameOfReferenceSequence") or []
    frame = str(refs[0].get("FrameOfReferenceUID") or "") if refs else ""
    return str(ds.get("FrameOfReferenceUID") or frame), rt.read_structures(ds)


@lru_cache(maxsize=4)
def _dose(name: str) -> tuple[str, rt.DoseGrid, str]:
    ds = _read(name, pixels=True)
    plans = ds.get("ReferencedRTPlanSequence") or []
    plan_uid = str(plans[0].get("ReferencedSOPInstanceUID") or "") if plans else ""
    return str(ds.get("FrameOfReferenceUID") or ""), rt.read_dose(ds), plan_uid


@lru_cache(maxsize=8)
def _plan(name: str) -> tuple[str, str, float | None]:
    ds = _read(name)
    uid = str(ds.get("SOPInstanceUID") or "")
    return str(ds.get("FrameOfReferenceUID") or ""), uid, rt.prescription_dose(ds)


def overlay(image: Instance, frame: int = 0) -> dict[str, Any]:
    """Contours and isodose lines of the image's study that lie in the image's plane.

    Coordinates are the image's (column, row) pixel coordinates, pixel centres at whole
    numbers. Isodose levels are percentages of the plan's prescription dose (of the dose
    grid's maximum when no plan of the same frame of reference gives one).
    """
    header = _read(image.file)
    plane = rt.ImagePlane.of(header) if frame == 0 else None
    result: dict[str, Any] = {
        "columns": image.columns, "rows": image.rows, "structures": [], "isodose": [],
        "reference": None, "note": "",
    }  # fmt: skip
    if plane is None:
        result["note"] = "this image has no single plane (Image Plane attributes)"
        return result
    own_frame = str(header.get("FrameOfReferenceUID") or "")
    objects = rt_instances(image.series.study)
    plans = {}
    for instance in objects:
        if instance.series.modality == "RTPLAN":
            try:
                frame_uid, uid, dose = _plan(instance.file)
            except DicomInputError:
                continue
            if frame_uid == own_frame:
                plans[uid] = dose
    for instance in objects:
        try:
            if instance.series.modality == "RTSTRUCT":
                frame_uid, structures = _structures(instance.file)
                if frame_uid == own_frame:
                    result["structures"] += structure_paths(structures, plane)
            elif instance.series.modality == "RTDOSE" and not result["isodose"]:
                frame_uid, grid, plan_uid = _dose(instance.file)
                if frame_uid == own_frame:
                    prescribed = plans.get(plan_uid) or next((d for d in plans.values() if d), None)
                    result.update(isodose_lines(grid, plane, prescribed))
        except DicomInputError:
            continue  # a damaged RT object: the others are still drawn
    if not objects:
        result["note"] = "no RT structure set or dose in this study"
    elif not (result["structures"] or result["isodose"]):
        result["note"] = "nothing of the RT objects lies in this image's plane"
    return result


def structure_paths(structures: list[rt.Structure], plane: rt.ImagePlane) -> list[dict[str, Any]]:
    return [
        {
            "name": structure.name,
            "color": structure.color,
            "paths": [np.round(path, 1).ravel().tolist() for path in paths],
        }
        for structure, paths in rt.contours_on_plane(structures, plane)
    ]


def isodose_lines(
    grid: rt.DoseGrid, plane: rt.ImagePlane, prescribed: float | None
) -> dict[str, Any]:
    step = max(1, plane.columns // 256)  # a dose grid is coarser than 2 pixels anyway
    field = rt.dose_on_plane(grid, plane, step)
    if field is None or not np.isfinite(field).any():
        return {}
    source = "plan prescription" if prescribed else "dose grid maximum"
    dose = prescribed or float(grid.values.max())
    reference = {"dose": dose, "units": grid.units, "source": source}
    lines = []
    for percent, color in rt.DEFAULT_LEVELS:
        level = dose * percent / 100
        segments = rt.isolines(field, level) * step
        if len(segments):
            lines.append(
                {"percent": percent, "dose": round(level, 3), "color": color,
                 "segments": np.round(segments, 1).ravel().tolist()}
            )  # fmt: skip
    return {"isodose": lines, "reference": reference}
