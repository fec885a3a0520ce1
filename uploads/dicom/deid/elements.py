"""Reading and changing element values, mostly without converting the element.

pydicom keeps an element as a :class:`~pydicom.dataelem.RawDataElement` (its encoded
bytes) until it is accessed; converting costs more than most of what de-identification
does with it. The helpers here read plain-ASCII values straight from the bytes and leave
anything else (other character sets, binary VRs) to pydicom.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from pydicom import config as pydicom_config
from pydicom.datadict import DicomDictionary
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

#: Every tag the data dictionary gives VR SQ.
SQ_TAGS = frozenset(tag for tag, entry in DicomDictionary.items() if entry[0] == "SQ")
#: Undefined length (PS3.5 7.1.1): a sequence or encapsulated Pixel Data.
UNDEFINED = 0xFFFFFFFF


@contextmanager
def quiet() -> Iterator[None]:
    """No pydicom warnings or log lines while handling values: they would quote them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pydicom_config.disable_value_validation():
            yield


def elements(ds: Dataset) -> dict[int, Any]:
    """The data set's element dict (pydicom's ``Dataset._dict``), keyed by tag."""
    return cast(dict[int, Any], ds._dict)


def is_sequence(elem: DataElement | RawDataElement, tag: int) -> bool:
    """True for a sequence (VR SQ), judged without converting a raw element."""
    if isinstance(elem, RawDataElement):
        if elem.VR is None:  # implicit VR: the dictionary knows, or undefined length says so
            return tag in SQ_TAGS or elem.length == UNDEFINED
        return elem.VR == "SQ" or (elem.VR == "UN" and elem.length == UNDEFINED)
    return elem.VR == "SQ"


def values_of(elem: DataElement) -> list[Any]:
    """The values of a converted element as a list ([] when empty)."""
    value = elem.value
    if value is None or value == "":
        return []
    if isinstance(value, MultiValue | list | tuple):
        return list(value)
    return [value]


def set_values(elem: DataElement, new: list[Any]) -> None:
    """Set a converted element's values (one value as itself, several as a list)."""
    elem.value = new[0] if len(new) == 1 else new


def dictionary_vr(tag: int) -> str | None:
    """The VR the data dictionary gives ``tag``, or None for an unknown tag."""
    entry = DicomDictionary.get(tag)
    return entry[0] if entry else None


def ascii_values(data: bytes | None) -> list[str] | None:
    """The values of an encoded text element, or None unless it is plain ASCII."""
    if data is None:
        return None
    if b"\x1b" in data:  # ISO 2022 escape sequences: let pydicom decode it
        return None
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    text = text.rstrip("\x00 ")
    return [v.strip(" \x00") for v in text.split("\\")] if text else []


def raw_with(raw: RawDataElement, new: list[str], vr: str) -> RawDataElement:
    """``raw`` with new ASCII values, padded to even length (PS3.5 6.2)."""
    data = "\\".join(new).encode("ascii")
    if len(data) % 2:
        data += b"\x00" if vr == "UI" else b" "
    return raw._replace(value=data, length=len(data))


def strings(ds: Dataset, tag: int) -> list[str]:
    """The values of a text element as strings ([] when absent).

    Plain-ASCII values are read from the encoded bytes (no conversion); anything else
    is decoded by pydicom with the data set's character set.
    """
    elem = elements(ds).get(tag)
    if elem is None:
        return []
    if isinstance(elem, RawDataElement):
        found = ascii_values(elem.value)
        if found is not None:
            return found
    return [str(v).strip("\x00 ") for v in values_of(ds[tag])]


def text(ds: Dataset, tag: int) -> str:
    """The values of a text element joined by ``\\`` ("" when absent)."""
    return "\\".join(strings(ds, tag))
