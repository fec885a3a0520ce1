"""Region statistics and pixel probe in modality units (uploads/dicom/roi.py)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from uploads.dicom import roi
from uploads.dicom.errors import DicomInputError


def ct_path() -> str:
    return str(get_testdata_file("CT_small.dcm"))


def test_ct_values_are_hounsfield_units_from_slope_and_intercept() -> None:
    ds = pydicom.dcmread(ct_path())
    frame = roi.modality_frame(ct_path())
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert frame.unit == "HU"
    assert float(ds.RescaleIntercept) != 0  # the test means something
    np.testing.assert_allclose(frame.values, expected)
    assert frame.spacing == (float(ds.PixelSpacing[0]), float(ds.PixelSpacing[1]))


def test_rectangle_statistics_equal_numpy_on_the_same_pixels() -> None:
    frame = roi.modality_frame(ct_path())
    # Corners on pixel edges: columns 10..29 and rows 40..59 are inside.
    stats = roi.roi_stats(frame, "rectangle", 10, 40, 30, 60)
    block = frame.values[40:60, 10:30]
    assert stats.pixels == 400
    assert stats.mean == pytest.approx(block.mean())
    assert stats.sd == pytest.approx(block.std())
    assert (stats.min, stats.max) == (block.min(), block.max())
    assert stats.area == pytest.approx(400 * frame.spacing[0] * frame.spacing[1])
    assert stats.area_unit == "mm²"
    # Corners given the other way round describe the same rectangle.
    assert roi.roi_stats(frame, "rectangle", 30, 60, 10, 40) == stats


def test_ellipse_takes_the_pixels_whose_centres_are_inside() -> None:
    values = np.arange(100 * 100, dtype=np.float64).reshape(100, 100)
    frame = roi.ModalityFrame(values, None, "")
    stats = roi.roi_stats(frame, "ellipse", 20, 30, 60, 50)
    cols, rows = np.meshgrid(np.arange(100) + 0.5, np.arange(100) + 0.5)
    inside = ((cols - 40) / 20) ** 2 + ((rows - 40) / 10) ** 2 <= 1
    assert stats.pixels == int(inside.sum())
    assert stats.mean == pytest.approx(values[inside].mean())
    assert stats.area_unit == "px" and stats.area == inside.sum()
    # An ellipse holds fewer pixels than its box (about pi/4 of them).
    assert stats.pixels == pytest.approx(800 * np.pi / 4, rel=0.05)


def test_region_is_clipped_to_the_image_and_an_empty_one_is_refused() -> None:
    frame = roi.ModalityFrame(np.ones((10, 10)), None, "")
    assert roi.roi_stats(frame, "rectangle", -5, -5, 3, 3).pixels == 9
    with pytest.raises(ValueError, match="too small"):
        roi.roi_stats(frame, "rectangle", 2.6, 2.6, 3.4, 3.4)
    with pytest.raises(ValueError, match="too small"):
        roi.roi_stats(frame, "ellipse", 20, 20, 30, 30)
    with pytest.raises(ValueError, match="shape"):
        roi.roi_stats(frame, "polygon", 0, 0, 3, 3)


def test_probe_reads_the_pixel_under_the_point() -> None:
    frame = roi.modality_frame(ct_path())
    assert roi.probe(frame, 12.9, 7.1) == frame.values[7, 12]
    with pytest.raises(ValueError, match="outside"):
        roi.probe(frame, 128, 0)
    with pytest.raises(ValueError, match="outside"):
        roi.probe(frame, -0.5, 0)


def test_colour_image_has_no_values_to_measure() -> None:
    with pytest.raises(DicomInputError, match="colour"):
        roi.modality_frame(str(get_testdata_file("SC_rgb.dcm")))
