"""Slice grouping, anatomical sorting and spacing statistics (PS3.3 C.7.6.2.1.1)."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from uploads.dicom.series import (
    SliceInfo,
    group_by_series,
    slice_info,
    slice_normal,
    slice_positions,
    slice_spacing,
    sort_slices,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "dicom"
GE_CT = SHARED / "dcm_qa_ct" / "GE"


@pytest.fixture(scope="module")
def ge_series() -> list[SliceInfo]:
    files = sorted(GE_CT.glob("*.dcm"))
    if len(files) != 28:
        pytest.skip(f"{GE_CT} is absent (shared sample data lives beside the repository)")
    return [slice_info(pydicom.dcmread(f, stop_before_pixels=True), key=f.name) for f in files]


def test_ge_tilted_series_sorts_back_from_any_order(ge_series: list[SliceInfo]) -> None:
    expected = [f"{i:02d}.dcm" for i in range(1, 29)]  # files are numbered head-wards
    rng = random.Random(1234)
    for _ in range(10):
        shuffled = ge_series[:]
        rng.shuffle(shuffled)
        # hide the instance numbers so only geometry can order them
        stripped = [
            SliceInfo(
                s.sop_instance_uid,
                s.series_instance_uid,
                None,
                s.image_position,
                s.image_orientation,
                key=s.key,
            )
            for s in shuffled
        ]
        assert [s.key for s in sort_slices(stripped)] == expected
        assert [s.key for s in sort_slices(shuffled)] == expected


def test_ge_series_spacing_is_uneven_and_tilted(ge_series: list[SliceInfo]) -> None:
    stats = slice_spacing(reversed(ge_series))
    assert stats.count == 28 and len(stats.gaps) == 27
    assert not stats.uniform
    assert stats.duplicates == 0
    # 13 gaps of ~4 mm, one short step, then ~7 mm (slice thickness 4 then 7 mm)
    assert stats.gaps[:13] == pytest.approx([4.0019] * 13, abs=1e-3)
    assert stats.gaps[13] == pytest.approx(1.081, abs=1e-3)
    assert stats.gaps[14:] == pytest.approx([6.9986] * 13, abs=1e-3)
    assert stats.minimum == pytest.approx(1.081, abs=1e-3)
    assert stats.maximum == pytest.approx(6.9986, abs=1e-3)
    # the gantry tilt (0018,1120) is +18.5°: positions step obliquely to the normal
    tilt = float(pydicom.dcmread(GE_CT / "01.dcm", stop_before_pixels=True).GantryDetectorTilt)
    assert stats.tilt_degrees == pytest.approx(abs(tilt), abs=0.05)


def test_ge_series_groups_into_one(ge_series: list[SliceInfo]) -> None:
    groups = group_by_series(reversed(ge_series))
    assert len(groups) == 1
    (members,) = groups.values()
    assert [m.key for m in members][:2] == ["01.dcm", "02.dcm"]


def _axial(uid: str, z: float | None, number: int | None, series: str = "1.2.3") -> SliceInfo:
    return SliceInfo(
        sop_instance_uid=uid,
        series_instance_uid=series,
        instance_number=number,
        image_position=None if z is None else (-100.0, -100.0, z),
        image_orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    )


def test_position_beats_misleading_instance_numbers() -> None:
    slices = [_axial("1.1", 10.0, 3), _axial("1.2", 0.0, 1), _axial("1.3", 5.0, 9)]
    assert [s.sop_instance_uid for s in sort_slices(slices)] == ["1.2", "1.3", "1.1"]


def test_falls_back_to_instance_number_then_uid() -> None:
    slices = [_axial("1.9", None, 2), _axial("1.3", 5.0, None), _axial("1.1", None, None)]
    assert [s.sop_instance_uid for s in sort_slices(slices)] == ["1.9", "1.1", "1.3"]


def test_same_position_ordered_by_acquisition_then_instance() -> None:
    a = SliceInfo("1.5", "s", 2, (0, 0, 0.0), (1, 0, 0, 0, 1, 0), acquisition_number=2)
    b = SliceInfo("1.4", "s", 7, (0, 0, 0.0), (1, 0, 0, 0, 1, 0), acquisition_number=1)
    c = SliceInfo("1.6", "s", 1, (0, 0, 0.0), (1, 0, 0, 0, 1, 0), acquisition_number=1)
    assert [s.sop_instance_uid for s in sort_slices([a, b, c])] == ["1.6", "1.4", "1.5"]
    stats = slice_spacing([a, b, c])
    assert stats.duplicates == 2 and not stats.uniform


def test_sagittal_and_coronal_normals() -> None:
    assert slice_normal((0, 1, 0, 0, 0, -1)) == pytest.approx((-1, 0, 0))  # sagittal
    assert slice_normal((1, 0, 0, 0, 0, -1)) == pytest.approx((0, 1, 0))  # coronal
    assert slice_normal((1, 0, 0, 1, 0, 0)) is None  # degenerate
    sagittal = [
        SliceInfo(str(i), "s", None, (x, 0.0, 0.0), (0, 1, 0, 0, 0, -1))
        for i, x in enumerate([3.0, -3.0, 0.0])
    ]
    # normal points to -x: ascending projection is descending x
    assert [s.image_position[0] for s in sort_slices(sagittal)] == [3.0, 0.0, -3.0]
    assert slice_positions(sagittal) == pytest.approx([-3.0, 3.0, 0.0])


def test_uniform_spacing() -> None:
    slices = [_axial(f"1.{i}", 2.5 * i, i) for i in range(10)]
    stats = slice_spacing(slices[::-1])
    assert stats.uniform and stats.median == pytest.approx(2.5)
    assert stats.tilt_degrees == pytest.approx(0.0, abs=1e-6)
    single = slice_spacing(slices[:1])
    assert single.count == 1 and single.gaps == () and not single.uniform


def test_group_by_series_splits() -> None:
    slices = [_axial("1.1", 1.0, 1, "A"), _axial("1.2", 0.0, 2, "B"), _axial("1.3", 0.0, 1, "A")]
    groups = group_by_series(slices)
    assert list(groups) == ["A", "B"]
    assert [s.sop_instance_uid for s in groups["A"]] == ["1.3", "1.1"]


def test_slice_info_from_enhanced_multiframe() -> None:
    path = get_testdata_file("eCT_Supplemental.dcm", download=False)
    if path is None:
        pytest.skip("pydicom-data missing")
    ds = pydicom.dcmread(str(path), stop_before_pixels=True)
    info = slice_info(ds)
    assert info.number_of_frames == 2
    assert info.image_orientation == pytest.approx((-1, 0, 0, 0, 1, 0))
    assert info.image_position is not None and len(info.image_position) == 3
    assert all(math.isfinite(v) for v in info.image_position)


def test_slice_info_from_mr() -> None:
    path = get_testdata_file("MR_small.dcm", download=False)
    assert path is not None
    ds = pydicom.dcmread(str(path), stop_before_pixels=True)
    info = slice_info(ds, key="x")
    assert info.sop_instance_uid == ds.SOPInstanceUID
    assert info.series_instance_uid == ds.SeriesInstanceUID
    assert info.image_position == pytest.approx(tuple(float(v) for v in ds.ImagePositionPatient))
    assert info.key == "x"
