"""Keyed, deterministic pseudonyms: UIDs, the patient pseudonym and the date shift.

Everything here is an HMAC-SHA256 of the original value under a secret key, with a
distinct label per use (domain separation), so that

* the same key maps the same original to the same replacement in every file and every
  run (references between objects stay consistent, a returning patient's studies line
  up), and
* without the key the replacement reveals nothing about the original (PS3.15 E.3.9
  notes that a UID derived from the original by a public hash can be reversed by
  hashing candidate UIDs; a keyed hash cannot).

UIDs (PS3.5 Chapter 9)
----------------------
With the default root :data:`DEFAULT_UID_ROOT` (``2.25``, PS3.5 B.2) the new UID is
``2.25.<decimal>`` where ``<decimal>`` is the 128-bit integer of an RFC 9562 version 8
(custom) UUID whose 122 free bits come from the HMAC; at most 44 characters.

Under another root (an *owned* root, e.g. the server's ``DEID_UID_ROOT``) the UID is
``<root>.<body><check>``: ``<body>`` is the HMAC's decimal digits, truncated so that the
UID is 64 characters, and ``<check>`` is :data:`CHECK_DIGITS` digits of a second HMAC of
``(scope, root, body)``. The check lets the issuer recognise its own UIDs later
(:func:`is_issued_uid`) without a table: a UID is "ours for this scope" only when its
check verifies under the key, never because of its prefix alone (anyone can write a UID
under a published root). The root must leave at least 30 digits (about 66 bits of body).

A *scope* (the server uses the account) goes into the HMAC of the UID itself too: the same
original sent by two accounts gets unrelated UIDs, so nobody who sees both can tell they
are one study.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from uploads.dicom.constants import (
    CHECK_DIGITS,
    DATE_SHIFT_LABEL,
    DEFAULT_UID_ROOT,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    MAX_SHIFT_DAYS,
    MIN_BODY_DIGITS,
    PATIENT_LABEL,
    PSEUDONYM_LENGTH,
    PSEUDONYM_PREFIX,
    UID_ISSUED_LABEL,
    UID_LABEL,
    UID_MAX_LENGTH,
)

__all__ = [
    "DEFAULT_UID_ROOT",
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    "date_shift_days",
    "is_issued_uid",
    "is_valid_uid",
    "patient_pseudonym",
    "remap_uid",
    "validate_uid_root",
]

_UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_UID_LABEL = UID_LABEL.encode("ascii")
_UID_ISSUED_LABEL = UID_ISSUED_LABEL.encode("ascii")
_PATIENT_LABEL = PATIENT_LABEL.encode("ascii")
_DATE_SHIFT_LABEL = DATE_SHIFT_LABEL.encode("ascii")


def _digest(key: bytes, label: bytes, value: str) -> bytes:
    message = label + b"\x00" + value.encode("utf-8", "surrogateescape")
    return hmac.new(key, message, hashlib.sha256).digest()


def is_valid_uid(uid: str) -> bool:
    """True if ``uid`` has valid UID syntax: digits and dots, no leading zeros, <= 64.

    Examples
    --------
    >>> is_valid_uid("1.2.840.10008.1.2"), is_valid_uid("1.02.3"), is_valid_uid("1..2")
    (True, False, False)
    """
    return 0 < len(uid) <= UID_MAX_LENGTH and bool(_UID_RE.match(uid))


def validate_uid_root(root: str) -> str:
    """Return ``root`` if it can prefix remapped UIDs, else raise ``ValueError``."""
    if not is_valid_uid(root) or UID_MAX_LENGTH - len(root) - 1 < MIN_BODY_DIGITS:
        raise ValueError(
            f"UID root must be a valid UID of at most "
            f"{UID_MAX_LENGTH - 1 - MIN_BODY_DIGITS} characters"
        )
    return root


def remap_uid(uid: str, *, key: bytes, root: str = DEFAULT_UID_ROOT, scope: str = "") -> str:
    """Replace ``uid`` by a keyed, deterministic UID under ``root`` (action U).

    Parameters
    ----------
    uid : str
        The original UID; trailing padding (NUL, space) is ignored. Any text is
        accepted, also invalid UIDs (they are remapped all the same).
    key : bytes
        The secret; the same key always gives the same result.
    root : str
        The UID root, :data:`DEFAULT_UID_ROOT` by default.
    scope : str
        Whom the UID is issued for (e.g. an account): the same original gets unrelated
        UIDs in two scopes, and under an owned root the check digits name the scope
        (:func:`is_issued_uid`). ``""``: no scope (the browser engine, the CLI).

    Returns
    -------
    str
        A valid UID of at most 64 characters, or ``""`` for an empty input.
    """
    uid = uid.strip("\x00 ")
    if not uid:
        return ""
    digest = _digest(key, _UID_LABEL, f"{scope}\x00{uid}" if scope else uid)
    if root == DEFAULT_UID_ROOT:
        value = int.from_bytes(digest[:16], "big")
        value = (value & ~(0xF << 76)) | (0x8 << 76)  # UUID version 8
        value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
        return f"{root}.{value}"
    room = UID_MAX_LENGTH - len(root) - 1 - CHECK_DIGITS
    body = str(int.from_bytes(digest, "big"))[:room]
    return f"{root}.{body}{_check(key, scope, root, body)}"


def _check(key: bytes, scope: str, root: str, body: str) -> str:
    value = int.from_bytes(_digest(key, _UID_ISSUED_LABEL, f"{scope}\x00{root}.{body}")[:8], "big")
    return f"{value % 10**CHECK_DIGITS:0{CHECK_DIGITS}d}"


def is_issued_uid(uid: str, *, key: bytes, root: str, scope: str = "") -> bool:
    """True when ``uid`` is one :func:`remap_uid` issued under the owned ``root`` for
    ``scope`` with ``key``: valid syntax (PS3.5 9.1) and a check that verifies.

    Never true under the shared :data:`DEFAULT_UID_ROOT`, whose UIDs anyone makes.

    Examples
    --------
    >>> uid = remap_uid("1.2.3", key=b"k", root="1.2.826.0.1.3680043.9.7433", scope="a")
    >>> is_issued_uid(uid, key=b"k", root="1.2.826.0.1.3680043.9.7433", scope="a")
    True
    >>> is_issued_uid(uid, key=b"k", root="1.2.826.0.1.3680043.9.7433", scope="b")
    False
    """
    uid = uid.strip("\x00 ")
    if root == DEFAULT_UID_ROOT or not is_valid_uid(uid) or not uid.startswith(root + "."):
        return False
    tail = uid[len(root) + 1 :]
    if not tail.isdigit() or len(tail) <= CHECK_DIGITS:
        return False
    body, check = tail[:-CHECK_DIGITS], tail[-CHECK_DIGITS:]
    return hmac.compare_digest(check, _check(key, scope, root, body))


def patient_pseudonym(identity: str, *, key: bytes) -> str:
    """``PSN-`` and 10 base32 characters, keyed from the patient's identity.

    ``identity`` is the original Patient ID (or a fallback, see
    :func:`uploads.dicom.deidentify.patient_identity`); the result is used for both
    Patient ID and Patient's Name (PS3.15 Table E.1-1: ``Z`` and ``Z/D``).

    Examples
    --------
    >>> len(patient_pseudonym("12345", key=b"k"))
    14
    """
    code = base64.b32encode(_digest(key, _PATIENT_LABEL, identity)).decode("ascii")
    return f"{PSEUDONYM_PREFIX}{code[:PSEUDONYM_LENGTH]}"


def date_shift_days(identity: str, *, key: bytes) -> int:
    """The patient's date shift in days, ``-1`` .. ``-MAX_SHIFT_DAYS`` (never 0).

    One shift per patient keeps intervals between that patient's studies
    (Retain Longitudinal Temporal Information with Modified Dates, PS3.15 E.3.6).
    """
    value = int.from_bytes(_digest(key, _DATE_SHIFT_LABEL, identity)[:8], "big")
    return -(1 + value % MAX_SHIFT_DAYS)
