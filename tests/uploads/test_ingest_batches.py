"""Batches: several small files in one request (POST .../batch/), ingest runs that take a
batch of an upload's files in one transaction, the quota checked by the worker, and how
runs are queued (a cache "kick" per upload slot)."""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from typing import Any

import pydicom
import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.uploads.conftest import UploadClient, sample_bytes, sha
from uploads.intake import ingest, quarantine, tasks
from uploads.models import FileStatus, Instance, Upload, UploadFile

pytestmark = pytest.mark.django_db


def variant(n: int, sop_uid: str | None = None, study_uid: str | None = None) -> bytes:
    """CT_small with its own SOP Instance UID (or the given one) and distinct bytes."""
    ds = pydicom.dcmread(io.BytesIO(sample_bytes("CT_small.dcm")))
    ds.SOPInstanceUID = sop_uid or f"1.2.826.0.1.3680043.8.498.{1000 + n}"
    if study_uid:
        ds.StudyInstanceUID = study_uid
    ds.ImageComments = f"copy {n}"
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


def post_batch(client: Any, upload: int, files: list[bytes], header: str | None = None) -> Any:
    header = header if header is not None else ",".join(f"{sha(d)}:{len(d)}" for d in files)
    return client.generic(
        "POST", f"/api/uploads/{upload}/batch/", b"".join(files),
        content_type="application/octet-stream", headers={"Upload-Batch": header},
    )  # fmt: skip


def ingest_all(upload: int) -> list[ingest.FileOutcome]:
    outcomes = []
    while True:
        batch = ingest.process_batch(upload)
        outcomes += batch.outcomes
        if not batch.more:
            return outcomes


