"""Multiplanar reformat (uploads/dicom/volume.py, uploads/dicom/mpr.py).

The planes of the real tilted, unevenly spaced GE head CT are compared pixel by pixel with
the NIfTI export of the same series, reoriented by nibabel (an independent implementation
of "closest canonical axes"); synthetic stacks with a marker voxel check which side of the
screen each side of the patient lands on.
"""

from __future__ import annotations

import io
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from uploads.dicom.formats import VolumeError, plan_volume, slice_pixels, write_nifti
from uploads.dicom.mpr import plane_layout, plane_values, render_plane
from uploads.dicom.render import Window
from uploads.dicom.volume import load_volume

REPO = Path(__file__).resolve().parents[2]
GE_CT = REPO.parent / "shared" / "dicom" / "dcm_qa_ct" / "GE"


def ge_files() -> list[Path]:
    files = sorted(GE_CT.glob("*.dcm"))
    if not files:
        pytest.skip("../shared/dicom is absent")
    return files


@pytest.fixture(scope="module")
def ge_volume_and_nifti(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    files = ge_files()
    volume = load_volume([f.read_bytes() for f in files])
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    plan = plan_volume(headers)
    path = tmp_path_factory.mktemp("mpr") / "ge.nii"
    write_nifti(plan, (slice_pixels(files[i]) for i in plan.order), path)
    return volume, nib.as_closest_canonical(nib.load(path))


def test_planes_of_the_tilted_ct_match_the_nifti_export(ge_volume_and_nifti: tuple) -> None:
    """Each plane, in HU, equals the exported volume's plane: nibabel's RAS canonical array
    shown as radiologists read it (patient's left on the screen's right; superior up;
    anterior on the left of a sagittal plane). The index of a plane is found from world
    coordinates through the two affines."""
    volume, canonical = ge_volume_and_nifti
    hu = canonical.get_fdata(dtype=np.float32)  # [x (→R), y (→A), z (→S)]
    to_canonical = np.linalg.inv(canonical.affine)
    ras_of_voxel = np.diag([-1.0, -1.0, 1.0, 1.0]) @ volume.affine
    expected_of = {  # canonical plane → screen (rows, columns)
        "axial": lambda z: hu[::-1, ::-1, z].T,  # right→left across, anterior→posterior down
        "coronal": lambda y: hu[::-1, y, ::-1].T,  # right→left across, superior→inferior down
        "sagittal": lambda x: hu[x, ::-1, ::-1].T,  # anterior→posterior across, sup→inf down
    }
    canonical_axis = {"sagittal": 0, "coronal": 1, "axial": 2}
    compared = 0
    for plane, expected in expected_of.items():
        layout = plane_layout(volume, plane)
        for index in np.linspace(0, layout.count - 1, 7).astype(int):
            voxel = np.zeros(4)
            voxel[layout.fixed], voxel[3] = index, 1
            where = to_canonical @ ras_of_voxel @ voxel
            ours = volume.modality_values(plane_values(volume, layout, int(index)))
            theirs = expected(round(where[canonical_axis[plane]]))
            assert ours.shape == theirs.shape, plane
            assert np.abs(ours - theirs).max() <= 0.5, (plane, index)
            compared += ours.size
    assert compared > 3_000_000


def test_rendered_plane_is_the_windowed_export(ge_volume_and_nifti: tuple) -> None:
    """The PNG of a coronal plane is the export's plane in the same window, stretched to
    square pixels (1.33 mm slices, 0.49 mm pixels: 109 planes make 298 rows)."""
    volume, canonical = ge_volume_and_nifti
    layout = plane_layout(volume, "coronal")
    assert (layout.width, layout.height) == (512, 298)
    png = render_plane(volume, "coronal", 300, window=Window(40, 80))
    shown = np.asarray(Image.open(io.BytesIO(png)))
    assert shown.shape == (298, 512)
    ras_of_voxel = np.diag([-1.0, -1.0, 1.0, 1.0]) @ volume.affine
    y = round((np.linalg.inv(canonical.affine) @ ras_of_voxel @ [0, 300, 0, 1])[1])
    hu = canonical.get_fdata(dtype=np.float32)[::-1, y, ::-1].T
    grey = np.clip(((hu - 39.5) / 79 + 0.5) * 255 + 0.5, 0, 255).astype(np.uint8)
    stretched = np.asarray(Image.fromarray(grey).resize((512, 298), Image.Resampling.BILINEAR))
    assert np.abs(shown.astype(int) - stretched).mean() < 1.0


def marker_stack(orientation: list[float], count: int = 6) -> list[Dataset]:
    """A 8×10 stack along the orientation's normal, 1 mm voxels, zero everywhere but one
    voxel at the patient's far left (+x), posterior (+y) and superior (+z) corner."""
    row, column = np.array(orientation[:3]), np.array(orientation[3:])
    normal = np.cross(row, column)
    datasets: list[Dataset] = []
    series, frame = generate_uid(), generate_uid()
    for k in range(count):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID, ds.FrameOfReferenceUID, ds.Modality = series, frame, "MR"
        ds.ImageOrientationPatient = orientation
        ds.ImagePositionPatient = [float(v) for v in k * normal]
        ds.PixelSpacing = [1, 1]
        ds.Rows, ds.Columns = 8, 10
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        pixels = np.zeros((8, 10), np.uint16)
        for j in range(8):
            for i in range(10):
                world = i * row + j * column + k * normal
                pixels[j, i] = (
                    1000 if np.allclose(world, _corner(row, column, normal, count)) else 0
                )
        ds.PixelData = pixels.tobytes()
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        datasets.append(pydicom.dcmread(io.BytesIO(buffer.getvalue())))
    return datasets


def _corner(row: np.ndarray, column: np.ndarray, normal: np.ndarray, count: int) -> np.ndarray:
    """The voxel centre with the largest x, then y, then z (left, posterior, superior)."""
    points = [i * row + j * column + k * normal
              for i in range(10) for j in range(8) for k in range(count)]  # fmt: skip
    return max(points, key=lambda p: (round(p[0], 6), round(p[1], 6), round(p[2], 6)))


@pytest.mark.parametrize(
    "orientation",
    [
        [1, 0, 0, 0, 1, 0],  # axial
        [-1, 0, 0, 0, 1, 0],  # axial, rows running to the patient's right
        [0, 1, 0, 0, 0, -1],  # sagittal acquisition
        [1, 0, 0, 0, 0, -1],  # coronal acquisition
    ],
)
def test_the_patient_lands_on_the_conventional_side_of_each_plane(orientation: list[float]) -> None:
    """Left-posterior-superior marker: at the screen's right and bottom of the axial plane,
    right and top of the coronal one, right and top of the sagittal one, whatever the
    acquisition's orientation."""
    volume = load_volume(marker_stack([float(v) for v in orientation]))
    where = {"axial": ("right", "bottom"), "coronal": ("right", "top"),
             "sagittal": ("right", "top")}  # fmt: skip
    for plane, (across, down) in where.items():
        layout = plane_layout(volume, plane)
        best = max(range(layout.count),
                   key=lambda n: plane_values(volume, layout, n).max())  # fmt: skip
        values = plane_values(volume, layout, best)
        row, column = np.unravel_index(int(values.argmax()), values.shape)
        assert column == (values.shape[1] - 1 if across == "right" else 0), plane
        assert row == (values.shape[0] - 1 if down == "bottom" else 0), plane


def test_thick_slab_is_a_maximum_intensity_projection() -> None:
    volume = load_volume(marker_stack([1.0, 0, 0, 0, 1, 0]))
    layout = plane_layout(volume, "axial")
    top = layout.count - 1
    assert plane_values(volume, layout, top - 2).max() == 0
    assert plane_values(volume, layout, top - 2, slab=5).max() == 1000
    with pytest.raises(ValueError, match="does not exist"):
        plane_values(volume, layout, layout.count)
    with pytest.raises(ValueError, match="slab"):
        plane_values(volume, layout, 0, slab=0)


def test_a_series_that_is_not_a_stack_is_refused_in_words() -> None:
    stack = marker_stack([1.0, 0, 0, 0, 1, 0])
    stack[2].ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    with pytest.raises(VolumeError, match="same orientation"):
        load_volume(stack)
