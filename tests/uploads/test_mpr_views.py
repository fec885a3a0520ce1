"""Routes of the comparison page (uploads/viewer/mpr_views.py): MPR planes from the stored
series, its volume kept per worker process, bad input answered in words, link holders
and earlier studies."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from django.core.files.storage import default_storage
from PIL import Image

from tests.reports.factories import add_instance, make_study
from tests.sharing.factories import make_link
from uploads.dicom.mpr import render_plane
from uploads.dicom.volume import load_volume
from uploads.models import Series
from uploads.viewer import volumes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_volume_cache() -> Any:
    volumes.forget_volumes()
    yield
    volumes.forget_volumes()


def the_series(study: Any) -> Series:
    return Series.objects.get(study=study)


def test_a_plane_is_the_engine_plane_of_the_stored_files(client: Any, imported_study: Any) -> None:
    client.force_login(imported_study.owner)
    series = the_series(imported_study)
    info = client.get(f"/api/series/{series.pk}/mpr/").json()
    assert info["shape"] == [256, 256, 20]
    assert set(info["planes"]) == {"axial", "coronal", "sagittal"}
    response = client.get(f"/api/series/{series.pk}/mpr/coronal.png?index=128&wc=400&ww=800")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    stored = []
    for image in series.instances.order_by("id"):
        with default_storage.open(image.file, "rb") as handle:
            stored.append(handle.read())
    from uploads.dicom.render import Window

    expected = render_plane(load_volume(stored), "coronal", 128, window=Window(400, 800))
    shown = np.asarray(Image.open(io.BytesIO(response.content)))
    assert np.array_equal(shown, np.asarray(Image.open(io.BytesIO(expected))))
    assert shown.shape == (info["planes"]["coronal"]["height"], 256)


def test_the_volume_is_built_once_per_process_and_the_cache_is_bounded(
    client: Any, imported_study: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.force_login(imported_study.owner)
    series = the_series(imported_study)
    built = []

    def counted(sources: Any) -> Any:
        built.append(1)
        return load_volume(sources)

    monkeypatch.setattr(volumes, "load_volume", counted)
    for n in range(5):
        assert client.get(f"/api/series/{series.pk}/mpr/axial.png?index={n}").status_code == 200
    assert client.get(f"/api/series/{series.pk}/mpr/").status_code == 200
    assert len(built) == 1

    settings.MPR_VOLUME_CACHE = 1
    other = make_study(imported_study.owner, patient_pseudonym="other")
    copy = Series.objects.create(study=other, series_instance_uid="2.25.77", modality="MR")
    for image in series.instances.all():
        image.pk, image.series = None, copy
        image.save()
    assert client.get(f"/api/series/{copy.pk}/mpr/sagittal.png?index=3").status_code == 200
    assert volumes.cached_volume_count() == 1
    assert client.get(f"/api/series/{series.pk}/mpr/axial.png?index=0").status_code == 200
    assert len(built) == 3  # the first was evicted by the second, then built again


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("oblique.png?index=1", "axial, coronal or sagittal"),
        ("axial.png?index=999", "plane 1000 does not exist (there are 20)"),
        ("axial.png?index=two", "index must be a whole number"),
        ("axial.png?index=1&slab=0", "slab must be 1 to 99"),
        ("axial.png?index=1&wc=40", "give both wc and ww"),
        ("axial.png?index=1&preset=nonsense", "unknown preset"),
    ],
)
def test_bad_input_is_refused_in_words(
    client: Any, imported_study: Any, query: str, words: str
) -> None:
    client.force_login(imported_study.owner)
    response = client.get(f"/api/series/{the_series(imported_study).pk}/mpr/{query}")
    assert response.status_code == 400
    assert words in response.content.decode()


def test_a_series_that_is_no_volume_says_why(client: Any, patient: Any) -> None:
    study = make_study(patient)
    image = add_instance(study)
    client.force_login(patient)
    response = client.get(f"/api/series/{image.series_id}/mpr/")
    assert response.status_code == 422
    assert response.json()["error"] == (
        "This series cannot be reformatted: only one slice: not a volume."
    )
    response = client.get(f"/api/series/{image.series_id}/mpr/axial.png?index=0")
    assert response.status_code == 422 and b"only one slice" in response.content


def test_a_link_holder_reformats_the_shared_study_only(
    client: Any, imported_study: Any, patient: Any
) -> None:
    series = the_series(imported_study)
    other = add_instance(make_study(patient, patient_pseudonym="x"))
    assert client.get(f"/api/series/{series.pk}/mpr/").status_code == 302  # to the login
    _, token = make_link(imported_study)
    client.get(f"/s/{token}/")
    assert client.get(f"/api/series/{series.pk}/mpr/axial.png?index=3").status_code == 200
    assert client.get(f"/api/series/{series.pk}/geometry/").status_code == 200
    assert client.get(f"/api/series/{other.series_id}/mpr/").status_code == 404
    assert client.get(f"/api/studies/{imported_study.pk}/priors/").json()["priors"] == []


def test_priors_are_the_same_pseudonymised_patient_of_the_same_owner(
    client: Any, patient: Any, other_patient: Any
) -> None:
    current = make_study(patient, patient_pseudonym="PSEUDO-1")
    earlier = make_study(patient, patient_pseudonym="PSEUDO-1")
    make_study(patient, patient_pseudonym="PSEUDO-2")
    make_study(other_patient, patient_pseudonym="PSEUDO-1")
    client.force_login(patient)
    found = client.get(f"/api/studies/{current.pk}/priors/").json()["priors"]
    assert [p["id"] for p in found] == [earlier.pk]


def test_geometry_lists_each_image_in_viewer_order(client: Any, imported_study: Any) -> None:
    client.force_login(imported_study.owner)
    series = the_series(imported_study)
    data = client.get(f"/api/series/{series.pk}/geometry/").json()
    manifest = client.get(f"/api/studies/{imported_study.pk}/manifest/").json()
    assert [g["id"] for g in data["images"]] == [i["id"] for i in manifest["series"][0]["images"]]
    assert data["frame_of_reference"]
    normal = np.cross(data["images"][0]["orientation"][:3], data["images"][0]["orientation"][3:])
    along = [float(np.dot(normal, g["position"])) for g in data["images"]]
    expected = [i["position"] for i in manifest["series"][0]["images"]]
    assert along == pytest.approx(expected, abs=1e-3)
