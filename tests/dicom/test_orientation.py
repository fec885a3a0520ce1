"""Orientation markers from Image Orientation (Patient) (uploads/dicom/orientation.py)."""

from __future__ import annotations

import pydicom
from pydicom.data import get_testdata_file

from uploads.dicom import orientation


def test_axial_image_has_r_l_a_p_at_its_edges() -> None:
    labels = orientation.edge_labels([1, 0, 0, 0, 1, 0])
    assert labels == {"left": "R", "right": "L", "top": "A", "bottom": "P"}


def test_coronal_and_sagittal() -> None:
    assert orientation.edge_labels([1, 0, 0, 0, 0, -1]) == {
        "left": "R", "right": "L", "top": "H", "bottom": "F",
    }  # fmt: skip
    assert orientation.edge_labels([0, 1, 0, 0, 0, -1]) == {
        "left": "A", "right": "P", "top": "H", "bottom": "F",
    }  # fmt: skip


def test_oblique_direction_names_its_main_components_strongest_first() -> None:
    assert orientation.letters([0.8, 0.6, 0.0]) == "LP"
    assert orientation.letters([-0.2, 0.98, 0.0]) == "P"
    assert orientation.letters([0.0, -0.5, -0.866]) == "FA"


def test_read_from_a_real_file() -> None:
    ds = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")), stop_before_pixels=True)
    cosines = orientation.image_orientation(ds)
    assert cosines == [float(v) for v in ds.ImageOrientationPatient]
    ds2 = pydicom.Dataset()
    assert orientation.image_orientation(ds2) is None
