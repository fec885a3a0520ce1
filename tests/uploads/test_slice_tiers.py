"""The slice tiers: hot cache → derived storage (pre-rendered) → render; derived images
follow their instance; pre-rendering can be switched off and gives way to ingest."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from uploads import storage
from uploads.models import FileStatus, Instance, Upload, UploadFile
from uploads.viewer import rendering
from uploads.viewer.rendering import SliceParams, cache_key, derived_name

pytestmark = pytest.mark.django_db


def derived_files(owner_id: int) -> list[str]:
    """Every derived image stored for an owner."""
    try:
        folders, _ = default_storage.listdir(f"derived/{owner_id}")
    except FileNotFoundError:
        return []
    return [n for f in folders for n in storage.derived_names(owner_id, int(f))]


def first_image(client: Any, study: Any) -> dict[str, Any]:
    manifest = client.get(f"/api/studies/{study.pk}/manifest/").json()
    return dict(manifest["series"][0]["images"][0])


def test_prerendered_slices_are_served_from_derived_storage(
    client: Any, login: Any, patient: Any, imported_study: Any, django_assert_num_queries: Any
) -> None:
    rendering.prerender_study(imported_study.pk)
    cache.clear()
    image = first_image(login(patient), imported_study)
    instance = Instance.objects.get(pk=image["id"])
    # Without its DICOM file nothing can be rendered: what comes back was stored.
    default_storage.delete(instance.file)
    client.logout()
    url = f"/api/instances/{instance.pk}/slice.png?frame=0&t={image['token']}"
    with django_assert_num_queries(1):  # the instance and its owner, one join
        response = client.get(url)
    assert response.status_code == 200
    stored = default_storage.open(derived_name(instance, SliceParams())).read()
    assert response.content == stored and stored.endswith(rendering.PNG_END)
    # Served once, it is hot: the next request needs no database.
    assert cache.get(cache_key(instance, SliceParams())) == stored
    with django_assert_num_queries(0):
        again = client.get(url)
    assert again.content == stored and again["ETag"] == response["ETag"]
    # Another window is not pre-rendered: it needs the file, which is gone.
    with pytest.raises(FileNotFoundError):
        client.get(f"/api/instances/{instance.pk}/slice.png?wc=40&ww=400&t={image['token']}")


def test_a_stored_copy_cut_short_is_rendered_again(
    login: Any, patient: Any, imported_study: Any
) -> None:
    instance = Instance.objects.select_related("series__study").filter(
        series__study=imported_study
    )[0]
    assert rendering.prerender(instance, thumbnail=False) == 1
    name = derived_name(instance, SliceParams())
    whole = default_storage.open(name).read()
    default_storage.delete(name)
    default_storage.save(name, storage.ContentFile(whole[:-20]))  # a killed worker's copy
    cache.clear()
    response = login(patient).get(f"/api/instances/{instance.pk}/slice.png?frame=0")
    assert response.status_code == 200 and response.content == whole  # rendered
    assert not default_storage.exists(name)  # the broken copy is gone
    assert rendering.prerender(instance, thumbnail=False) == 1  # and made again


def test_on_demand_slices_stay_hot_for_slice_cache_seconds(
    require_redis: str, login: Any, patient: Any, imported_study: Any, settings: Any
) -> None:
    import redis

    settings.SLICE_CACHE_SECONDS = 120
    instance = Instance.objects.filter(series__study=imported_study)[0]
    response = login(patient).get(f"/api/instances/{instance.pk}/slice.png?wc=41&ww=401")
    assert response.status_code == 200
    key = cache.make_key(cache_key(instance, SliceParams(center=41.0, width=401.0)))
    ttl = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"]).ttl(key)
    assert 100 < ttl <= 120
    assert not derived_files(imported_study.owner_id)  # on-demand renders are not stored


def test_derived_images_go_with_their_instance_study_and_account(
    imported_study: Any, patient: Any, django_capture_on_commit_callbacks: Any
) -> None:
    owner = imported_study.owner_id
    rendering.prerender_study(imported_study.pk)
    assert len(derived_files(owner)) == 21  # 20 slices and the thumbnail
    one = Instance.objects.filter(series__study=imported_study)[0]
    folder = storage.derived_folder(owner, one.pk)
    mine = len(storage.derived_names(owner, one.pk))
    assert mine >= 1 and default_storage.exists(folder)
    with django_capture_on_commit_callbacks(execute=True):
        one.delete()
    assert len(derived_files(owner)) == 21 - mine
    assert not default_storage.exists(folder)  # the folder too (local disk)
    with django_capture_on_commit_callbacks(execute=True):
        imported_study.delete()
    assert derived_files(owner) == []
    rendering.prerender_study(imported_study.pk)  # nothing left to render
    assert derived_files(owner) == []


def test_account_deletion_removes_derived_images(
    imported_study: Any, patient: Any, django_capture_on_commit_callbacks: Any
) -> None:
    rendering.prerender_study(imported_study.pk)
    assert derived_files(patient.pk)
    with django_capture_on_commit_callbacks(execute=True):
        patient.delete()
    assert derived_files(imported_study.owner_id) == []


def test_an_instance_deleted_while_rendering_leaves_nothing(
    imported_study: Any, django_capture_on_commit_callbacks: Any
) -> None:
    instance = Instance.objects.select_related("series__study").filter(
        series__study=imported_study
    )[0]
    # Deleted, its clean-up (on commit) found nothing yet: here it does not run at all.
    with django_capture_on_commit_callbacks(execute=False):
        Instance.objects.filter(pk=instance.pk).delete()
    assert rendering.prerender(instance) == 2  # the worker had it loaded before
    assert storage.derived_names(imported_study.owner_id, instance.pk) == []


def test_prerendering_gives_way_between_images(imported_study: Any) -> None:
    asked = []

    def give_way() -> bool:  # files arrive after the third image
        asked.append(1)
        return len(asked) > 3

    with pytest.raises(rendering.Interrupted) as stop:
        rendering.prerender_study(imported_study.pk, give_way=give_way)
    assert stop.value.rendered == 3
    assert len(derived_files(imported_study.owner_id)) == 3
    assert rendering.prerender_study(imported_study.pk) == 21 - 3  # the rest, later


# -- the task, on a real broker --------------------------------------------------------------


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Any]:
    """A private redis-server as this process's Celery broker; yields its client."""
    from tests.hardening.test_cache_budget import start_redis
    from tests.hardening.test_faults import celery_broker

    for client, url in start_redis(tmp_path, "volatile-lru"):
        with celery_broker(url):
            yield client


