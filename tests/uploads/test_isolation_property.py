"""Property test of issue 13 ("Done when"): random interleavings of uploads, re-imports,
forged copies (through the upload API and pushed by a PACS with C-STORE) and deletions by
three accounts never change the bytes behind another account's instance.

A Hypothesis state machine drives the real upload API (Django test client), the real
ingest pipeline (tasks run eagerly on commit), the real DICOM receiver (pynetdicom SCP in
this process, pushed to by a pynetdicom SCU) and the real storage back-end (a temporary
``MEDIA_ROOT``). The attacks are those of ``tests/uploads/test_isolation.py``
(``forged_copy``: another account's UIDs, pseudonym and "already de-identified" markers
with other pixels), in any order and mixed with ordinary use.

After every step (``isolation``):

* an instance that existed before the step and still exists has the same stored file
  name and the same SHA-256 of its stored bytes;
* every instance's file exists, no two instances share a file, and the stored bytes
  parse and carry the instance's SOP Instance UID;
* no SOP Instance UID is held by two accounts (the server issues UIDs per account and
  keeps a UID on re-import only when it was issued for the same account);
* the files of deleted instances are gone from storage;
* every received file linked to an instance is linked to one of its uploader's own;
* each account's running total of stored bytes equals a recount of its instances.

And in the steps: every file is stored or a duplicate, of its uploader's own instance; a
re-import of an account's own stored file is a duplicate of that very instance; a
forged copy never lands on its victim's instance, and when it makes a new one, that one
holds the forged pixels.

Two tests: one through the upload API only (any database), and one where a PACS also
pushes into the third account (PostgreSQL, committed transactions: the receiver's
threads commit). Both run under an owned UID root, the default ``DEID_UID_ROOT``: under
the shared root 2.25 the server cannot recognise its own UIDs, so re-imports are new
instances and the same original has the same UIDs in every account (by design).
"""

from __future__ import annotations

import hashlib
import io
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

import pydicom
import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.db.models import F
from hypothesis import HealthCheck, Phase, event
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, EnhancedMRImageStorage, MRImageStorage

from tests.conftest import make_user
from tests.uploads.conftest import sample_bytes, zip_bytes
from tests.uploads.test_dicom_receiver import free_port
from tests.uploads.test_isolation import Sender, encode, forged_copy
from uploads.intake import quota
from uploads.intake import receiver as dicom_node
from uploads.models import FileStatus, Instance, Study, Upload, UploadFile, Usage

#: Real files (pydicom's test data): a CT, an MR, the same MR in implicit VR (same UIDs:
#: a duplicate of it), a 10-frame enhanced MR (more than one upload chunk).
SOURCES = ("CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "emri_small.dcm")
ACCOUNTS = (0, 1, 2)
#: The account the PACS pushes into (the receiver's only peer).
PEER = 2
#: Variants of a real file: 0 as it is, 1 another SOP Instance UID, 2 another series too.
VARIANTS = (0, 1, 2)

#: The default ``DEID_UID_ROOT`` (an owned root), whatever the environment says.
OWNED_UID_ROOT = "2.25.171586514918853302742"

PROPERTY_SETTINGS = hypothesis_settings(
    max_examples=15,
    stateful_step_count=10,
    deadline=None,
    database=None,  # no example database in the work tree; a failure prints its steps
    suppress_health_check=[HealthCheck.too_slow],
    # A failure: shrink the first one found and report it (each step is real I/O).
    report_multiple_bugs=False,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)


# -- the files -------------------------------------------------------------------------------


@cache
def original(source: str, variant: int) -> bytes:
    """A real file as a hospital would send it, or a variant of it with another SOP
    Instance UID (variant 1) and also another Series Instance UID (variant 2): UIDs that
    are not the server's, so each account gets its own for them."""
    if variant == 0:
        return sample_bytes(source)
    ds = pydicom.dcmread(str(get_testdata_file(source)))
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[source, "instance", str(variant)])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if variant == 2:
        ds.SeriesInstanceUID = generate_uid(entropy_srcs=[source, "series"])
    return encode(ds)


@cache
def inverted_pixels(source: str) -> bytes:
    """The source's pixel bytes inverted: the same size, other pixels."""
    ds = pydicom.dcmread(str(get_testdata_file(source)))
    return bytes(255 - b for b in ds.PixelData)


