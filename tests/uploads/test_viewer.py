"""Viewer endpoints: manifest, slice PNGs (ETag, cache), attributes, permissions."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from PIL import Image

from uploads.models import Instance, RequestStatus, ReviewRequest, StudyStatus
from uploads.viewer.rendering import SliceParams, cache_key, derived_name

pytestmark = pytest.mark.django_db


def test_manifest_lists_sorted_slices(login: Any, patient: Any, imported_study: Any) -> None:
    data = login(patient).get(f"/api/studies/{imported_study.pk}/manifest/").json()
    (series,) = data["series"]
    assert len(series["images"]) == 20
    positions = [image["position"] for image in series["images"]]
    assert positions == sorted(positions)
    assert series["presets"] == ["auto"]  # MR: no absolute scale
    assert data["presets"]["lung"] == {"center": -600.0, "width": 1500.0}


@pytest.mark.usefixtures("storage")
def test_slice_png_etag_and_cache(login: Any, patient: Any, imported_study: Any) -> None:
    cache.clear()
    client = login(patient)
    instance = Instance.objects.filter(series__study=imported_study).first()
    assert instance is not None
    url = f"/api/instances/{instance.pk}/slice.png?frame=0&wc=300&ww=600"
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, max-age=86400"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (instance.columns, instance.rows) and image.mode == "L"
    params = SliceParams(frame=0, center=300.0, width=600.0)
    assert cache.get(cache_key(instance, params)) == response.content
    again = client.get(url, headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304
    other = client.get(f"/api/instances/{instance.pk}/slice.png?frame=0&wc=100&ww=200")
    assert other["ETag"] != response["ETag"]
    assert not np.array_equal(np.asarray(image), np.asarray(Image.open(io.BytesIO(other.content))))
    thumb = Image.open(
        io.BytesIO(client.get(f"/api/instances/{instance.pk}/slice.png?size=64").content)
    )
    assert max(thumb.size) == 64


@pytest.mark.parametrize(
    ("query", "status"),
    [("preset=nope", 400), ("frame=5", 422), ("wc=40", 400), ("ww=-3&wc=1", 400),
     ("size=100000", 400), ("frame=x", 400)],
)  # fmt: skip
def test_slice_bad_parameters(
    login: Any, patient: Any, imported_study: Any, query: str, status: int
) -> None:
    instance = Instance.objects.filter(series__study=imported_study).first()
    assert instance is not None
    assert (
        login(patient).get(f"/api/instances/{instance.pk}/slice.png?{query}").status_code == status
    )


def test_attributes_are_de_identified(login: Any, patient: Any, imported_study: Any) -> None:
    instance = Instance.objects.filter(series__study=imported_study).first()
    assert instance is not None
    rows = login(patient).get(f"/api/instances/{instance.pk}/attributes/").json()["attributes"]
    by_keyword = {r["keyword"]: r["value"] for r in rows}
    assert by_keyword["PatientIdentityRemoved"] == "YES"
    assert by_keyword["SOPInstanceUID"] == instance.sop_instance_uid
    assert all("bytes>" in r["value"] for r in rows if r["vr"] in {"OB", "OW"})


def test_viewer_permissions(
    client: Any,
    login: Any,
    patient: Any,
    other_patient: Any,
    radiologist: Any,
    other_radiologist: Any,
    admin_user: Any,
    imported_study: Any,
) -> None:
    instance = Instance.objects.filter(series__study=imported_study).first()
    assert instance is not None
    urls = [
        f"/studies/{imported_study.pk}/viewer/",
        f"/api/studies/{imported_study.pk}/manifest/",
        f"/api/instances/{instance.pk}/slice.png",
        f"/api/instances/{instance.pk}/attributes/",
    ]
    # The study is in the pool (ready, unassigned): any radiologist may look.
    assert imported_study.status == StudyStatus.READY
    for user, code in [(patient, 200), (other_patient, 404), (radiologist, 200), (admin_user, 200)]:
        c = login(user)
        for url in urls:
            assert c.get(url).status_code == code, (user.email, url)
    # Once assigned to someone else, other radiologists lose access.
    ReviewRequest.objects.filter(studies=imported_study).update(
        status=RequestStatus.IN_REVIEW, assigned_to=other_radiologist
    )
    c = login(radiologist)
    for url in urls:
        assert c.get(url).status_code == 404
    c.logout()
    for url in urls:
        response = c.get(url)
        assert response.status_code == 302 and "/login/" in response.url


def imported_study_manifest(study: Any) -> dict[str, Any]:
    from uploads.viewer.views import manifest_for

    return manifest_for(study)


def stored(instance: Instance, params: SliceParams) -> bool:
    """Whether the PNG for these parameters is in derived storage."""
    return default_storage.exists(derived_name(instance, params))


def test_prerender_fills_derived_storage(imported_study: Any) -> None:
    from uploads.viewer.tasks import prerender_study

    cache.clear()
    instances = list(Instance.objects.filter(series__study=imported_study))
    rendered = prerender_study(imported_study.pk)
    series = {i.series_id for i in instances}
    # The default slice of each image, and one thumbnail per series: its middle image.
    assert rendered == len(instances) + len(series)
    for instance in instances:
        assert stored(instance, SliceParams())
        assert cache.get(cache_key(instance, SliceParams())) is None  # not in the hot tier
    manifest = imported_study_manifest(imported_study)
    for entry in manifest["series"]:
        middle = Instance.objects.get(pk=entry["images"][len(entry["images"]) // 2]["id"])
        assert stored(middle, SliceParams(size=128))
    assert prerender_study(imported_study.pk) == 0  # idempotent: nothing left to do


def test_slice_token_serves_cached_slices_without_any_lookup(
    client: Any,
    login: Any,
    patient: Any,
    other_patient: Any,
    imported_study: Any,
    django_assert_num_queries: Any,
) -> None:
    from uploads.viewer import slice_tokens

    cache.clear()
    images = login(patient).get(f"/api/studies/{imported_study.pk}/manifest/").json()
    image = images["series"][0]["images"][0]
    assert slice_tokens.check(image["token"], image["id"]) is not None
    url = f"/api/instances/{image['id']}/slice.png?wc=40&ww=400&t={image['token']}"
    first = client.get(url)  # rendered and cached
    assert first.status_code == 200
    client.logout()
    with django_assert_num_queries(0):  # no session, no user, no study lookup
        again = client.get(url)
    assert again.status_code == 200 and again.content == first.content

    # A token is bound to its image and its time; anything else takes the full check.
    other = Instance.objects.filter(series__study=imported_study).exclude(pk=image["id"]).first()
    assert other is not None
    expired = slice_tokens.make(image["id"], patient.pk, "0" * 16, now=1)
    forged = [
        f"/api/instances/{other.pk}/slice.png?t={image['token']}",
        f"/api/instances/{image['id']}/slice.png?t={image['token']}x",
        f"/api/instances/{image['id']}/slice.png?t={expired}",
    ]
    for forged_url in forged:
        response = client.get(forged_url)
        assert response.status_code == 302 and "/login/" in response.url
        assert login(other_patient).get(forged_url).status_code == 404
        client.logout()


def test_manifest_tokens_only_for_role_readers(
    client: Any, login: Any, patient: Any, imported_study: Any
) -> None:
    own = login(patient).get(f"/api/studies/{imported_study.pk}/manifest/").json()
    assert all(i["token"] for s in own["series"] for i in s["images"])


def test_prerender_is_bounded_to_slices_around_the_middle(imported_study: Any) -> None:
    """A large series warms only PRERENDER_SLICES frames, where the viewer opens."""
    from uploads.viewer.rendering import prerender_study

    cache.clear()
    (entry,) = imported_study_manifest(imported_study)["series"]
    ids = [image["id"] for image in entry["images"]]  # viewer order
    assert prerender_study(imported_study.pk, slices=4) == 4 + 1  # and one thumbnail
    warm = [i for i in ids if stored(Instance.objects.get(pk=i), SliceParams())]
    middle = len(ids) // 2
    assert warm == ids[middle - 2 : middle + 2]
