"""The portal as a DICOM node: a Storage SCP (C-STORE, PS3.4 Annex B) and Verification
SCP (C-ECHO) that a PACS or modality pushes studies to, for research imports.

Each association becomes one :class:`~uploads.models.Upload` of the account its sender
is registered for (created at its first C-STORE). Every received instance is kept as the
sender encoded it (PS3.10 file with the negotiated transfer syntax, no decoding) through
the same path as a browser upload (:func:`uploads.intake.receive.receive_whole`): quarantine,
then the Celery ingest pipeline (server de-identification, index, store). The original
never leaves quarantine. When the association ends (released, aborted or dropped) the
upload knows how many files it has and closes once they are processed (an association
that kept nothing leaves no upload).

C-STORE statuses (PS3.4 B.2.3): 0x0000 when the instance is safely in quarantine and
queued; 0xA700 (Out of Resources) when it could not be kept (database or storage down,
or more than ``UPLOAD_MAX_FILES`` instances in one association), so the sender retries.
Whether the instance is usable (DICOM with the UIDs we need, within the image limits)
is decided by the pipeline and shown per file on the owner's study page, as for uploads.

Who may send (the DICOM upper layer has no authentication, so the receiver checks what
it can): the called AE title must be ours (``DICOM_AE_TITLE``), and the calling AE title
*and* the address it connects from must be a registered peer, ``DICOM_PEERS``
(``AE@host=account``, each peer's studies go to its own account). Without peers the
receiver listens only on a loopback address (``DICOM_BIND``, 127.0.0.1 by default) for
the one account given; it refuses to start on another address without peers. For a
PACS on another network, put TLS in front (docs/deployment.md).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, close_old_connections, connection, transaction
from pydicom.uid import AllTransferSyntaxes
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from portal.accounts.models import User
from uploads.intake.ingest import close_if_done
from uploads.intake.receive import receive_whole
from uploads.models import Upload

log = logging.getLogger(__name__)

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
NOT_AUTHORIZED = 0x0124  # Refused: Not Authorized (PS3.7 C.5)
#: Received files are named "C-STORE from <calling AE> #<n>" (no patient data).
NAME_PREFIX = "C-STORE from "


@dataclass(frozen=True)
class Peer:
    """A sender allowed to push: its AE title, the addresses it connects from, and the
    account its studies belong to."""

    ae_title: str
    addresses: frozenset[str]
    owner_id: int


@dataclass
class Association:
    """Who is sending on one association, and what it has received so far."""

    owner_id: int | None = None
    upload: Upload | None = None
    files: set[str] = field(default_factory=set)


def parse_peers(entries: list[str]) -> list[tuple[str, str, str]]:
    """``DICOM_PEERS`` entries ``AE@host=email`` as (AE title, host, email).

    Raises ImproperlyConfigured for an entry that is not of that form.
    """
    peers = []
    for entry in entries:
        ae_host, _, email = entry.partition("=")
        ae_title, _, host = ae_host.partition("@")
        ae_title, host, email = ae_title.strip(), host.strip(), email.strip()
        if not (0 < len(ae_title) <= 16 and host and "@" in email):
            raise ImproperlyConfigured(
                f"DICOM_PEERS entry {entry!r} must look like AE_TITLE@host=account@example.org"
            )
        peers.append((ae_title, host, email))
    return peers


def addresses(host: str) -> frozenset[str]:
    """The IP addresses of ``host`` (an address, or a name resolved now)."""
    try:
        return frozenset({str(ipaddress.ip_address(host))})
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        raise ImproperlyConfigured(f"DICOM_PEERS host {host!r} cannot be resolved") from exc
    return frozenset(str(ipaddress.ip_address(info[4][0])) for info in infos)


def load_peers() -> list[Peer]:
    """The registered senders (``DICOM_PEERS``) with their accounts."""
    peers = []
    for ae_title, host, email in parse_peers(settings.DICOM_PEERS):
        owner = User.objects.filter(email__iexact=email, is_active=True).first()
        if owner is None:
            raise ImproperlyConfigured(f"DICOM_PEERS: no active account {email}")
        peers.append(Peer(ae_title, addresses(host), owner.pk))
    return peers


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class Receiver:
    """Event handlers of the Storage SCP (each association runs in its own thread; state
    is per association). ``peers`` decide who may send and for whom; without peers
    (a loopback-only receiver) every sender's studies go to ``owner_id``."""

    def __init__(self, peers: list[Peer], owner_id: int | None = None) -> None:
        self.peers = peers
        self.owner_id = owner_id
        self.lock = threading.Lock()
        self.associations: dict[int, Association] = {}

    def state(self, event: Any) -> Association:
        with self.lock:
            return self.associations.setdefault(id(event.assoc), Association())

    def sender_owner(self, event: Any) -> int | None:
        """The account a sender pushes for, or None when it is not registered."""
        if not self.peers:
            return self.owner_id
        address = str(event.assoc.requestor.address)
        title = calling(event)
        for peer in self.peers:
            if peer.ae_title == title and address in peer.addresses:
                return peer.owner_id
        return None

    def on_established(self, event: Any) -> None:
        """An association from a calling AE title that is registered, but not from this
        address (a faked title), is aborted before anything is sent."""
        owner_id = self.sender_owner(event)
        if owner_id is None:
            log.warning("association from %s refused: not a registered peer", calling(event))
            event.assoc.abort()
            return
        self.state(event).owner_id = owner_id

    def on_echo(self, event: Any) -> int:
        return SUCCESS if self.state(event).owner_id is not None else NOT_AUTHORIZED

    def on_store(self, event: Any) -> int:
        """Keep one received instance (C-STORE request)."""
        state = self.state(event)
        if state.owner_id is None:
            return NOT_AUTHORIZED
        data = event.encoded_dataset(include_meta=True)
        key = hashlib.sha256(data).hexdigest()
        if key not in state.files and len(state.files) >= settings.UPLOAD_MAX_FILES:
            log.warning("association from %s: over %s instances", calling(event), len(state.files))
            return OUT_OF_RESOURCES
        try:
            close_old_connections()
            if state.upload is None:  # open-ended until the association ends
                state.upload = Upload.objects.create(
                    owner_id=state.owner_id, expected_files=settings.UPLOAD_MAX_FILES
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
        upload.sealed = True  # the association ended: nothing more will come
        upload.save(update_fields=["expected_files", "sealed"])
        close_if_done(upload)


def recover(owner_ids: list[int]) -> int:
    """Close the uploads a previous receiver left open-ended (killed during an
    association): they keep the files that arrived. Run at start; one receiver for these
    accounts. Returns how many uploads were closed."""
    left = Upload.objects.filter(
        owner_id__in=owner_ids,
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
    ae.require_called_aet = True  # an association for another AE title is rejected
    ae.maximum_pdu_size = 0  # no limit on what the sender may send per PDU
    return ae


def serve(port: int, owner_id: int | None = None, block: bool = True) -> Any:
    """Start the SCP on ``DICOM_BIND``:``port`` for the senders in ``DICOM_PEERS``, or,
    without peers, on a loopback address for ``owner_id``. With ``block=False`` returns
    the running server (``server.shutdown()`` stops it).

    Raises ImproperlyConfigured when the receiver would accept anyone from the network
    (no peers and a non-loopback address), or without peers and without an owner.
    """
    peers = load_peers()
    if not peers and not is_loopback(settings.DICOM_BIND):
        raise ImproperlyConfigured(
            f"the DICOM receiver listens on {settings.DICOM_BIND}: list the senders in "
            "DICOM_PEERS (AE_TITLE@host=account), or bind it to 127.0.0.1"
        )
    if not peers and owner_id is None:
        raise ImproperlyConfigured("give the receiver's account, or list DICOM_PEERS")
    ae = application_entity()
    if peers:
        ae.require_calling_aet = sorted({peer.ae_title for peer in peers})
    owners = sorted({peer.owner_id for peer in peers} | ({owner_id} if owner_id else set()))
    recovered = recover(owners)
    if recovered:
        log.warning("closed %s upload(s) left open by a previous receiver", recovered)
    receiver = Receiver(peers, owner_id)
    handlers: list[Any] = [
        (evt.EVT_ESTABLISHED, receiver.on_established),
        (evt.EVT_C_ECHO, receiver.on_echo),
        (evt.EVT_C_STORE, receiver.on_store),
        (evt.EVT_RELEASED, receiver.on_end),
        (evt.EVT_ABORTED, receiver.on_end),
    ]
    return ae.start_server((settings.DICOM_BIND, port), block=block, evt_handlers=handlers)
