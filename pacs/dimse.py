"""DICOM network calls to a PACS (pynetdicom, plain Python: no Django, no database).

* :func:`echo` — C-ECHO (Verification);
* :func:`find_studies` — C-FIND at STUDY level (Study Root), by study date range and
  modality;
* :func:`get_study` — C-GET of one study: the PACS sends every instance back on the same
  association (C-STORE sub-operations, this process is their SCP); each instance is handed
  to a callback as a PS3.10 file, exactly as the PACS encoded it.

Errors are :class:`DimseError` with a message a person understands and ``retriable``
saying whether trying again later may help (connection refused or dropped, a timeout,
a "rejected (transient)" association) or not (a called or calling AE title the PACS does
not know, a query the PACS refuses). Nothing here logs or prints patient data.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import AllTransferSyntaxes
from pynetdicom import AE, StoragePresentationContexts, build_role, evt
from pynetdicom.pdu_primitives import A_ASSOCIATE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    Verification,
)

#: PS3.5 6.2: an AE title is at most 16 characters of the default repertoire, no
#: backslash or control characters, and not only spaces.
AE_TITLE_RE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
MODALITY_RE = re.compile(r"^[A-Z0-9_]{1,16}$")

#: Status codes (PS3.4 C.4.1.1.4, C.4.3.1.4).
PENDING = (0xFF00, 0xFF01)
SUCCESS = 0x0000
WARNING = 0xB000  # C-GET: some sub-operations failed
CANCEL = 0xFE00
OUT_OF_RESOURCES = 0xA700

#: Presentation contexts are limited to 128 per association (PS3.8 9.3.2.2); one is
#: for the C-GET itself.
MAX_STORAGE_CONTEXTS = 127


class DimseError(Exception):
    """A DICOM network call failed; ``str(exc)`` says why in plain words."""

    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable


class InvalidPeer(ValueError):
    """An AE title, host or port that cannot be used (the message names the input)."""


@dataclass(frozen=True)
class Peer:
    """A PACS: its AE title (the *called* title), host and port."""

    ae_title: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.ae_title}@{host}:{self.port}"


def check_ae_title(value: str, what: str = "AE title") -> str:
    title = value.strip()
    if not title:
        raise InvalidPeer(f"{what}: empty")
    if len(title) > 16:
        raise InvalidPeer(f"{what}: at most 16 characters, {len(title)} given")
    if not AE_TITLE_RE.match(title):
        raise InvalidPeer(f"{what}: only letters, digits, spaces and punctuation (no backslash)")
    return title


def check_host(value: str) -> str:
    host = value.strip().strip("[]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not HOST_RE.match(host):
        raise InvalidPeer(f"host: {value!r} is neither an IP address nor a host name")
    return host


def check_port(value: str | int) -> int:
    try:
        port = int(str(value).strip())
    except ValueError:
        raise InvalidPeer(f"port: {value!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise InvalidPeer(f"port: {port} is not between 1 and 65535")
    return port


def parse_peer(text: str) -> Peer:
    """``AE_TITLE@HOST:PORT`` (an IPv6 host in brackets) as a :class:`Peer`.

    Raises InvalidPeer saying which part is wrong.
    """
    title, at, rest = text.strip().rpartition("@")
    if not at:
        raise InvalidPeer(f"{text!r}: expected AE_TITLE@HOST:PORT, e.g. PACS@10.0.0.5:104")
    host, colon, port = rest.rpartition(":")
    if not colon or not host:
        raise InvalidPeer(f"{text!r}: the port is missing (AE_TITLE@HOST:PORT)")
    return Peer(check_ae_title(title), check_host(host), check_port(port))


def check_modality(value: str) -> str:
    modality = value.strip().upper()
    if modality and not MODALITY_RE.match(modality):
        raise InvalidPeer(f"modality: {value!r} is not a DICOM modality code such as CT or MR")
    return modality


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0
    network: float = 60.0  # no data for this long: the association is aborted


@dataclass(frozen=True)
class FoundStudy:
    """One C-FIND match. Holds original identifiers: keep it in memory only."""

    study_uid: str
    patient_id: str
    study_date: str  # YYYYMMDD, or "" when the PACS gave none
    modalities: tuple[str, ...]
    sop_classes: tuple[str, ...]


def _entity(calling: str, timeouts: Timeouts) -> AE:
    ae = AE(ae_title=calling)
    ae.connection_timeout = timeouts.connect
    ae.acse_timeout = timeouts.network
    ae.dimse_timeout = timeouts.network
    ae.network_timeout = timeouts.network
    return ae


def late_answer(assoc: Any) -> Any:
    """The peer's A-ASSOCIATE-RJ when pynetdicom missed it: when the rejection and the
    closed connection arrive before its requesting thread looks, it takes the closed
    socket for a failed connection and reads no answer (seen with Orthanc under load, about
    1 in 10). The answer is still among what the peer sent."""
    try:
        waiting = list(assoc.dul.to_user_queue.queue)
    except AttributeError:
        return None
    for item in waiting:
        if isinstance(item, A_ASSOCIATE) and item.result in (0x01, 0x02):
            return item
    return None


def refusal(assoc: Any, peer: Peer) -> DimseError:
    """Why an association was not established, in plain words."""
    answer = assoc.acceptor.primitive or late_answer(assoc)
    if answer is not None and answer.result in (0x01, 0x02):
        reason = answer.reason_str
        transient = answer.result == 0x02
        hint = ""
        if answer.result_source == 1 and answer.diagnostic == 7:
            hint = f" (is {peer.ae_title!r} the PACS's AE title?)"
        elif answer.result_source == 1 and answer.diagnostic == 3:
            hint = " (the PACS must list the portal's AE title, PACS_AE_TITLE, as a known node)"
        kind = "for now" if transient else "permanently"
        return DimseError(
            f"{peer} refused the association {kind}: {reason}{hint}", retriable=transient
        )
    if answer is None:
        return DimseError(
            f"cannot connect to {peer}: no DICOM service answered (wrong host or port, "
            "or the PACS is down)",
            retriable=True,
        )
    return DimseError(f"{peer} aborted the association", retriable=True)


@contextmanager
def associate(
    peer: Peer,
    calling: str,
    timeouts: Timeouts,
    contexts: list[Any],
    *,
    roles: list[Any] | None = None,
    handlers: list[Any] | None = None,
) -> Iterator[Any]:
    """An established association (released on exit), or DimseError. ``contexts``: SOP
    classes, or (SOP class, transfer syntaxes) pairs."""
    ae = _entity(calling, timeouts)
    for context in contexts:
        abstract, syntaxes = context if isinstance(context, tuple) else (context, None)
        if syntaxes:
            ae.add_requested_context(abstract, syntaxes)
        else:
            ae.add_requested_context(abstract)
    for attempt in (1, 2):
        started = time.monotonic()
        try:
            assoc = ae.associate(
                peer.host, peer.port, ae_title=peer.ae_title, ext_neg=roles or None,
                evt_handlers=handlers or None,
            )  # fmt: skip
        except OSError as exc:
            raise DimseError(
                f"cannot connect to {peer}: {exc.strerror or exc}", retriable=True
            ) from exc
        if assoc.is_established:
            break
        error = refusal(assoc, peer)
        # A quick failure with no answer at all: once more at once (the race above, when
        # the rejection itself was not read yet); a refusal or a timeout is final.
        quick = time.monotonic() - started < 2
        if attempt == 2 or not (error.retriable and quick and not assoc.is_rejected):
            raise error
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def echo(peer: Peer, calling: str, timeouts: Timeouts = Timeouts()) -> None:
    """C-ECHO; returns when the PACS answered Success, else DimseError."""
    with associate(peer, calling, timeouts, [Verification]) as assoc:
        status = assoc.send_c_echo()
        check_status(status, peer, "C-ECHO")


def check_status(status: Dataset | None, peer: Peer, what: str) -> int:
    if status is None or "Status" not in status:
        raise DimseError(
            f"{what}: no answer from {peer} (timeout or dropped connection)", retriable=True
        )
    code = int(status.Status)
    if code not in (SUCCESS, WARNING, *PENDING):
        comment = str(status.get("ErrorComment", "") or "")[:200]
        detail = f": {comment}" if comment else ""
        raise DimseError(f"{what} refused by {peer} (status 0x{code:04X}){detail}", retriable=False)
    return code


def date_range(since: str, until: str) -> str:
    """A DICOM date range (YYYYMMDD-YYYYMMDD; open at either end)."""
    return f"{since}-{until}" if since or until else ""


def find_studies(
    peer: Peer,
    calling: str,
    *,
    since: str = "",
    until: str = "",
    modality: str = "",
    limit: int = 10000,
    timeouts: Timeouts = Timeouts(),
) -> list[FoundStudy]:
    """C-FIND (Study Root, STUDY level) for studies dated ``since``..``until``
    (YYYYMMDD, inclusive) with ``modality`` among their modalities. The answers are
    checked again here (some PACS ignore a key). More than ``limit`` matches is an error
    (narrow the range)."""
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""
    query.PatientID = ""
    query.StudyDate = date_range(since, until)
    query.ModalitiesInStudy = modality
    query.SOPClassesInStudy = ""
    found: list[FoundStudy] = []
    with associate(peer, calling, timeouts, [StudyRootQueryRetrieveInformationModelFind]) as assoc:
        responses = assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind)
        for status, identifier in responses:
            code = check_status(status, peer, "C-FIND")
            if code not in PENDING or identifier is None:
                continue
            study = found_study(identifier)
            if study is None or not in_range(study.study_date, since, until):
                continue
            if modality and study.modalities and modality not in study.modalities:
                continue
            found.append(study)
            if len(found) > limit:
                assoc.abort()
                raise DimseError(
                    f"{peer} matched more than {limit} studies: narrow the dates",
                    retriable=False,
                )
    return found


def found_study(identifier: Dataset) -> FoundStudy | None:
    uid = str(identifier.get("StudyInstanceUID", "") or "").strip()
    if not uid:
        return None
    return FoundStudy(
        study_uid=uid,
        patient_id=str(identifier.get("PatientID", "") or "").strip(),
        study_date=str(identifier.get("StudyDate", "") or "").strip(),
        modalities=multi(identifier, "ModalitiesInStudy"),
        sop_classes=multi(identifier, "SOPClassesInStudy"),
    )


def multi(identifier: Dataset, keyword: str) -> tuple[str, ...]:
    value = identifier.get(keyword)
    if value is None or value == "":
        return ()
    values = [value] if isinstance(value, str) else list(value)
    return tuple(str(v).strip() for v in values if str(v).strip())


def in_range(study_date: str, since: str, until: str) -> bool:
    """YYYYMMDD strings compare as dates; a study without a date is kept only when the
    range is open."""
    if not study_date:
        return not (since or until)
    day = study_date[:8]
    return (not since or day >= since) and (not until or day <= until)


def storage_contexts(sop_classes: tuple[str, ...]) -> list[str]:
    """The storage SOP classes to offer for a C-GET: those the PACS said the study has,
    else the common ones pynetdicom knows (at most 127 in all)."""
    known = [str(cx.abstract_syntax) for cx in StoragePresentationContexts]
    chosen = list(dict.fromkeys(sop_classes)) or known
    return chosen[:MAX_STORAGE_CONTEXTS]


def get_study(
    peer: Peer,
    calling: str,
    study_uid: str,
    receive: Callable[[bytes], None],
    *,
    sop_classes: tuple[str, ...] = (),
    timeouts: Timeouts = Timeouts(),
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """C-GET one study: every instance the PACS sends is passed to ``receive`` (a PS3.10
    file as encoded by the PACS; runs in the association's thread, must be quick).
    ``progress(done, total)`` after each sub-operation. Returns the counts
    ``{"completed", "failed", "warning"}``; raises DimseError when the C-GET failed."""
    classes = storage_contexts(sop_classes)
    syntaxes = [str(uid) for uid in AllTransferSyntaxes]
    contexts: list[Any] = [StudyRootQueryRetrieveInformationModelGet]
    contexts += [(uid, syntaxes) for uid in classes]
    roles = [build_role(uid, scp_role=True) for uid in classes]
    received = {"count": 0}

    def on_store(event: Any) -> int:
        try:
            receive(bytes(event.encoded_dataset(include_meta=True)))
        except Exception:  # not kept: the PACS counts a failed sub-operation
            return OUT_OF_RESOURCES
        received["count"] += 1
        return SUCCESS

    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_uid
    handlers = [(evt.EVT_C_STORE, on_store)]
    counts = {"completed": 0, "failed": 0, "warning": 0}
    with associate(peer, calling, timeouts, contexts, roles=roles, handlers=handlers) as assoc:
        for status, _ in assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet):
            code = check_status(status, peer, "C-GET")
            counts["completed"] = int(status.get("NumberOfCompletedSuboperations", 0) or 0)
            counts["failed"] = int(status.get("NumberOfFailedSuboperations", 0) or 0)
            counts["warning"] = int(status.get("NumberOfWarningSuboperations", 0) or 0)
            if progress is not None and code in PENDING:
                remaining = int(status.get("NumberOfRemainingSuboperations", 0) or 0)
                done = counts["completed"] + counts["failed"] + counts["warning"]
                progress(done, done + remaining)
    counts["received"] = received["count"]
    return counts
