"""The attributes added to every output (PS3.15 E.1.1 item 6, PS3.3 C.7.1.1): Patient
Identity Removed, De-identification Method (+ Code Sequence), Longitudinal Temporal
Information Modified; and the pseudonym in Patient's Name and Patient ID."""

from __future__ import annotations

import functools
import struct

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag
from pydicom.uid import UID

from uploads.dicom.constants import (
    ADDED,
    BASIC_PROFILE_CODE,
    CLEAN_PIXEL_CODE,
    CODING_SCHEME,
    OPTION_INFO,
    TAGS,
)
from uploads.dicom.deid.identity import PATIENT_ID, PATIENT_NAME
from uploads.dicom.deid.options import DeidOptions, method_values
from uploads.dicom.deid.run import Run

#: Patient Identity Removed, De-identification Method (+ Code Sequence), Longitudinal
#: Temporal Information Modified: added to every output (PS3.15 E.1.1 item 6).
ADDED_TAGS = tuple(
    TAGS[keyword]
    for keyword in (
        "PatientIdentityRemoved",
        "DeidentificationMethod",
        "DeidentificationMethodCodeSequence",
        "LongitudinalTemporalInformationModified",
    )
)


def add_deidentification_attributes(
    ds: Dataset,
    run: Run,
    options: DeidOptions,
    edition: str,
    syntax: str,
    pixels_cleaned: bool,
) -> None:
    """The pseudonym and the attributes of :data:`ADDED_TAGS`, counted as ``ADDED``."""
    ds.add_new(PATIENT_NAME, "PN", run.pseudonym)
    ds.add_new(PATIENT_ID, "LO", run.pseudonym)
    ds.add_new(TAGS["PatientIdentityRemoved"], "CS", "YES")
    ds.add_new(TAGS["DeidentificationMethod"], "LO", method_values(options, edition))
    method_codes = _method_code_element(options, *_encoding(syntax, ds), pixels_cleaned)
    ds[TAGS["DeidentificationMethodCodeSequence"]] = method_codes
    temporal = "MODIFIED" if run.shift is not None else "REMOVED"
    ds.add_new(TAGS["LongitudinalTemporalInformationModified"], "CS", temporal)
    for tag in ADDED_TAGS:
        run.counts[(tag, ADDED)] += 1


def _encode_text(tag: int, vr: str, text: str, implicit: bool, order: str) -> bytes:
    value = text.encode("ascii")
    if len(value) % 2:
        value += b" "
    if implicit:
        return struct.pack(f"{order}HHI", tag >> 16, tag & 0xFFFF, len(value)) + value
    header = struct.pack(f"{order}HH", tag >> 16, tag & 0xFFFF) + vr.encode("ascii")
    return header + struct.pack(f"{order}H", len(value)) + value


@functools.cache
def _method_code_element(
    options: DeidOptions, implicit: bool, little: bool, pixels_cleaned: bool = False
) -> RawDataElement:
    """De-identification Method Code Sequence, already encoded (PS3.3 C.7.1.1).

    CID 7050 codes of the profile and the options (PS3.16), and the Clean Pixel Data
    Option's when the pixels were cleaned. Encoded once per option set and encoding and
    inserted as a raw element: writing five small items through pydicom would cost a fifth
    of the whole file write.
    """
    order = "<" if little else ">"
    codes = [BASIC_PROFILE_CODE] + [OPTION_INFO[n][1:] for n in options.names()]
    if pixels_cleaned:
        codes.append(CLEAN_PIXEL_CODE)
    items = b""
    for value, meaning in codes:
        item = b"".join(
            _encode_text(tag, vr, text, implicit, order)
            for tag, vr, text in (
                (0x00080100, "SH", value),  # Code Value
                (0x00080102, "SH", CODING_SCHEME),  # Coding Scheme Designator
                (0x00080104, "LO", meaning),  # Code Meaning
            )
        )
        items += struct.pack(f"{order}HHI", 0xFFFE, 0xE000, len(item)) + item
    tag = BaseTag(TAGS["DeidentificationMethodCodeSequence"])
    return RawDataElement(tag, "SQ", len(items), items, 0, implicit, little)


def _encoding(syntax: str, ds: Dataset) -> tuple[bool, bool]:
    """``(implicit VR, little endian)`` the data set will be written with."""
    uid = UID(syntax)
    if uid.is_transfer_syntax:
        return uid.is_implicit_VR, uid.is_little_endian
    implicit, little = getattr(ds, "original_encoding", (False, True))
    return bool(implicit), little is not False
