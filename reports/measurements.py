"""The values of a report's annotations, measured on the server from the stored pixels.

One place says what an annotation measures (``uploads/dicom/roi.py`` does the
arithmetic): the key images' captions, the labels drawn on them and the DICOM SR export
all use :func:`measure`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from uploads.dicom import roi


@dataclass(frozen=True)
class Measurement:
    """What one annotation measures: named values with their units."""

    kind: str
    values: dict[str, tuple[float, str]]  # name -> (value, unit)

    def label(self) -> str:
        """A short text in plain words, e.g. "12.3 mm" or "mean 41.2 HU, SD 3.1"."""
        v = self.values
        if self.kind == "length":
            return f"{v['length'][0]:.1f} {v['length'][1]}"
        if self.kind == "angle":
            return f"{v['angle'][0]:.1f}°"
        if self.kind == "probe":
            return _with_unit(v["value"])
        if "mean" not in v:
            return ""
        area = v["area"]
        return (
            f"mean {_with_unit(v['mean'])}, SD {v['sd'][0]:.1f}, "
            f"min {v['min'][0]:.0f}, max {v['max'][0]:.0f}, area {area[0]:.1f} {area[1]}"
        )


def _with_unit(value: tuple[float, str]) -> str:
    return f"{value[0]:.1f} {value[1]}".strip()


def measure(mark: dict[str, Any], frame: roi.ModalityFrame | None) -> Measurement:
    """Measure one cleaned annotation on its decoded frame (None: geometry only)."""
    kind = mark["kind"]
    pts = [(float(x), float(y)) for x, y in mark["points"]]
    spacing = frame.spacing if frame is not None else None
    values: dict[str, tuple[float, str]] = {}
    if kind == "length":
        values["length"] = roi.length(pts[0], pts[1], spacing)
    elif kind == "angle":
        values["angle"] = (roi.angle(pts[0], pts[1], pts[2], spacing), "deg")
    elif frame is not None and kind == "probe":
        with contextlib.suppress(ValueError):  # a point on the image's far edge
            values["value"] = (roi.probe(frame, *pts[0]), frame.unit)
    elif frame is not None:
        try:
            stats = roi.roi_stats(frame, kind, *pts[0], *pts[1])
        except ValueError:  # no whole pixel inside
            stats = None
        if stats is not None:
            for name in ("mean", "sd", "min", "max"):
                values[name] = (getattr(stats, name), stats.unit)
            values["area"] = (stats.area, stats.area_unit)
    return Measurement(kind, values)