def test_batch_registers_and_keeps_each_file_once(
    login: Any, patient: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = login(patient)
    upload = UploadClient(client).create(3)
    files = [variant(n) for n in range(3)]
    response = post_batch(client, upload, files)
    assert response.status_code == 200, response.content
    states = response.json()["files"]
    assert [s["key"] for s in states] == [sha(d) for d in files]
    assert {s["status"] for s in states} == {"received"}
    assert all(
        quarantine.read_all(f) == d for f, d in zip(UploadFile.objects.all(), files, strict=True)
    )

    again = post_batch(client, upload, files)  # a retry after a lost answer
    assert again.status_code == 200 and again.json()["files"] == states
    assert UploadFile.objects.count() == 3

    with django_capture_on_commit_callbacks(execute=True):  # quarantine clean-up
        outcomes = ingest_all(upload)
    assert sorted(o.status for o in outcomes) == ["stored"] * 3
    assert Instance.objects.count() == 3
    assert Upload.objects.get(pk=upload).state == Upload.State.DONE
    assert quarantine.is_empty()


def test_batch_requests_that_cannot_be_right_are_refused(
    login: Any, patient: Any, settings: Any
) -> None:
    client = login(patient)
    upload = UploadClient(client).create(5)
    a, b = variant(1), variant(2)
    cases = [
        ("", 400, "key:size"),
        (f"{sha(a)}:{len(a)}", 400, "add up"),  # two files' bytes, one declared
        (f"{sha(a)}:{len(a)},{sha(a)}:{len(b)}", 400, "twice"),
        (f"{sha(a)}:{len(a) + len(b)},../x:1", 400, "key:size"),
    ]
    for header, code, message in cases:
        response = post_batch(client, upload, [a, b], header)
        assert response.status_code == code and message in response.json()["error"], header
    settings.UPLOAD_BATCH_FILES = 1
    assert post_batch(client, upload, [a, b]).status_code == 400
    settings.UPLOAD_BATCH_FILES = 32
    settings.UPLOAD_CHUNK_SIZE = len(a)  # a batch carries at most one chunk's worth
    assert post_batch(client, upload, [a, b]).status_code == 413
    assert not UploadFile.objects.exists() and quarantine.is_empty()
    client.post(f"/api/uploads/{upload}/cancel/")
    settings.UPLOAD_CHUNK_SIZE = 10**7
    assert post_batch(client, upload, [a]).status_code == 409


def test_one_run_does_the_database_work_once_for_the_whole_batch(login: Any, patient: Any) -> None:
    client = login(patient)

    def queries_for(count: int) -> int:
        upload = UploadClient(client).create(count)
        study = f"1.2.826.0.1.3680043.8.498.9{count}"  # a new study each time
        files = [variant(100 * count + n, study_uid=study) for n in range(count)]
        assert post_batch(client, upload, files).status_code == 200
        with CaptureQueriesContext(connection) as queries:
            batch = ingest.process_batch(upload)
        assert len(batch.outcomes) == count and not batch.more
        return len(queries.captured_queries)

    one, twelve = queries_for(1), queries_for(12)
    assert twelve <= one + 2, (one, twelve)  # not one more query per file


def test_runs_take_at_most_a_batch_and_say_when_more_wait(login: Any, patient: Any) -> None:
    client = login(patient)
    upload = UploadClient(client).create(5)
    post_batch(client, upload, [variant(n) for n in range(5)])
    first = ingest.process_batch(upload, limit=3)
    assert len(first.outcomes) == 3 and first.more
    second = ingest.process_batch(upload, limit=3)
    assert len(second.outcomes) == 2 and not second.more
    assert ingest.process_batch(upload).outcomes == []  # a re-delivered run: nothing to do


def test_files_of_an_unfinished_run_are_processed_one_at_a_time(login: Any, patient: Any) -> None:
    """A run that died (its transaction rolled back) leaves attempts behind: each of its
    files is then processed alone, so one file that kills workers cannot take the others."""
    client = login(patient)
    upload = UploadClient(client).create(4)
    post_batch(client, upload, [variant(n) for n in range(4)])
    died = timezone.now() - ingest.claim_timeout() - timedelta(seconds=1)
    first_two = UploadFile.objects.order_by("pk")[:2]
    UploadFile.objects.filter(pk__in=first_two).update(attempts=1, updated_at=died)
    runs = []
    while True:
        batch = ingest.process_batch(upload)
        runs.append(len(batch.outcomes))
        if not batch.more:
            break
    assert runs == [1, 1, 2]
    assert set(UploadFile.objects.values_list("status", flat=True)) == {FileStatus.STORED}


def test_a_file_claimed_by_a_run_is_not_claimed_again_before_it_is_stale(
    login: Any, patient: Any
) -> None:
    """Between its claim and its lock a run holds no lock on its files: another run must
    not take them then, or one try counts as two attempts (and, repeated, a good file
    ends up refused as one that "stopped the processing")."""
    client = login(patient)
    upload = UploadClient(client).create(3)
    post_batch(client, upload, [variant(n) for n in range(3)])
    ids, _ = ingest.claim_files(upload, 16)
    assert len(ids) == 3
    assert ingest.process_batch(upload).outcomes == []  # another run, meanwhile
    batch = ingest.Batch()
    ingest.run_batch(ids, batch, [])  # the first run goes on
    assert [o.status for o in batch.outcomes] == ["stored"] * 3
    assert list(UploadFile.objects.values_list("attempts", flat=True)) == [1, 1, 1]


def test_a_claim_gone_stale_is_taken_by_the_next_run(login: Any, patient: Any) -> None:
    client = login(patient)
    upload = UploadClient(client).create(1)
    post_batch(client, upload, [variant(1)])
    assert len(ingest.claim_files(upload, 16)[0]) == 1  # and that run died
    assert ingest.process_batch(upload).outcomes == []
    died = timezone.now() - ingest.claim_timeout() - timedelta(seconds=1)
    UploadFile.objects.update(updated_at=died)
    assert ingest.lost_files().count() == 1  # what the beat job re-sends
    assert [o.status for o in ingest.process_batch(upload).outcomes] == ["stored"]
    assert UploadFile.objects.get().attempts == 2


def test_the_same_instance_twice_in_a_batch_is_stored_once(login: Any, patient: Any) -> None:
    client = login(patient)
    upload = UploadClient(client).create(2)
    same = "1.2.826.0.1.3680043.8.498.777"
    post_batch(client, upload, [variant(1, same), variant(2, same)])
    outcomes = ingest_all(upload)
    assert sorted(o.status for o in outcomes) == ["duplicate", "stored"]
    assert Instance.objects.count() == 1
    assert {f.instance_id for f in UploadFile.objects.all()} == {Instance.objects.get().pk}


def test_quota_of_files_sent_whole_is_checked_on_arrival(
    login: Any, patient: Any, settings: Any
) -> None:
    """Files sent whole in one request are admitted against the quota as they arrive,
    first come first served; one that does not fit is refused at once, its bytes not
    kept (issue 13: the quota counts what is stored and what is on its way)."""
    client = login(patient)
    files = [variant(n) for n in range(3)]
    settings.USER_QUOTA_BYTES = len(files[0]) + len(files[1]) + 10
    upload = UploadClient(client).create(3)
    response = post_batch(client, upload, files)
    assert response.status_code == 200
    states = [f["status"] for f in response.json()["files"]]
    assert states == ["received", "received", "rejected"]
    assert "quota" in response.json()["files"][2]["message"]
    outcomes = ingest_all(upload)
    assert [o.status for o in outcomes] == ["stored", "stored"]
    assert Instance.objects.count() == 2


# -- queueing runs ------------------------------------------------------------------------


class NoBroker:
    def delay(self, *args: Any) -> None:
        raise ConnectionError("broker down")


class Sent(list):
    def delay(self, *args: Any) -> None:
        self.append(args)


def test_a_kick_queues_one_run_until_that_run_starts(monkeypatch: Any) -> None:
    sent = Sent()
    monkeypatch.setattr(tasks, "ingest_upload", sent)
    cache.delete(tasks.kick_key(41, 0))
    tasks.kick(41, 0)
    tasks.kick(41, 0)  # a run is on its way: it will see this file
    assert sent == [(41, 0)]
    tasks.forget(tasks.kick_key(41, 0))  # the run starts (before it claims files)
    tasks.kick(41, 0)
    assert sent == [(41, 0), (41, 0)]
    tasks.kick(41, 1)  # another slot: a second worker may take the upload too
    assert sent[-1] == (41, 1)
    for slot in (0, 1):
        tasks.forget(tasks.kick_key(41, slot))


def test_a_kick_without_cache_or_broker(monkeypatch: Any) -> None:
    sent = Sent()
    monkeypatch.setattr(tasks, "ingest_upload", sent)

    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("cache down")

    monkeypatch.setattr(tasks.cache, "add", down)
    tasks.kick(42, 0)
    tasks.kick(42, 0)
    assert sent == [(42,), (42,)]  # every file queues a run: extra runs find nothing
    monkeypatch.undo()

    monkeypatch.setattr(tasks, "ingest_upload", NoBroker())
    cache.delete(tasks.kick_key(42, 0))
    with pytest.raises(ConnectionError):
        tasks.kick(42, 0)
    # No run is coming: the kick was forgotten, so the next file tries again.
    assert cache.get(tasks.kick_key(42, 0)) is None


@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_does_not_fail_the_upload_request(
    login: Any, patient: Any, monkeypatch: Any, caplog: Any
) -> None:
    monkeypatch.setattr(tasks, "ingest_upload", NoBroker())
    client = login(patient)
    upload = UploadClient(client).create(1)
    cache.delete(tasks.kick_key(upload, 0))
    cache.delete(tasks.kick_key(upload, 1))
    with caplog.at_level(logging.ERROR):
        response = post_batch(client, upload, [variant(1)])
    assert response.status_code == 200
    assert UploadFile.objects.get().status == FileStatus.RECEIVED  # requeue_stale_files sends it
    assert any("kick" in r.getMessage() for r in caplog.records), caplog.text


@pytest.mark.django_db(transaction=True)
def test_worker_keeps_its_database_connection_between_tasks() -> None:
    from portal.celery import close_old_connections

    class Request:
        is_eager = False

    class Task:
        request = Request()

    connection.ensure_connection()
    first = connection.connection
    close_old_connections(task=Task())
    assert connection.connection is first  # healthy and young: kept
    connection.close_at = 0  # older than CONN_MAX_AGE
    close_old_connections(task=Task())
    assert connection.connection is None


def test_files_that_arrive_as_the_upload_is_cancelled_are_refused(
    login: Any, patient: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """A batch committed just as the uploader cancelled: its files are refused and their
    bytes dropped, instead of waiting (and being claimed again) for ever."""
    client = login(patient)
    upload = UploadClient(client).create(20)
    post_batch(client, upload, [variant(n) for n in range(3)])
    Upload.objects.filter(pk=upload).update(state=Upload.State.CANCELLED)  # the race
    with django_capture_on_commit_callbacks(execute=True):
        batch = ingest.process_batch(upload)
    assert [o.message for o in batch.outcomes] == ["cancelled by the uploader"] * 3
    assert set(UploadFile.objects.values_list("status", flat=True)) == {FileStatus.REJECTED}
    assert quarantine.is_empty() and not Instance.objects.exists()


def test_an_unexpected_error_refuses_only_the_file_at_fault(
    login: Any, patient: Any, monkeypatch: Any, caplog: Any
) -> None:
    client = login(patient)
    upload = UploadClient(client).create(3)
    post_batch(client, upload, [variant(n) for n in range(3)])
    original = ingest.instance_row
    bad = ingest.deidentify(UploadFile.objects.order_by("pk")[1], variant(1)).index.sop_uid

    def instance_row(series: Any, item: Any, name: str) -> Any:
        if item.index.sop_uid == bad:
            raise ValueError("a bug that only this file triggers")
        return original(series, item, name)

    monkeypatch.setattr(ingest, "instance_row", instance_row)
    with caplog.at_level(logging.ERROR):
        outcomes = ingest_all(upload)
    assert sorted((o.status, o.message) for o in outcomes) == [
        ("rejected", ingest.INTERNAL_ERROR), ("stored", ""), ("stored", "")
    ]  # fmt: skip
    assert Instance.objects.count() == 2
    assert "unexpected ValueError" in caplog.text and "bug" not in caplog.text
    assert Upload.objects.get(pk=upload).state == Upload.State.DONE


def test_a_transient_fault_gives_the_attempts_back(
    login: Any, patient: Any, monkeypatch: Any
) -> None:
    """Storage or database trouble is not the files' doing: they are not made suspects."""
    client = login(patient)
    upload = UploadClient(client).create(3)
    post_batch(client, upload, [variant(n) for n in range(3)])

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ingest.storage, "store_new", full)
    with pytest.raises(OSError):
        ingest.process_batch(upload)
    assert list(UploadFile.objects.values_list("attempts", flat=True)) == [0, 0, 0]
    monkeypatch.undo()
    assert len(ingest_all(upload)) == 3  # one batch again, not one file at a time
    assert set(UploadFile.objects.values_list("status", flat=True)) == {FileStatus.STORED}


def test_a_file_whose_runs_keep_dying_is_refused_in_the_end(
    login: Any, patient: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = login(patient)
    upload = UploadClient(client).create(2)
    post_batch(client, upload, [variant(1), variant(2)])
    killer = UploadFile.objects.order_by("pk").first()
    assert killer is not None
    # Five runs took it and died (no transaction of theirs committed).
    died = timezone.now() - ingest.claim_timeout() - timedelta(seconds=1)
    UploadFile.objects.filter(pk=killer.pk).update(
        attempts=settings.INGEST_MAX_ATTEMPTS, updated_at=died
    )
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = {o.file_id: o for o in ingest_all(upload)}
    assert outcomes[killer.pk].status == "rejected"
    assert "stopped the processing" in outcomes[killer.pk].message
    assert [o.status for pk, o in outcomes.items() if pk != killer.pk] == ["stored"]
    assert quarantine.is_empty()


def test_closing_an_upload_clears_what_a_killed_worker_left_in_quarantine(
    login: Any, patient: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """A worker killed between a batch's commit and the deletion of its parts leaves
    parts of stored files behind; the upload's closing deletes them."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    client = login(patient)
    upload = UploadClient(client).create(2)
    post_batch(client, upload, [variant(1), variant(2)])
    first = UploadFile.objects.order_by("pk").first()
    assert first is not None
    ingest.process_batch(upload, limit=1)  # committed; its parts not deleted (killed)
    assert UploadFile.objects.get(pk=first.pk).status == FileStatus.STORED
    assert not quarantine.is_empty()
    with django_capture_on_commit_callbacks(execute=True):
        ingest_all(upload)
    assert Upload.objects.get(pk=upload).state == Upload.State.DONE
    assert quarantine.is_empty()
    default_storage.save(f"quarantine/{upload}/{first.pk}/x.part", ContentFile(b"late"))
    assert quarantine.discard_upload(upload) == 1  # idempotent, and counts what it removed
    assert quarantine.discard_upload(upload) == 0


def test_orphaned_quarantine_parts_are_swept_once_old(login: Any, patient: Any) -> None:
    """Parts no waiting file owns (a worker killed while unpacking an archive) go, once
    they are old enough not to belong to a request still committing its file row."""
    from datetime import timedelta

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.utils import timezone

    client = login(patient)
    upload = UploadClient(client).create(2)
    post_batch(client, upload, [variant(1)])
    waiting = UploadFile.objects.get()
    orphan = f"quarantine/{upload}/{waiting.pk + 1000}/000000000000000.part"
    default_storage.save(orphan, ContentFile(b"left behind"))
    assert quarantine.sweep_orphans() == 0  # too young: may still be committing
    later = timezone.now() + quarantine.ORPHAN_AGE + timedelta(minutes=1)
    assert quarantine.sweep_orphans(now=later) == 1
    assert not default_storage.exists(orphan)
    assert quarantine.read_all(waiting) == variant(1)  # a waiting file's parts are kept
    assert tasks.sweep_quarantine() == 0


def test_a_copy_left_by_a_killed_run_does_not_stay_behind(
    login: Any, patient: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """A run stored a file and was killed before committing (a cut-short copy under the
    file's own name). The file is taken again and ends under another name, and the other
    file with the same UIDs as a duplicate: no copy without an instance stays in storage."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from uploads import storage

    client = login(patient)
    upload = UploadClient(client).create(2)
    first = variant(1)
    uid = pydicom.dcmread(io.BytesIO(first)).SOPInstanceUID
    post_batch(client, upload, [first, variant(2, sop_uid=uid)])
    files = list(UploadFile.objects.order_by("pk"))
    own = storage.instance_name(patient.pk, files[0].pk)
    default_storage.save(own, ContentFile(b"cut short"))
    died = timezone.now() - ingest.claim_timeout() - timedelta(seconds=1)
    UploadFile.objects.filter(pk=files[0].pk).update(attempts=1, updated_at=died)
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = ingest_all(upload)
    assert sorted(o.status for o in outcomes) == ["duplicate", "stored"]
    (instance,) = Instance.objects.all()
    assert instance.file != own and default_storage.exists(instance.file)
    assert not default_storage.exists(own)
    _, names = default_storage.listdir(f"instances/{patient.pk}/")
    assert names == [instance.file.rsplit("/", 1)[1]]


def test_the_watchdog_clears_what_a_worker_killed_after_closing_left(
    login: Any, patient: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The closing run commits "done" and is killed before its clean-up (seen in the
    soak test): the received bytes must not wait an hour for the orphan sweep. The
    watchdog's next round clears them, once; a later round has nothing to do."""
    from uploads.intake import watchdog

    client = login(patient)
    upload = UploadClient(client).create(2)
    post_batch(client, upload, [variant(1), variant(2)])
    ingest_all(upload)  # on-commit clean-ups never run: the worker died after the commit
    assert Upload.objects.get(pk=upload).state == Upload.State.DONE
    assert not quarantine.is_empty()
    with django_capture_on_commit_callbacks(execute=True):
        watchdog.check(send=lambda upload_id: None)
    assert quarantine.is_empty()
    assert watchdog.check(send=lambda upload_id: None)["cleared"] == 0


def test_a_cancelled_upload_leaves_nothing_in_quarantine(
    login: Any, patient: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """Cancelling drops the parts of files still on their way and those a killed worker
    left of files already stored."""
    from uploads.intake import lifecycle

    client = login(patient)
    upload = UploadClient(client).create(3)
    post_batch(client, upload, [variant(1), variant(2), variant(3)])
    ingest.process_batch(upload, limit=1)  # committed; its parts not deleted (killed)
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.cancel(upload)
    assert quarantine.is_empty()


@pytest.mark.parametrize("keep", [ingest.KEEP_READ_BYTES, 0])  # 0: every file read twice
def test_a_name_found_in_one_file_is_cut_out_of_the_other_files(
    login: Any, patient: Any, monkeypatch: Any, keep: int
) -> None:
    """Server de-identification (issue 20): the people's names of a batch's files are
    gathered before any is de-identified. The CT's Series Description names the MR's
    performing physician; the CT alone does not know that name."""
    monkeypatch.setattr(ingest, "KEEP_READ_BYTES", keep)
    from django.core.files.storage import default_storage

    from tests.dicom.test_deid_names import study_files

    client = login(patient)
    files = study_files()
    upload = UploadClient(client).create(len(files))
    assert post_batch(client, upload, files).status_code == 200
    outcomes = ingest_all(upload)
    assert sorted(o.status for o in outcomes) == ["stored", "stored"]
    stored = [
        pydicom.dcmread(io.BytesIO(default_storage.open(i.file).read()))
        for i in Instance.objects.all()
    ]
    ct = next(ds for ds in stored if ds.Modality == "CT")
    assert ct.SeriesDescription == "******** protocol, ** lab"
    assert ct.StudyDescription == "Investigators^*******"