@dataclass(frozen=True)
class Forgery:
    """A forged copy of instance ``victim`` (its UIDs, pseudonym and markers) and the
    pixel bytes it carries."""

    victim: int
    data: bytes
    pixels: bytes

    @classmethod
    def make(cls, victim: int, source: str, invert: bool) -> Forgery:
        """With ``source``'s pixels, inverted (same size, other pixels) or not."""
        pixels = inverted_pixels(source) if invert else None
        data = forged_copy(Instance.objects.get(pk=victim), source, pixels=pixels)
        return cls(victim, data, bytes(pydicom.dcmread(io.BytesIO(data)).PixelData))


def stored(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return bytes(handle.read())


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def owner_of(instance_id: int) -> int:
    return int(
        Instance.objects.filter(pk=instance_id).values_list("series__study__owner_id", flat=True)[0]
    )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# -- the world the machine runs in ----------------------------------------------------------


@dataclass
class World:
    """What the test function provides: the accounts and their upload clients, the
    on-commit capture, and the receiver's port (None: no PACS in this test)."""

    owners: list[Any]
    senders: list[Sender]
    capture: Any
    port: int | None = None

    def owner_id(self, account: int) -> int:
        return int(self.owners[account].pk)

    def account(self, owner_id: int) -> int:
        return next(i for i, owner in enumerate(self.owners) if owner.pk == owner_id)


def push(port: int, *datasets: pydicom.Dataset) -> list[int]:
    """A PACS (the registered peer "PACS" on 127.0.0.1) sends ``datasets`` in one
    association; returns the C-STORE statuses."""
    ae = AE(ae_title="PACS")
    for sop_class in (CTImageStorage, MRImageStorage, EnhancedMRImageStorage):
        ae.add_requested_context(sop_class)
    assoc = ae.associate("127.0.0.1", port, ae_title=django_settings.DICOM_AE_TITLE)
    assert assoc.is_established
    try:
        return [int(assoc.send_c_store(ds).Status) for ds in datasets]
    finally:
        assoc.release()


def reset(world: World) -> None:
    """A clean slate for each example (the database is not rolled back between them)."""
    with world.capture(execute=True):
        for study in Study.objects.all():
            study.delete()
    Upload.objects.all().delete()
    Usage.objects.all().delete()
    shutil.rmtree(django_settings.MEDIA_ROOT, ignore_errors=True)


class IsolationMachine(RuleBasedStateMachine):
    """Three accounts upload, re-import, forge and (via a PACS) push; an admin deletes."""

    world: ClassVar[World]

    def __init__(self) -> None:
        super().__init__()
        reset(self.world)
        #: instance id -> (stored name, SHA-256 of its bytes), as of the last step
        self.seen: dict[int, tuple[str, str]] = {}
        #: stored names of deleted instances
        self.deleted: set[str] = set()

    # -- helpers ----------------------------------------------------------------------------

    def instances(self, owners: set[int] | None = None) -> list[int]:
        query = Instance.objects.order_by("pk")
        if owners is not None:
            query = query.filter(series__study__owner_id__in=owners)
        return list(query.values_list("pk", flat=True))

    def others(self, account: int) -> list[int]:
        """Instances of the other accounts."""
        return self.instances({self.world.owner_id(a) for a in ACCOUNTS if a != account})

    def upload(self, account: int, files: dict[str, bytes]) -> list[UploadFile]:
        """Upload through the API as ``account``; the files that ended in the pipeline
        (ZIP members instead of their archive)."""
        state = self.world.senders[account].upload(files)
        assert state["state"] == "done", state
        listed = Study.objects.filter(pk__in=[study["id"] for study in state["studies"]])
        assert set(listed.values_list("owner_id", flat=True)) <= {self.world.owner_id(account)}
        return list(
            UploadFile.objects.filter(upload_id=state["id"])
            .exclude(status=FileStatus.EXPANDED)
            .select_related("instance")
        )

    def check_kept(self, files: list[UploadFile], owner_id: int) -> None:
        for file in files:
            assert file.status in {FileStatus.STORED, FileStatus.DUPLICATE}, (
                file.status,
                file.message,
            )
            assert file.instance_id is not None
            assert owner_of(file.instance_id) == owner_id, "linked to another account's instance"

    def check_forged(self, file: UploadFile, forgery: Forgery) -> None:
        """A forged copy is the forger's own instance; a new one holds the sent pixels."""
        assert file.instance is not None and file.instance_id != forgery.victim
        event(f"forged copy: {file.status}")
        if file.status == FileStatus.STORED:
            kept = pydicom.dcmread(io.BytesIO(stored(file.instance.file)))
            assert bytes(kept.PixelData) == forgery.pixels

    # -- rules ------------------------------------------------------------------------------

    @rule(account=st.sampled_from(ACCOUNTS), source=st.sampled_from(SOURCES),
          variant=st.sampled_from(VARIANTS))  # fmt: skip
    def upload_real_file(self, account: int, source: str, variant: int) -> None:
        files = self.upload(account, {source: original(source, variant)})
        self.check_kept(files, self.world.owner_id(account))
        event(f"real file: {files[0].status}")

    @precondition(lambda self: Instance.objects.exists())
    @rule(data=st.data())
    def reimport_own_file(self, data: st.DataObject) -> None:
        """An account uploads one of its stored files again: the same instance."""
        instance_id = data.draw(st.sampled_from(self.instances()), label="own instance")
        instance = Instance.objects.get(pk=instance_id)
        account = self.world.account(owner_of(instance_id))
        count = Instance.objects.count()
        (file,) = self.upload(account, {"again.dcm": stored(instance.file)})
        assert (file.status, file.instance_id) == (FileStatus.DUPLICATE, instance_id), (
            file.status,
            file.message,
        )
        assert Instance.objects.count() == count
        event("re-import: duplicate")

    @precondition(lambda self: Instance.objects.exists())
    @rule(data=st.data(), as_zip=st.booleans())
    def upload_forged_copies(self, data: st.DataObject, as_zip: bool) -> None:
        """An account uploads forged copies of other accounts' instances: one file, or
        one to three in a ZIP."""
        forgers = [a for a in ACCOUNTS if self.others(a)]
        account = data.draw(st.sampled_from(forgers), label="forger")
        wanted = data.draw(
            st.lists(
                st.tuples(st.sampled_from(self.others(account)), st.sampled_from(SOURCES),
                          st.booleans()),
                min_size=1, max_size=3 if as_zip else 1,
            ),
            label="forgeries (victim, pixels of, inverted)",
        )  # fmt: skip
        forgeries = [Forgery.make(*args) for args in wanted]
        named = {f"forged{i}.dcm": forgery.data for i, forgery in enumerate(forgeries)}
        files = self.upload(account, {"forged.zip": zip_bytes(named)} if as_zip else named)
        self.check_kept(files, self.world.owner_id(account))
        by_key = {sha(forgery.data): forgery for forgery in forgeries}
        for file in files:
            self.check_forged(file, by_key[file.key])

    @precondition(lambda self: self.world.port is not None)
    @rule(source=st.sampled_from(SOURCES), variant=st.sampled_from(VARIANTS))
    def pacs_pushes_a_real_file(self, source: str, variant: int) -> None:
        event(f"real file pushed: {self.pacs_push(original(source, variant)).status}")

    @precondition(lambda self: self.world.port is not None and self.others(PEER))
    @rule(data=st.data(), source=st.sampled_from(SOURCES), invert=st.booleans())
    def pacs_pushes_a_forged_copy(self, data: st.DataObject, source: str, invert: bool) -> None:
        """The PACS pushes a forged copy of another account's instance into its account."""
        victim = data.draw(st.sampled_from(self.others(PEER)), label="victim")
        forgery = Forgery.make(victim, source, invert)
        self.check_forged(self.pacs_push(forgery.data), forgery)

    def pacs_push(self, data: bytes) -> UploadFile:
        """Push one file from the PACS and wait until the receiver's upload is done."""
        assert self.world.port is not None
        owner_id = self.world.owner_id(PEER)
        before = set(Upload.objects.values_list("pk", flat=True))
        assert push(self.world.port, pydicom.dcmread(io.BytesIO(data))) == [dicom_node.SUCCESS]
        pushed = Upload.objects.filter(owner_id=owner_id).exclude(pk__in=before)

        def done() -> bool:
            return pushed.exists() and not pushed.exclude(state=Upload.State.DONE).exists()

        wait_for(done, "the pushed instance to be ingested")
        (file,) = UploadFile.objects.filter(upload__in=pushed).select_related("instance")
        self.check_kept([file], owner_id)
        return file

    @precondition(lambda self: Study.objects.exists())
    @rule(data=st.data())
    def admin_deletes_a_study(self, data: st.DataObject) -> None:
        study_id = data.draw(
            st.sampled_from(list(Study.objects.order_by("pk").values_list("pk", flat=True))),
            label="study",
        )
        names = set(Instance.objects.filter(series__study=study_id).values_list("file", flat=True))
        with self.world.capture(execute=True):
            Study.objects.get(pk=study_id).delete()
        self.deleted |= names
        event("study deleted")

    # -- what must always hold ----------------------------------------------------------------

    @invariant()
    def isolation(self) -> None:
        rows = list(
            Instance.objects.values_list(
                "pk", "file", "sop_instance_uid", "series__study__owner_id"
            )
        )
        files = {pk: name for pk, name, _, _ in rows}
        contents = {pk: stored(name) for pk, name in files.items() if default_storage.exists(name)}
        now = {pk: (files[pk], sha(data)) for pk, data in contents.items()}
        # The bytes (and the file) behind every instance that was there before are the same.
        for pk, before in self.seen.items():
            if pk in files:
                assert now.get(pk) == before, f"instance {pk}: stored file changed or gone"
        # Each instance has a file of its own, holding that very instance.
        missing = sorted(set(files) - set(now))
        assert not missing, f"instances without a stored file: {missing}"
        shared = [name for name, n in Counter(files.values()).items() if n > 1]
        assert not shared, f"instances share stored files: {shared}"
        for pk, _, sop_uid, _ in rows:
            kept = pydicom.dcmread(io.BytesIO(contents[pk]), stop_before_pixels=True)
            assert kept.SOPInstanceUID == sop_uid, f"instance {pk}: its file holds another"
        # The server issues UIDs per account: no account's instance carries another's UID.
        accounts: dict[str, set[int]] = defaultdict(set)
        for _, _, sop_uid, owner_id in rows:
            accounts[sop_uid].add(owner_id)
        in_two = sorted(uid for uid, owners in accounts.items() if len(owners) > 1)
        assert not in_two, f"UIDs in two accounts: {in_two}"
        # Deleted instances leave no file behind.
        kept_names = set(files.values())
        for name in sorted(self.deleted - kept_names):
            assert not default_storage.exists(name), f"{name} outlived its deleted instance"
        # Received files point at their uploader's own instances only.
        foreign = UploadFile.objects.filter(instance__isnull=False).exclude(
            instance__series__study__owner_id=F("upload__owner_id")
        )
        assert not foreign.exists(), "a received file is linked to another account's instance"
        # The running total of stored bytes never drifts from the instances.
        for owner in self.world.owners:
            assert quota.stored_bytes(owner.pk) == quota.recount(owner.pk), owner.email
        self.seen = now


@pytest.fixture(autouse=True)
def _owned_uid_root(settings: Any) -> None:
    settings.DEID_UID_ROOT = OWNED_UID_ROOT


def run_machine(world: World) -> None:
    machine = type("Isolation", (IsolationMachine,), {"world": world})
    run_state_machine_as_test(machine, settings=PROPERTY_SETTINGS)


def third_patient() -> Any:
    return make_user("carol@example.org", "patient")


def logged_in(user: Any) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_uploads_reimports_forgeries_and_deletions_keep_accounts_apart(
    patient: Any, other_patient: Any, django_capture_on_commit_callbacks: Any
) -> None:
    owners = [patient, other_patient, third_patient()]
    capture = django_capture_on_commit_callbacks
    run_machine(World(owners, [Sender(logged_in(o), capture) for o in owners], capture))


@pytest.fixture
def pacs_receiver(require_postgres: None, settings: Any) -> Iterator[Callable[[Any], int]]:
    """Starts the receiver with one peer ("PACS" on 127.0.0.1) for the given account."""
    servers = []
    settings.DICOM_BIND = "127.0.0.1"

    def start(owner: Any) -> int:
        settings.DICOM_PEERS = [f"PACS@127.0.0.1={owner.email}"]
        port = free_port()
        servers.append(dicom_node.serve(port, block=False))
        return port

    yield start
    for server in servers:
        server.shutdown()
        deadline = time.monotonic() + 10  # association threads close their connections
        while server.active_associations and time.monotonic() < deadline:
            time.sleep(0.1)


@pytest.mark.django_db(transaction=True)  # the receiver's threads commit
def test_with_pacs_pushes_too(
    pacs_receiver: Callable[[Any], int], patient: Any, other_patient: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    owners = [patient, other_patient, third_patient()]
    capture = django_capture_on_commit_callbacks
    port = pacs_receiver(owners[PEER])
    run_machine(World(owners, [Sender(logged_in(o), capture) for o in owners], capture, port))
