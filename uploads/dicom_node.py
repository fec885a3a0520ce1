"""The portal as a DICOM node: a Storage SCP (C-STORE, PS3.4 Annex B) and Verification
SCP (C-ECHO) that a PACS or modality pushes studies to, for research imports.

Each association becomes one :class:`~uploads.models.Upload` of the configured owner
(created at its first C-STORE). Every received instance is kept as the sender encoded it
(PS3.10 file with the negotiated transfer syntax, no decoding) through the same path as
a browser upload (:func:`uploads.receive.receive_whole`): quarantine, then the Celery
ingest pipeline (server de-identification, index, store). The original never leaves
quarantine. When the association ends (released, aborted or dropped) the upload knows
how many files it has and closes once they are processed (an association that kept
nothing leaves no upload).

C-STORE statuses (PS3.4 B.2.3): 0x0000 when the instance is safely in quarantine and
queued; 0xA700 (Out of Resources) when it could not be kept (database or storage down,
or more than ``UPLOAD_MAX_FILES`` instances in one association), so the sender retries.
Whether the instance is usable (DICOM with the UIDs we need, within the image limits)
is decided by the pipeline and shown per file on the owner's study page, as for uploads.

Who may send: ``DICOM_ALLOWED_CALLING_AES`` (empty: any calling AE title). The DICOM
upper layer has no authentication: expose the port only to the PACS network.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from pydicom.uid import AllTransferSyntaxes
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from uploads.ingest import close_if_done
from uploads.models import Upload
from uploads.receive import receive_whole

log = logging.getLogger(__name__)

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
#: Received files are named "C-STORE from <calling AE> #<n>" (no patient data).
NAME_PREFIX = "C-STORE from "


@dataclass
class Association:
    """What one association has received so far."""

    upload: Upload | None = None
    files: set[str] = field(default_factory=set)


class Receiver:
    """Event handlers of the Storage SCP for one owner (each association runs in its own
    thread; state is per association)."""

    def __init__(self, owner_id: int) -> None:
        self.owner_id = owner_id
        self.lock = threading.Lock()
        self.associations: dict[int, Association] = {}

    def state(self, event: Any) -> Association:
        with self.lock:
            return self.associations.setdefault(id(event.assoc), Association())

    def on_store(self, event: Any) -> int:
        """Keep one received instance (C-STORE request)."""
        state = self.state(event)
        data = event.encoded_dataset(include_meta=True)
        key = hashlib.sha256(data).hexdigest()
        if key not in state.files and len(state.files) >= settings.UPLOAD_MAX_FILES:
            log.warning("association from %s: over %s instances", calling(event), len(state.files))
            return OUT_OF_RESOURCES
        try:
            close_old_connections()
            if state.upload is None:  # open-ended until the association ends
                state.upload = Upload.objects.create(
                    owner_id=self.owner_id, expected_files=settings.UPLOAD_MAX_FILES
                )
            name = f"{NAME_PREFIX}{calling(event)} #{len(state.files) + 1}"
            receive_whole(state.upload, [(key, len(data))], bytes(data), name)
        except (DatabaseError, OSError) as exc:
            log.warning("C-STORE not kept (%s): the sender may retry", type(exc).__name__)
            return OUT_OF_RESOURCES
        state.files.add(key)
        return SUCCESS

    def on_end(self, event: Any) -> None:
        """The association ended (released, or aborted: also a dropped connection): the
        upload now knows how many files it has, and closes when they are processed. Runs
        in the association's thread, which did the database work: its connection is
        closed here."""
        with self.lock:
            state = self.associations.pop(id(event.assoc), None)
        try:
            if state is not None and state.upload is not None:
                finish_association(state.upload.pk, len(state.files))
                log.info("association from %s: %s instances", calling(event), len(state.files))
        except DatabaseError as exc:  # the upload stays open; an admin can cancel it
            log.error("association end not recorded (%s)", type(exc).__name__)
        finally:
            connection.close()  # this thread ends with the association


def calling(event: Any) -> str:
    return str(event.assoc.requestor.ae_title).strip()


def finish_association(upload_id: int, files: int) -> None:
    with transaction.atomic():
        upload = Upload.objects.select_for_update(no_key=True).get(pk=upload_id)
        if not files and not upload.files.exists():  # nothing was kept: no empty upload
            upload.delete()
            return
        upload.expected_files = files
        upload.save(update_fields=["expected_files"])
        close_if_done(upload)


def recover(owner_id: int) -> int:
    """Close the uploads a previous receiver left open-ended (killed during an
    association): they keep the files that arrived. Run at start; one receiver per owner.
    Returns how many uploads were closed."""
    left = Upload.objects.filter(
        owner_id=owner_id,
        state=Upload.State.OPEN,
        expected_files=settings.UPLOAD_MAX_FILES,
        files__name__startswith=NAME_PREFIX,
    ).distinct()
    closed = 0
    for upload in left:
        finish_association(upload.pk, upload.files.filter(parent__isnull=True).count())
        closed += 1
    return closed


def application_entity() -> AE:
    """A Storage SCP for every storage SOP class and transfer syntax pynetdicom knows
    (compressed data is kept as sent), and a Verification SCP."""
    ae = AE(ae_title=settings.DICOM_AE_TITLE)
    every_syntax = [str(uid) for uid in AllTransferSyntaxes]
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(str(context.abstract_syntax), every_syntax)
    ae.add_supported_context(Verification)
    allowed = [title for title in settings.DICOM_ALLOWED_CALLING_AES if title]
    if allowed:
        ae.require_calling_aet = allowed
    ae.maximum_pdu_size = 0  # no limit on what the sender may send per PDU
    return ae


def serve(owner_id: int, port: int, block: bool = True) -> Any:
    """Start the SCP on ``port`` (all interfaces, or ``DICOM_BIND``). With ``block=False``
    returns the running server (``server.shutdown()`` stops it)."""
    recovered = recover(owner_id)
    if recovered:
        log.warning("closed %s upload(s) left open by a previous receiver", recovered)
    receiver = Receiver(owner_id)
    handlers: list[Any] = [
        (evt.EVT_C_STORE, receiver.on_store),
        (evt.EVT_RELEASED, receiver.on_end),
        (evt.EVT_ABORTED, receiver.on_end),
    ]
    ae = application_entity()
    return ae.start_server((settings.DICOM_BIND, port), block=block, evt_handlers=handlers)