def queued(client: Any) -> list[tuple[str, list[Any], str | None]]:
    """Task name, arguments and ETA of every message on the broker."""
    from tests.hardening.test_faults import queue_key

    out = []
    for key in client.keys(f"{queue_key()}*"):  # the queue, and its priority steps
        for raw in client.lrange(key, 0, -1):
            message = json.loads(raw)
            args = json.loads(base64.b64decode(message["body"]))[0]
            out.append((message["headers"]["task"], args, message["headers"].get("eta")))
    return out


@pytest.mark.services  # tasks are sent to the broker, not run eagerly
def test_prerender_switched_off_queues_nothing(
    broker: Any, imported_study: Any, settings: Any
) -> None:
    from uploads.viewer.tasks import queue_prerender

    settings.PRERENDER_SLICES = 0
    queue_prerender(imported_study.pk)
    assert queued(broker) == []
    settings.PRERENDER_SLICES = 128
    queue_prerender(imported_study.pk)
    assert queued(broker) == [("uploads.tasks.prerender_study", [imported_study.pk], None)]


@pytest.mark.services
def test_prerender_defers_while_files_wait_for_ingest(
    broker: Any, imported_study: Any, patient: Any, settings: Any
) -> None:
    from uploads.viewer.tasks import prerender_study

    settings.PRERENDER_DEFER_SECONDS = 30
    settings.PRERENDER_MAX_DEFERS = 2
    upload = Upload.objects.create(owner=patient, expected_files=1)
    waiting = UploadFile.objects.create(
        upload=upload, key="c" * 64, size=10, status=FileStatus.RECEIVED
    )
    assert prerender_study(imported_study.pk) == 0
    ((name, args, eta),) = queued(broker)
    assert name == "uploads.tasks.prerender_study" and args == [imported_study.pk, 1]
    assert eta is not None  # held back PRERENDER_DEFER_SECONDS
    assert derived_files(patient.pk) == []
    # Deferred as often as allowed, it runs anyway.
    assert prerender_study(imported_study.pk, 2) == 21
    assert len(queued(broker)) == 1
    # Nothing waiting: it runs at once.
    waiting.status = FileStatus.STORED
    waiting.save()
    rendering_done = prerender_study(imported_study.pk)
    assert rendering_done == 0 and len(queued(broker)) == 1  # all stored already


def test_a_viewport_size_is_shrunk_from_the_stored_full_size_slice(
    client: Any, login: Any, patient: Any, imported_study: Any
) -> None:
    """The viewer asks for its viewport's size: a default-window frame is then shrunk
    from the full-size PNG in derived storage (no DICOM decode), and looks like the
    renderer's own output at that size."""
    import numpy as np

    from uploads.dicom.render import RenderRequest, render_png

    rendering.prerender_study(imported_study.pk)
    cache.clear()
    image = first_image(login(patient), imported_study)
    instance = Instance.objects.get(pk=image["id"])
    direct = render_png(rendering.read_instance(instance), RenderRequest(size=200)).png
    default_storage.delete(instance.file)  # nothing can be rendered any more
    response = client.get(f"/api/instances/{instance.pk}/slice.png?frame=0&size=200")
    assert response.status_code == 200
    served = np.asarray(Image.open(io.BytesIO(response.content)), dtype=np.int16)
    reference = np.asarray(Image.open(io.BytesIO(direct)), dtype=np.int16)
    assert served.shape == reference.shape and max(served.shape) == 200
    assert np.abs(served - reference).mean() <= 1.5
    # The same size in another window is not pre-rendered: it needs the file.
    with pytest.raises(FileNotFoundError):
        client.get(f"/api/instances/{instance.pk}/slice.png?frame=0&size=200&invert=1")


def test_a_damaged_stored_slice_is_rendered_instead_of_shrunk(
    client: Any, login: Any, patient: Any, imported_study: Any
) -> None:
    """A stored full-size PNG that cannot be decoded (but ends like a PNG) is not served
    and does not fail the request: the viewport is rendered from the DICOM file."""
    rendering.prerender_study(imported_study.pk)
    cache.clear()
    image = first_image(login(patient), imported_study)
    instance = Instance.objects.get(pk=image["id"])
    name = derived_name(instance, SliceParams())
    default_storage.delete(name)
    default_storage.save(name, ContentFile(b"\x89PNG\r\n\x1a\nbroken" + rendering.PNG_END))
    response = client.get(f"/api/instances/{instance.pk}/slice.png?frame=0&size=200")
    assert response.status_code == 200
    assert max(Image.open(io.BytesIO(response.content)).size) == 200
