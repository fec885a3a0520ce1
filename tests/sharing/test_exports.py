"""Exports through the views and the task: DICOM + DICOMDIR, PNG, NIfTI; who may download."""

from __future__ import annotations

import io
import re
import subprocess
import tempfile
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone
from PIL import Image
from pydicom.fileset import FileSet

from portal.audit.models import AuditEvent
from tests.sharing.conftest import import_files, open_link
from tests.sharing.factories import make_link
from uploads.models import Export, ExportStatus, Instance, ReviewRequest, Study
from uploads.sharing import exports

pytestmark = pytest.mark.django_db

ISO_COMPONENT = re.compile(r"^[A-Z0-9_]{1,8}$")


def request_export(client: Any, study: Any, kind: str, capture: Any, **data: Any) -> Export:
    """POST the export form (as the page's script does) and run the queued task."""
    with capture(execute=True):
        response = client.post(
            f"/studies/{study.pk}/exports/new/", {"kind": kind, **data},
            headers={"Accept": "application/json"},
        )  # fmt: skip
    assert response.status_code == 202, response.content
    return Export.objects.get(pk=response.json()["id"])


def download(client: Any, export: Export) -> bytes:
    response = client.get(f"/exports/{export.pk}/download/")
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "application/zip"
    assert (
        f'filename="study-{export.study_id}-{export.kind}.zip"' in response["Content-Disposition"]
    )
    data = b"".join(response.streaming_content)
    return data


def ordered_instances(study: Any) -> list[Instance]:
    return list(
        Instance.objects.filter(series__study=study).order_by(
            "series__number", "series_id", "slice_position", "instance_number", "id"
        )
    )


def stored_bytes(instance: Instance) -> bytes:
    with default_storage.open(instance.file, "rb") as handle:
        return bytes(handle.read())


@pytest.mark.usefixtures("storage")
def test_dicom_export_is_a_file_set_read_by_pydicom_and_dcmdump(
    login: Any, patient: Any, imported_study: Any, tmp_path: Path,
    django_capture_on_commit_callbacks: Any, monkeypatch: Any,
) -> None:  # fmt: skip
    # Files are streamed from storage into the ZIP, never read whole into memory.
    def whole_read(instance: Any) -> bytes:
        raise AssertionError("a DICOM export must not read whole files into memory")

    monkeypatch.setattr(exports, "read_instance", whole_read)
    client = login(patient)
    export = request_export(client, imported_study, "dicom", django_capture_on_commit_callbacks)
    assert export.status == ExportStatus.DONE and export.progress == 100, export.error
    assert export.file.startswith(f"exports/{imported_study.pk}/") and default_storage.exists(
        export.file
    )
    listing = client.get(f"/studies/{imported_study.pk}/exports/").json()["exports"]
    assert listing[0]["id"] == export.pk and listing[0]["download"].endswith("/download/")
    archive = zipfile.ZipFile(io.BytesIO(download(client, export)))
    names = archive.namelist()
    assert names[0] == "DICOMDIR" and len(names) == 21
    for name in names:  # ISO 9660 level 1 file IDs
        assert all(ISO_COMPONENT.match(part) for part in name.split("/")), name
    media = tmp_path / "media"
    archive.extractall(media)
    fileset = FileSet(media / "DICOMDIR")
    assert len(fileset) == 20
    instances = {
        i.sop_instance_uid: i for i in Instance.objects.filter(series__study=imported_study)
    }
    for entry in fileset:
        assert entry.StudyInstanceUID == imported_study.study_instance_uid
        # The exported file is the stored, de-identified file, byte for byte.
        assert Path(entry.path).read_bytes() == stored_bytes(instances[entry.SOPInstanceUID])
    assert {entry.SOPInstanceUID for entry in fileset} == set(instances)
    assert len(fileset.find(Modality="MR")) == 20
    dump = subprocess.run(
        ["dcmdump", "-q", str(media / "DICOMDIR")], capture_output=True, text=True, timeout=60
    )
    assert dump.returncode == 0, dump.stderr
    assert "=MediaStorageDirectoryStorage" in dump.stdout
    assert dump.stdout.count("CS [IMAGE]") == 20 and dump.stdout.count("ReferencedFileID") == 20
    assert "(0004,1220)" in dump.stdout  # Directory Record Sequence
    # dcmdump can also follow the File IDs: every referenced file exists and parses.
    file_ids = re.findall(r"\[([A-Z0-9_\\]+)\]\s+#\s+\d+,\s+\d+\s+ReferencedFileID", dump.stdout)
    assert len(file_ids) == 20
    for file_id in file_ids:
        assert media.joinpath(*file_id.split("\\")).is_file(), file_id
    first = subprocess.run(["dcmdump", "-q", str(media / names[1])], capture_output=True,
                           text=True, timeout=60)  # fmt: skip
    assert first.returncode == 0 and "PatientIdentityRemoved" in first.stdout
    events = AuditEvent.objects.filter(object_type="uploads.export", object_id=str(export.pk))
    assert {e.action for e in events} == {"export.requested", "export.downloaded"}


