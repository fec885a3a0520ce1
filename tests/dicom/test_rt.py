"""Radiotherapy overlay geometry (uploads/dicom/rt.py): contours in an image's plane,
dose sampled on it, isodose lines.

Real data: dicompyler-core's example RT set (a CT slice, RT Structure Set, Plan and Dose
of one breast treatment, one frame of reference), fetched from PyPI by
``scripts/fetch_testdata.py`` (``make test`` runs it); those tests skip without it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset

from uploads.dicom import rt
from uploads.dicom.errors import DicomInputError

RT_SET = Path(__file__).resolve().parents[2] / ".cache" / "testdata" / "dicompyler-core"


def rt_file(name: str) -> Dataset:
    path = RT_SET / name
    if not path.exists():
        pytest.skip("dicompyler-core test data not fetched (scripts/fetch_testdata.py)")
    return pydicom.dcmread(path)


def image(position: tuple[float, float, float], thickness: float = 2.0) -> Dataset:
    ds = Dataset()
    ds.ImagePositionPatient = list(position)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.5, 2.0]  # rows 0.5 mm apart, columns 2 mm apart
    ds.SliceThickness = thickness
    ds.Rows, ds.Columns = 40, 30
    return ds


def structure_set(*contours: tuple[str, list[Any]]) -> Dataset:
    ds = Dataset()
    ds.Modality = "RTSTRUCT"
    roi, contour_items = Dataset(), []
    roi.ROINumber, roi.ROIName = 4, "GTV"
    for kind, points in contours:
        item = Dataset()
        item.ContourGeometricType = kind
        item.ContourData = points
        contour_items.append(item)
    rc = Dataset()
    rc.ReferencedROINumber = 4
    rc.ROIDisplayColor = [255, 0, 0]
    rc.ContourSequence = contour_items
    ds.StructureSetROISequence = [roi]
    ds.ROIContourSequence = [rc]
    return ds


def test_only_contours_in_the_plane_are_drawn_in_pixel_coordinates() -> None:
    square = [10, 20, 5, 14, 20, 5, 14, 22, 5]
    above = [10, 20, 8, 14, 20, 8, 14, 22, 8]
    ds = structure_set(("CLOSED_PLANAR", square), ("CLOSED_PLANAR", above), ("POINT", [1, 2, 5]))
    (structure,) = rt.read_structures(ds)
    assert (structure.name, structure.color, len(structure.contours)) == ("GTV", "#ff0000", 2)
    plane = rt.ImagePlane.of(image((6.0, 19.0, 5.5)))  # half thickness 1 mm: z 5 is in
    assert plane is not None
    ((_, paths),) = rt.contours_on_plane([structure], plane)
    # column = (x - 6) / 2 mm, row = (y - 19) / 0.5 mm
    np.testing.assert_allclose(paths[0], [[2, 2], [4, 2], [4, 6]])
    assert len(paths) == 1  # z = 8 is 2.5 mm away
    assert rt.contours_on_plane([structure], rt.ImagePlane.of(image((6, 19, 6.5)))) == []  # type: ignore[arg-type]


def test_damaged_contour_values_are_left_out_and_non_rt_refused() -> None:
    ds = structure_set(("CLOSED_PLANAR", [1, 2, 3, 4, 5]), ("CLOSED_PLANAR", [1, 2, 3]))
    assert rt.read_structures(ds) == []  # not triplets, or a single point
    with pytest.raises(DicomInputError):
        rt.read_structures(image((0, 0, 0)))
    with pytest.raises(DicomInputError):
        rt.read_dose(image((0, 0, 0)))


def dose_grid(offsets: list[float], position: tuple[float, float, float]) -> Dataset:
    """A dose grid whose value is a linear function of the position: trilinear sampling
    must give it back exactly anywhere inside."""
    ds = Dataset()
    ds.Modality = "RTDOSE"
    ds.ImagePositionPatient = list(position)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [3.0, 2.5]
    ds.Rows, ds.Columns = 12, 10
    ds.GridFrameOffsetVector = offsets
    ds.DoseGridScaling = 0.001
    ds.DoseUnits = "GY"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelRepresentation = 0
    ds.NumberOfFrames = len(offsets)
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    z = np.asarray(offsets, float)[:, None, None]
    z = z if offsets[0] == 0 else z - position[2]
    y = np.arange(12)[None, :, None] * 3.0
    x = np.arange(10)[None, None, :] * 2.5
    values = (1000 * (2 * x + 3 * y + 5 * z + 100)).astype(np.uint32)
    ds.PixelData = values.tobytes()
    return ds


@pytest.mark.parametrize(
    ("offsets", "z"),
    [([0.0, 4.0, 8.0, 12.0], 5.0), ([-50.0, -46.0, -42.0, -38.0], 5.0),
     ([0.0, -4.0, -8.0, -12.0], -5.0)],
    ids=["relative", "absolute z", "frames towards -z"],
)  # fmt: skip
def test_dose_is_sampled_trilinearly_where_the_image_is(offsets: list[float], z: float) -> None:
    """Grid Frame Offset Vector (C.8.8.3.2): relative to the first frame when it starts
    with 0, else absolute z."""
    origin = (-10.0, 20.0, -50.0)
    grid = rt.read_dose(dose_grid(offsets, origin))
    plane = rt.ImagePlane.of(image((-8.0, 21.0, -50.0 + z)))
    assert plane is not None
    field = rt.dose_on_plane(grid, plane)
    assert field is not None
    rows, columns = np.meshgrid(np.arange(40) * 0.5, np.arange(30) * 2.0, indexing="ij")
    x, y = rows * 0 + columns + 2.0, rows + 1.0  # image → grid offsets (mm)
    inside = (x <= 9 * 2.5) & (y <= 11 * 3.0)
    expected = 2 * x + 3 * y + 5 * z + 100
    np.testing.assert_allclose(field[inside], expected[inside], rtol=1e-6)
    assert np.isnan(field[~inside]).all()
    assert rt.dose_on_plane(grid, rt.ImagePlane.of(image((-8, 21, 0)))) is None  # type: ignore[arg-type]


def test_isolines_of_a_cone_lie_on_its_circle() -> None:
    rows, columns = np.mgrid[0:64, 0:80]
    field = 30 - np.hypot(columns - 40.3, rows - 31.7)
    field[0:3, 0:3] = np.nan  # far from the circle: skipped, no error
    segments = rt.isolines(field, 10.0)  # the circle of radius 20
    ends = segments.reshape(-1, 2)
    radius = np.hypot(ends[:, 0] - 40.3, ends[:, 1] - 31.7)
    assert len(segments) > 100
    np.testing.assert_allclose(radius, 20.0, atol=0.05)
    assert len(rt.isolines(field, 100.0)) == 0


def test_real_body_contour_separates_the_patient_from_the_air() -> None:
    """On the real CT slice, the real BODY contour: soft tissue inside, air outside."""
    ct = rt_file("ct.0.dcm")
    structures = rt.read_structures(rt_file("rtss.dcm"))
    assert [s.name for s in structures][:3] == ["BODY", "Borders", "Breast"]
    plane = rt.ImagePlane.of(ct)
    assert plane is not None
    ((body, paths),) = rt.contours_on_plane(structures, plane)
    assert body.name == "BODY"
    mask = Image.new("1", (ct.Columns, ct.Rows))
    for path in paths:
        ImageDraw.Draw(mask).polygon([tuple(point) for point in path], fill=1)
    inside = np.asarray(mask)
    hu = ct.pixel_array * float(ct.RescaleSlope) + float(ct.RescaleIntercept)
    assert inside.sum() > 20_000
    assert -100 < np.median(hu[inside]) < 100  # soft tissue
    assert np.median(hu[~inside]) < -900  # air


def test_real_dose_covers_the_tumour_bed_and_spares_the_heart() -> None:
    """The real plan prescribes 14 Gy; on a plane through the tumour bed, the dose along
    its contour is about the prescription, along the heart's a few percent of it."""
    prescribed = rt.prescription_dose(rt_file("rtplan.dcm"))
    assert prescribed is not None and prescribed == pytest.approx(14.0)
    grid = rt.read_dose(rt_file("rtdose.dcm"))
    assert grid.units == "GY" and grid.values.shape == (98, 129, 194)
    structures = rt.read_structures(rt_file("rtss.dcm"))
    ct = copy.deepcopy(rt_file("ct.0.dcm"))
    ct.ImagePositionPatient = [-275.0, -524.0, -8.44]  # a contoured plane, 1 mm thick
    plane = rt.ImagePlane.of(ct)
    assert plane is not None
    field = rt.dose_on_plane(grid, plane)
    assert field is not None
    found = {s.name: np.concatenate(paths) for s, paths in rt.contours_on_plane(structures, plane)}

    def along(name: str) -> float:
        points = np.round(found[name]).astype(int)
        return float(np.nanmedian(field[points[:, 1], points[:, 0]]))

    assert along("Tumor Bed") > 0.95 * prescribed
    assert along("Heart") < 0.1 * prescribed
    assert len(rt.isolines(field, 0.95 * prescribed)) > 50
