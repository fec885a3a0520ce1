"""Reading and writing encoded DICOM files (PS3.10) for de-identification: refuse what is
not DICOM, is cut short or is a DICOMDIR; write in the data set's own transfer syntax."""

from __future__ import annotations

import io

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filereader import dcmread
from pydicom.filewriter import dcmwrite
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from uploads.dicom.constants import DEFLATED_SYNTAX, DICOMDIR_SOP_CLASS, MESSAGES, TAGS
from uploads.dicom.deid.elements import UNDEFINED, elements
from uploads.dicom.errors import DicomInputError
from uploads.dicom.sources import check_inflated_size, describe_non_dicom, sniff_dicom

_LONGEST_HEADER = 12


def read(data: bytes) -> Dataset:
    """Parse an encoded file, refusing anything that is not a complete DICOM file."""
    if not data:
        raise DicomInputError("empty file: not a DICOM file")
    if not sniff_dicom(data[:1024]):
        raise DicomInputError(f"not a DICOM file ({describe_non_dicom(data[:1024])})")
    has_preamble = len(data) >= 132 and data[128:132] == b"DICM"
    check_inflated_size(io.BytesIO(data))  # a deflated data set is inflated whole by pydicom
    try:
        ds = dcmread(io.BytesIO(data), force=not has_preamble)
    except Exception as exc:
        raise DicomInputError(
            f"not readable: the file is truncated or damaged ({type(exc).__name__})"
        ) from None
    _check_complete(ds, len(data))
    return ds


def _check_complete(ds: Dataset, size: int) -> None:
    """pydicom stops quietly at the end of a cut file; find out from the last element."""
    elems = elements(ds)
    if not elems:
        raise DicomInputError("not a DICOM file: no data elements found")
    if transfer_syntax(ds) == DEFLATED_SYNTAX:
        return  # positions refer to the inflated stream
    last = elems[next(reversed(elems))]
    if not isinstance(last, RawDataElement) or last.length == UNDEFINED or last.value is None:
        return
    leftover = size - (last.value_tell + last.length)
    if len(last.value) < last.length or 0 < leftover < _LONGEST_HEADER:
        raise DicomInputError(MESSAGES["truncated_element"])


def transfer_syntax(ds: Dataset) -> str:
    """The transfer syntax ``ds`` was read with: the File Meta Information's, else the
    encoding pydicom found (a file without meta)."""
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "") or "").strip("\x00 ") if meta else ""
    if syntax:
        return syntax
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None:
        implicit, little = True, True
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def is_dicomdir(ds: Dataset) -> bool:
    """True for a DICOMDIR (PS3.10 7.2), which holds no patient data to de-identify."""
    meta = getattr(ds, "file_meta", None)
    sop = str(meta.get("MediaStorageSOPClassUID", "") if meta else "")
    return sop == DICOMDIR_SOP_CLASS or TAGS["DirectoryRecordSequence"] in ds


def write(ds: Dataset) -> bytes:
    """Encode as a PS3.10 file in the data set's own transfer syntax.

    A transfer syntax newer than pydicom knows (e.g. Deflated Image Frame Compression,
    1.2.840.10008.1.2.8.1) is written with the encoding the file was read with.
    """
    out = io.BytesIO()
    if UID(ds.file_meta.TransferSyntaxUID).is_transfer_syntax:
        dcmwrite(out, ds, enforce_file_format=True)
    else:
        implicit, little = getattr(ds, "original_encoding", (False, True))
        dcmwrite(
            out,
            ds,
            implicit_vr=bool(implicit),
            little_endian=little is not False,
            force_encoding=True,
        )
    return out.getvalue()