def export_and_import(
    client: Any, study: Any, owner: Any, tmp_path: Path, capture: Any
) -> list[dict[str, Any]]:
    """Export the study as a DICOM ZIP, download it, and import it for ``owner``."""
    export = request_export(client, study, "dicom", capture)
    path = tmp_path / "export.zip"
    path.write_bytes(download(client, export))
    return import_files([path], owner)


def test_exported_zip_imports_into_the_portal(
    login: Any, patient: Any, other_patient: Any, imported_study: Any, tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    lines = export_and_import(
        login(patient), imported_study, other_patient, tmp_path, django_capture_on_commit_callbacks
    )
    studies = [line for line in lines if line["study"] is not None]
    assert len(studies) == 1 and studies[0]["instances_stored"] == 20, lines
    rejected = [r for line in lines for r in line["rejected"]]
    assert all("DICOMDIR" in r["file"] for r in rejected), rejected  # only the index
    copy = Study.objects.get(pk=studies[0]["study"])
    assert copy.owner == other_patient and copy.series.get().instances.count() == 20


def test_exported_zip_reimports_as_the_same_study(
    login: Any, patient: Any, other_patient: Any, imported_study: Any, tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    """The owner's own export sent back lands in the same study (the server issued its
    UIDs for this account); another account's copy gets UIDs of its own (issue 13)."""
    lines = export_and_import(
        login(patient), imported_study, patient, tmp_path, django_capture_on_commit_callbacks
    )
    (line,) = [x for x in lines if x["study"] is not None]
    assert line["study"] == imported_study.pk
    assert (line["instances_stored"], line["duplicates"]) == (0, 20)
    lines = export_and_import(
        login(patient), imported_study, other_patient, tmp_path, django_capture_on_commit_callbacks
    )
    (line,) = [x for x in lines if x["study"] is not None]
    copy = Study.objects.get(pk=line["study"])
    assert copy.owner == other_patient
    assert copy.study_instance_uid != imported_study.study_instance_uid
    theirs = set(Instance.objects.filter(series__study=copy).values_list("sop_instance_uid",
                                                                           flat=True))  # fmt: skip
    ours = set(
        Instance.objects.filter(series__study=imported_study).values_list(
            "sop_instance_uid", flat=True
        )
    )
    assert len(theirs) == 20 and not theirs & ours


def test_png_export_with_the_chosen_window(
    login: Any, patient: Any, imported_study: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = login(patient)
    export = request_export(
        client, imported_study, "png", django_capture_on_commit_callbacks, wc="300", ww="600"
    )
    assert export.status == ExportStatus.DONE and export.params == {"center": 300.0, "width": 600.0}
    archive = zipfile.ZipFile(io.BytesIO(download(client, export)))
    assert archive.namelist() == [f"S001_MR/IM{n:04d}.png" for n in range(1, 21)]
    for n, instance in enumerate(ordered_instances(imported_study), 1):
        exported = np.asarray(Image.open(io.BytesIO(archive.read(f"S001_MR/IM{n:04d}.png"))))
        shown = client.get(f"/api/instances/{instance.pk}/slice.png?frame=0&wc=300&ww=600")
        assert np.array_equal(exported, np.asarray(Image.open(io.BytesIO(shown.content)))), n
    # Presets and the image's own window; nonsense is refused.
    preset = request_export(
        client, imported_study, "png", django_capture_on_commit_callbacks, preset="auto"
    )
    assert preset.params == {"preset": "auto"} and preset.status == ExportStatus.DONE
    own = request_export(client, imported_study, "png", django_capture_on_commit_callbacks,
                         preset="current")  # fmt: skip
    assert own.params == {}
    url = f"/studies/{imported_study.pk}/exports/new/"
    assert client.post(url, {"kind": "png", "preset": "nope"}).status_code == 400
    assert client.post(url, {"kind": "png", "wc": "40"}).status_code == 400
    assert client.post(url, {"kind": "gif"}).status_code == 400


@pytest.mark.usefixtures("storage")
def test_nifti_of_the_mr_series_has_the_geometry_of_its_slices(
    login: Any, patient: Any, imported_study: Any, tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    client = login(patient)
    export = request_export(client, imported_study, "nifti", django_capture_on_commit_callbacks)
    assert export.status == ExportStatus.DONE and export.notes == "", export.error
    archive = zipfile.ZipFile(io.BytesIO(download(client, export)))
    assert archive.namelist() == ["S001_MR.nii.gz"]
    archive.extractall(tmp_path)
    image = nib.load(tmp_path / "S001_MR.nii.gz")
    assert image.shape == (256, 256, 20)
    assert int(image.header["qform_code"]) == 1 and int(image.header["sform_code"]) == 1
    datasets = [
        pydicom.dcmread(io.BytesIO(stored_bytes(i))) for i in ordered_instances(imported_study)
    ]
    first = datasets[0]
    row, column = (
        np.array(first.ImageOrientationPatient[:3], float),
        np.array(first.ImageOrientationPatient[3:], float),
    )
    row_spacing, column_spacing = map(float, first.PixelSpacing)
    ras = np.array([-1.0, -1.0, 1.0])
    affine = image.affine
    np.testing.assert_allclose(affine[:3, 3], ras * np.array(first.ImagePositionPatient, float))
    np.testing.assert_allclose(affine[:3, 0], ras * row * column_spacing, atol=1e-6)
    np.testing.assert_allclose(affine[:3, 1], ras * column * row_spacing, atol=1e-6)
    normal = np.cross(row, column)
    assert abs(float(np.dot(affine[:3, 2], ras * normal)) - 7.0) < 0.01  # ~7 mm apart
    for k, ds in enumerate(datasets):
        # Voxel (0, 0, k) is the first pixel of slice k, within the rounding of the positions.
        centre = affine @ np.array([0, 0, k, 1.0])
        np.testing.assert_allclose(centre[:3], ras * np.array(ds.ImagePositionPatient, float),
                                   atol=0.15)  # fmt: skip
        # Voxel (i, j, k) is column i, row j of slice k.
        assert np.array_equal(np.asarray(image.dataobj[:, :, k]), ds.pixel_array.T)
    i, j = 200, 37
    corner = affine @ np.array([i, j, 5, 1.0])
    expected = (
        np.array(datasets[5].ImagePositionPatient, float)
        + i * column_spacing * row
        + (j * row_spacing * column)
    )
    np.testing.assert_allclose(corner[:3], ras * expected, atol=0.15)


def test_nifti_of_the_tilted_unevenly_spaced_ct_is_resampled_and_says_so(
    login: Any, patient: Any, ct_series: list[Path], django_capture_on_commit_callbacks: Any
) -> None:
    import_files(ct_series, patient)
    study = Study.objects.get(owner=patient)
    client = login(patient)
    export = request_export(client, study, "nifti", django_capture_on_commit_callbacks)
    assert export.status == ExportStatus.DONE
    archive = zipfile.ZipFile(io.BytesIO(download(client, export)))
    (volume,) = [n for n in archive.namelist() if n.endswith(".nii.gz")]
    assert volume.startswith("S001_CT")
    note = archive.read("RESAMPLED.txt").decode()
    assert "gantry tilt 18.5 deg corrected; gaps 1.08-7.00 mm made 1.33 mm" in note
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.nii.gz"
        path.write_bytes(archive.read(volume))
        image = nib.load(path)
        assert image.shape == (512, 611, 109)
        assert image.header["descrip"].tobytes().startswith(b"resampled: gantry tilt 18.5")
    # The DICOM export of the same series works.
    dicom = request_export(client, study, "dicom", django_capture_on_commit_callbacks)
    assert dicom.status == ExportStatus.DONE
    assert len(zipfile.ZipFile(io.BytesIO(download(client, dicom))).namelist()) == 29


def test_who_may_export_and_download(
    login: Any, patient: Any, other_patient: Any, radiologist: Any, imported_study: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    # The study is in the pool: the radiologist may view, so export, it.
    reader = login(radiologist)
    export = request_export(reader, imported_study, "dicom", django_capture_on_commit_callbacks)
    assert download(reader, export)
    # Only who asked downloads it: not the owner, not another patient.
    for user in (patient, other_patient):
        assert login(user).get(f"/exports/{export.pk}/download/").status_code == 404
    assert login(patient).get(f"/studies/{imported_study.pk}/exports/").json()["exports"] == []
    url = f"/studies/{imported_study.pk}/exports/new/"
    assert login(other_patient).post(url, {"kind": "dicom"}).status_code == 404
    # Losing access to the study ends the download too.
    ReviewRequest.objects.filter(studies=imported_study).update(status="in_review")
    assert login(radiologist).get(f"/exports/{export.pk}/download/").status_code == 404


def test_download_expires_and_files_are_purged(
    login: Any, patient: Any, imported_study: Any, django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:  # fmt: skip
    settings.EXPORT_LINK_HOURS = 2
    client = login(patient)
    export = request_export(client, imported_study, "png", django_capture_on_commit_callbacks)
    assert timedelta(hours=1, minutes=59) < export.expires_at - timezone.now() <= timedelta(hours=2)
    Export.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(f"/exports/{export.pk}/download/")
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert client.get(f"/studies/{imported_study.pk}/exports/").json()["exports"][0]["status"] == (
        "expired"
    )
    assert exports.purge_expired() == 1
    assert not default_storage.exists(export.file)
    assert Export.objects.get(pk=export.pk).file == ""


def test_link_holder_downloads_only_when_allowed(
    login: Any, patient: Any, imported_study: Any, django_capture_on_commit_callbacks: Any
) -> None:
    link, token = make_link(imported_study, patient, days=1, allow_download=True)
    holder = Client()
    open_link(holder, token)
    viewer = holder.get(f"/studies/{imported_study.pk}/viewer/").content.decode()
    assert 'data-testid="export-zip"' in viewer and 'data-testid="export-png"' in viewer
    export = request_export(holder, imported_study, "dicom", django_capture_on_commit_callbacks)
    assert export.share_link == link and export.created_by is None
    assert export.expires_at <= link.expires_at
    assert holder.get(f"/studies/{imported_study.pk}/exports/").json()["exports"][0]["id"] == (
        export.pk
    )
    assert zipfile.ZipFile(io.BytesIO(download(holder, export))).namelist()[0] == "DICOMDIR"
    events = AuditEvent.objects.filter(object_type="uploads.sharelink", object_id=str(link.pk))
    assert {"share.export_requested", "share.downloaded"} <= {e.action for e in events}
    # The owner did not ask for it: not theirs to download; their list does not show it.
    owner = login(patient)
    assert owner.get(f"/exports/{export.pk}/download/").status_code == 404
    assert owner.get(f"/studies/{imported_study.pk}/exports/").json()["exports"] == []
    # Revoking the link ends the holder's downloads.
    owner.post(f"/shares/{link.pk}/revoke/")
    response = holder.get(f"/exports/{export.pk}/download/")
    assert response.status_code == 410 and "revoked" in response.content.decode()
    # A link without downloads offers none.
    _, token2 = make_link(imported_study, patient)
    viewer2 = Client()
    open_link(viewer2, token2)
    assert (
        'data-testid="export-zip"'
        not in viewer2.get(f"/studies/{imported_study.pk}/viewer/").content.decode()
    )
    url = f"/studies/{imported_study.pk}/exports/new/"
    assert viewer2.post(url, {"kind": "dicom"}).status_code == 404
    assert viewer2.get(f"/studies/{imported_study.pk}/exports/").status_code == 404


def test_build_is_idempotent_and_requests_are_not_duplicated(
    rf: Any, patient: Any, imported_study: Any
) -> None:
    request = rf.post("/")
    request.user = patient
    export, created = exports.request_export(request, imported_study, "png", {})
    again, created_again = exports.request_export(request, imported_study, "png", {})
    assert created and not created_again and again.pk == export.pk
    assert exports.build(export.pk) == "done"
    assert exports.build(export.pk) == "nothing to do"  # a re-delivered task
    name = Export.objects.get(pk=export.pk).file
    # A claim whose worker died (older than the time limit) is taken again.
    later = timezone.now() + timedelta(hours=1)
    stale = Export.objects.create(
        study=imported_study, kind="png", status=ExportStatus.RUNNING, created_by=patient,
        started_at=timezone.now() - timedelta(hours=3), expires_at=later,
    )  # fmt: skip
    live = Export.objects.create(
        study=imported_study, kind="png", status=ExportStatus.RUNNING, created_by=patient,
        started_at=timezone.now(), expires_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    assert exports.build(live.pk) == "nothing to do"
    assert exports.build(stale.pk) == "done"
    assert Export.objects.get(pk=stale.pk).file not in ("", name)
    # A transient failure gives the claim back for the retry.
    retry = Export.objects.create(study=imported_study, kind="png", created_by=patient,
                                  expires_at=timezone.now() + timedelta(hours=1))  # fmt: skip
    assert exports.claim_export(retry.pk) is not None and exports.claim_export(retry.pk) is None
    exports.release(retry.pk)
    assert exports.build(retry.pk) == "done"


@pytest.mark.services
def test_real_worker_builds_an_export_with_progress(
    celery_worker: Any, patient: Any, imported_study: Any
) -> None:
    import time

    client = Client()
    client.force_login(patient)
    response = client.post(
        f"/studies/{imported_study.pk}/exports/new/", {"kind": "nifti"},
        headers={"Accept": "application/json"},
    )  # fmt: skip
    assert response.status_code == 202
    export_id = response.json()["id"]
    deadline = time.monotonic() + 60
    seen = set()
    while time.monotonic() < deadline:
        item = client.get(f"/studies/{imported_study.pk}/exports/").json()["exports"][0]
        seen.add(item["status"])
        if item["status"] in {"done", "failed"}:
            break
        time.sleep(0.1)
    assert item["status"] == "done", (item, celery_worker.log.read_text()[-2000:])
    assert item["progress"] == 100 and item["download"] == f"/exports/{export_id}/download/"
    data = b"".join(client.get(item["download"]).streaming_content)
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["S001_MR.nii.gz"]


def test_two_links_to_one_study_in_one_session(patient: Any, imported_study: Any) -> None:
    with_download, token1 = make_link(imported_study, patient, allow_download=True)
    _, token2 = make_link(imported_study, patient)  # newer, view only
    holder = Client()
    open_link(holder, token1)
    open_link(holder, token2)
    url = f"/studies/{imported_study.pk}/exports/"
    assert holder.get(url).status_code == 200  # through the link that allows downloads
    with_download.revoked_at = timezone.now()
    with_download.save()
    assert holder.get(url).status_code == 404
    assert holder.get(f"/api/studies/{imported_study.pk}/manifest/").status_code == 200
