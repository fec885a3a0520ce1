"""Safe iteration over what a person hands us: files, folders and ZIP archives.

Used by the CLI, the ``import_dicom`` command and ZIP uploads. Nothing here raises for a
bad input item: everything that cannot be used comes out as :class:`Skipped` with a
plain reason (no patient data: reasons quote no file content).

Protections
-----------
* Folders are walked without following symbolic links; a symbolic link to a file is
  used only when it points inside the folder.
* ZIP archives are recognised by their magic bytes, not their extension. Entries with an
  absolute path, a drive letter or ``..`` are refused (path traversal), as are symbolic
  links and encrypted entries.
* ZIP bombs: limits on the number of entries, the size of one entry, the total
  uncompressed size and the compression ratio are checked against the archive's
  directory *before* anything is decompressed, and reading never yields more than the
  declared size (:class:`Limits`). Nested archives are opened at most
  :data:`MAX_ZIP_DEPTH` levels deep.
* DICOMDIR files are skipped (a CD's index: the images are found by walking the folder).
* :func:`sniff_dicom` tells DICOM from everything else by content, so ``autorun.inf``,
  programs, PDFs and pictures are reported, not fed to the parser.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from uploads.dicom.constants import (
    DEFLATED_SYNTAX,
    DICOMDIR_SOP_CLASS,
    MAX_ARCHIVE_ENTRIES,
    MAX_COMPRESSION_RATIO,
    MAX_ENTRY_SIZE,
    MAX_TOTAL_UNCOMPRESSED,
    MAX_ZIP_DEPTH,
    MESSAGES,
    RATIO_CHECK_MIN_SIZE,
    VRS,
)
from uploads.dicom.errors import DicomInputError

__all__ = [
    "DICOMDIR_REASON",
    "MAX_ARCHIVE_ENTRIES",
    "MAX_COMPRESSION_RATIO",
    "MAX_ENTRY_SIZE",
    "MAX_TOTAL_UNCOMPRESSED",
    "MAX_ZIP_DEPTH",
    "ArchiveEntry",
    "Limits",
    "Skipped",
    "SourceItem",
    "check_inflated_size",
    "describe_non_dicom",
    "is_zip",
    "iter_sources",
    "iter_zip",
    "sniff_dicom",
]

#: Reason given for skipped DICOMDIR files.
DICOMDIR_REASON = MESSAGES["dicomdir"]

_HEAD = 1024
#: What reading a damaged archive raises (zlib.error for a corrupt deflate stream).
_READ_ERRORS = (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, zlib.error)
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_DICOMDIR_CLASS = DICOMDIR_SOP_CLASS.encode("ascii")
_VRS = frozenset(vr.encode("ascii") for vr in VRS)


@dataclass(frozen=True)
class Limits:
    """ZIP bomb and size limits (defaults: :mod:`uploads.dicom.constants`, which the
    browser's ``frontend/src/files.js`` uses too)."""

    max_entries: int = MAX_ARCHIVE_ENTRIES
    max_entry_size: int = MAX_ENTRY_SIZE
    max_total: int = MAX_TOTAL_UNCOMPRESSED
    max_ratio: float = MAX_COMPRESSION_RATIO
    ratio_min_size: int = RATIO_CHECK_MIN_SIZE
    max_depth: int = MAX_ZIP_DEPTH


@dataclass(frozen=True)
class SourceItem:
    """A candidate DICOM file.

    Attributes
    ----------
    name : str
        Display name: the path as given plus the relative path inside the folder, or
        ``archive.zip!/inner/path`` for archive entries (nested: ``a.zip!/b.zip!/c``).
    size : int
        Size in bytes (uncompressed).
    """

    name: str
    size: int
    reader: Callable[[], bytes] = field(repr=False, compare=False)

    def read(self) -> bytes:
        """The file's bytes.

        Raises
        ------
        DicomInputError
            If the file vanished or the archive entry turns out damaged.
        """
        try:
            return self.reader()
        except DicomInputError:
            raise
        except _READ_ERRORS as exc:
            raise DicomInputError(f"could not be read ({type(exc).__name__})") from None


@dataclass(frozen=True)
class Skipped:
    """An input item that is not used, and why (a plain, PHI-free reason)."""

    name: str
    reason: str


@dataclass(frozen=True)
class ArchiveEntry:
    """One entry of :func:`iter_zip`: ``data`` is None when skipped (see ``reason``)."""

    name: str
    data: bytes | None
    reason: str = ""


# -- content sniffing ------------------------------------------------------------------------


def is_zip(data: bytes) -> bool:
    """True if ``data`` starts like a ZIP archive (by magic bytes, not by name)."""
    return data[:4] in _ZIP_MAGICS


def sniff_dicom(head: bytes) -> bool:
    """True if ``head`` (the first bytes of a file) looks like DICOM.

    Accepts the PS3.10 file format (``DICM`` at offset 128) and, for files without a
    preamble, a first element of group 0002, 0004 or 0008 encoded in explicit VR (a
    known VR after the tag) or implicit VR (a plausible length), little or big endian.

    Examples
    --------
    >>> sniff_dicom(b"\\0" * 128 + b"DICM"), sniff_dicom(b"%PDF-1.7 ...")
    (True, False)
    """
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    if len(head) < 8:
        return False
    for order in ("<", ">"):
        group, element = struct.unpack(order + "HH", head[:4])
        if group not in (0x0002, 0x0004, 0x0008) or element > 0x0FFF:
            continue
        if head[4:6] in _VRS:
            return True
        (length,) = struct.unpack(order + "I", head[4:8])
        if length == 0xFFFFFFFF or length <= 1024**2:
            return True
    return False


def describe_non_dicom(head: bytes) -> str:
    """A guess at what a non-DICOM file is, for the skip reason.

    Examples
    --------
    >>> describe_non_dicom(b"%PDF-1.4")
    'looks like a PDF document'
    """
    signatures = (
        (b"%PDF", "a PDF document"),
        (b"\xff\xd8\xff", "a JPEG picture"),
        (b"\x89PNG", "a PNG picture"),
        (b"GIF8", "a GIF picture"),
        (b"II*\x00", "a TIFF picture"),
        (b"MM\x00*", "a TIFF picture"),
        (b"BM", "a bitmap picture"),
        (b"PK\x03\x04", "a ZIP archive"),
        (b"MZ", "a Windows program"),
        (b"\x7fELF", "a Linux program"),
        (b"\x1f\x8b", "a gzip-compressed file"),
        (b"Rar!", "a RAR archive"),
        (b"7z\xbc\xaf", "a 7-Zip archive"),
    )
    if not head:
        return "empty file"
    for magic, what in signatures:
        if head.startswith(magic):
            return f"looks like {what}"
    if head[257:262] == b"ustar":
        return "looks like a TAR archive; only ZIP archives are unpacked"
    start = head.lstrip()[:15].lower()
    if start.startswith((b"<?xml", b"<!doctype html", b"<html")):
        return "looks like an HTML or XML document"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "no DICOM header found"
    if all(c.isprintable() or c in "\r\n\t" for c in text):
        return "looks like a text file"
    return "no DICOM header found"


_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())


def _deflated_data_start(fp: IO[bytes]) -> int | None:
    """Offset of the deflated data set when the file at ``fp`` uses Deflated Explicit VR
    Little Endian (PS3.5 A.5), else None. Reads only the File Meta Information."""
    head = fp.read(132)
    if len(head) < 132 or head[128:132] != b"DICM":
        return None  # the deflated syntax needs the PS3.10 File Meta Information
    syntax = b""
    while True:
        header = fp.read(8)
        if len(header) < 8:
            return None
        group, element, vr, length = struct.unpack("<HH2sH", header)
        if group != 0x0002:
            fp.seek(-8, os.SEEK_CUR)
            break
        if vr in _LONG_VRS:
            (length,) = struct.unpack("<I", fp.read(4).ljust(4, b"\0"))
        if length > 1024:  # no meta element is that long; leave the file to the parser
            return None
        value = fp.read(length)
        if element == 0x0010:
            syntax = value
    if syntax.rstrip(b"\0 ").decode("ascii", "replace") != DEFLATED_SYNTAX:
        return None
    return fp.tell()


def check_inflated_size(fp: IO[bytes], limits: Limits | None = None) -> None:
    """Refuse a deflated data set that inflates beyond the archive limits (a bomb).

    pydicom inflates a Deflated Explicit VR Little Endian data set whole, in memory,
    before reading it; a few MB can inflate to many GB. The data set is inflated here
    first, in bounded pieces and discarded, against the same size and ratio limits as
    ZIP entries. Reads from the current position of a seekable ``fp`` and seeks back;
    other files cost one read of their File Meta Information.

    Raises
    ------
    DicomInputError
        If the data set inflates to more than the limits allow.
    """
    if not fp.seekable():
        return
    limits = limits or Limits()
    start = fp.tell()
    try:
        data_start = _deflated_data_start(fp)
        if data_start is None:
            return
        compressed = fp.seek(0, os.SEEK_END) - data_start
        fp.seek(data_start)
        allowed = min(
            limits.max_entry_size, max(limits.ratio_min_size, int(limits.max_ratio * compressed))
        )
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        inflated = 0
        while not inflater.eof:
            chunk = fp.read(64 * 1024)
            if not chunk:
                break
            while chunk and not inflater.eof:
                inflated += len(inflater.decompress(chunk, 1024**2))
                if inflated > allowed:
                    raise DicomInputError(
                        f"the compressed (deflated) data set would inflate to more than "
                        f"{allowed} bytes (decompression bomb?)"
                    )
                chunk = inflater.unconsumed_tail
    except (zlib.error, struct.error, OSError):
        return  # damaged: the parser reports it
    finally:
        fp.seek(start)


def _is_dicomdir(name: str, head: bytes) -> bool:
    return name.upper() == "DICOMDIR" or _DICOMDIR_CLASS in head[:512]


def _unsafe_member(name: str) -> str:
    """Why an archive member name is refused, or ""."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        return "unsafe path in archive: absolute path refused"
    if ".." in PurePosixPath(posix).parts:
        return "unsafe path in archive: '..' refused"
    if "\x00" in name:
        return "unsafe path in archive: NUL character refused"
    return ""


# -- archives --------------------------------------------------------------------------------


class _Budget:
    __slots__ = ("entries", "total")

    def __init__(self) -> None:
        self.entries = 0
        self.total = 0


def _read_member(open_archive: Callable[[], zipfile.ZipFile], info: zipfile.ZipInfo) -> bytes:
    """An entry's bytes, never more than its declared size (zipfile stops there and checks
    the CRC)."""
    with open_archive() as archive, archive.open(info) as handle:
        data = handle.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise DicomInputError("damaged archive entry: size does not match the archive")
    return data


def _open_bytes(data: bytes) -> Callable[[], zipfile.ZipFile]:
    return lambda: zipfile.ZipFile(io.BytesIO(data))


def _open_path(path: str) -> Callable[[], zipfile.ZipFile]:
    return lambda: zipfile.ZipFile(path)


def _walk_archive(
    open_archive: Callable[[], zipfile.ZipFile],
    prefix: str,
    depth: int,
    budget: _Budget,
    limits: Limits,
) -> Iterator[SourceItem | Skipped]:
    try:
        with open_archive() as archive:
            infos = archive.infolist()
    except _READ_ERRORS:
        yield Skipped(prefix, "damaged ZIP archive")
        return
    if budget.entries + len(infos) > limits.max_entries:
        # Refused unopened: its entries do not count against the archives that follow.
        yield Skipped(prefix, f"archive lists more than {limits.max_entries} entries (zip bomb?)")
        return
    budget.entries += len(infos)
    for info in infos:
        if info.is_dir():
            continue
        name = f"{prefix}!/{info.filename}"
        reason = _unsafe_member(info.filename)
        if not reason and stat.S_ISLNK(info.external_attr >> 16):
            reason = "symbolic link inside the archive refused"
        if not reason and info.flag_bits & 0x1:
            reason = "encrypted archive entry"
        size = info.file_size
        if not reason and size > limits.max_entry_size:
            reason = f"too large: over {limits.max_entry_size} bytes uncompressed"
        if (
            not reason
            and size >= limits.ratio_min_size
            and size > limits.max_ratio * max(info.compress_size, 1)
        ):
            reason = "compression ratio too high (zip bomb?)"
        if not reason and budget.total + size > limits.max_total:
            reason = f"archive expands to more than {limits.max_total} bytes (zip bomb?)"
        if reason:
            yield Skipped(name, reason)
            continue
        budget.total += size
        if size == 0:
            yield Skipped(name, "empty file")
            continue
        try:
            with open_archive() as archive, archive.open(info) as handle:
                head = handle.read(_HEAD)
        except _READ_ERRORS:
            yield Skipped(name, "damaged or unsupported archive entry")
            continue
        if _is_dicomdir(PurePosixPath(info.filename.replace("\\", "/")).name, head):
            yield Skipped(name, DICOMDIR_REASON)
        elif is_zip(head):
            if depth >= limits.max_depth:
                yield Skipped(name, f"archive nested more than {limits.max_depth} levels deep")
                continue
            try:
                inner = _read_member(open_archive, info)
            except (DicomInputError, *_READ_ERRORS):
                yield Skipped(name, "damaged archive entry")
                continue
            yield from _walk_archive(_open_bytes(inner), name, depth + 1, budget, limits)
        elif not sniff_dicom(head):
            yield Skipped(name, f"not a DICOM file ({describe_non_dicom(head)})")
        else:
            yield SourceItem(name, size, _member_reader(open_archive, info))


def _member_reader(
    open_archive: Callable[[], zipfile.ZipFile], info: zipfile.ZipInfo
) -> Callable[[], bytes]:
    return lambda: _read_member(open_archive, info)


def iter_zip(data: bytes, name: str, *, limits: Limits | None = None) -> Iterator[ArchiveEntry]:
    """Unpack a ZIP held in memory (uploads): every file entry, with its bytes or a reason.

    Nested archives are expanded (:data:`MAX_ZIP_DEPTH`); their entries come out
    directly. Entries are read one at a time.

    Parameters
    ----------
    data : bytes
        The archive.
    name : str
        Display name of the archive, the prefix of the entries' names.

    Raises
    ------
    DicomInputError
        If ``data`` is not a readable ZIP archive.
    """
    limits = limits or Limits()
    try:
        with zipfile.ZipFile(io.BytesIO(data)):
            pass
    except _READ_ERRORS:
        raise DicomInputError("damaged ZIP archive") from None
    for item in _walk_archive(_open_bytes(data), name, 1, _Budget(), limits):
        if isinstance(item, Skipped):
            yield ArchiveEntry(item.name, None, item.reason)
            continue
        try:
            yield ArchiveEntry(item.name, item.read())
        except DicomInputError as exc:
            yield ArchiveEntry(item.name, None, str(exc))


# -- files and folders -----------------------------------------------------------------------


def _file(
    path: str, display: str, budget: _Budget, limits: Limits
) -> Iterator[SourceItem | Skipped]:
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            head = handle.read(_HEAD)
    except OSError as exc:
        yield Skipped(display, f"could not be read ({type(exc).__name__})")
        return
    if size == 0:
        yield Skipped(display, "empty file")
    elif _is_dicomdir(os.path.basename(path), head):
        yield Skipped(display, DICOMDIR_REASON)
    elif is_zip(head):
        yield from _walk_archive(_open_path(path), display, 1, budget, limits)
    elif size > limits.max_entry_size:
        yield Skipped(display, f"too large: over {limits.max_entry_size} bytes")
    elif not sniff_dicom(head):
        yield Skipped(display, f"not a DICOM file ({describe_non_dicom(head)})")
    else:
        yield SourceItem(display, size, lambda: Path(path).read_bytes())


def _folder(
    root: str, display_root: str, budget: _Budget, limits: Limits
) -> Iterator[SourceItem | Skipped]:
    real_root = os.path.realpath(root)
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for sub in list(dirs):
            if os.path.islink(os.path.join(folder, sub)):
                rel = os.path.relpath(os.path.join(folder, sub), root)
                yield Skipped(f"{display_root}/{rel}", "symbolic link to a folder (not followed)")
        for name in sorted(files):
            full = os.path.join(folder, name)
            rel = Path(os.path.relpath(full, root)).as_posix()
            display = f"{display_root}/{rel}"
            if os.path.islink(full):
                target = os.path.realpath(full)
                if os.path.commonpath([real_root, target]) != real_root:
                    yield Skipped(display, "symbolic link pointing outside the folder refused")
                    continue
            yield from _file(full, display, budget, limits)


def iter_sources(
    paths: Iterable[str | os.PathLike[str]], *, limits: Limits | None = None
) -> Iterator[SourceItem | Skipped]:
    """Every candidate DICOM file under ``paths``, or why an item is skipped.

    Parameters
    ----------
    paths : iterable of path-like
        Files, folders (walked recursively, sorted) and ZIP archives (by content).
    limits : Limits, optional
        Archive and size limits; the module constants by default.

    Yields
    ------
    SourceItem or Skipped
        Never raises for a bad item; :meth:`SourceItem.read` may raise
        :class:`~uploads.dicom.errors.DicomInputError` if a file changes meanwhile.
    """
    limits = limits or Limits()
    budget = _Budget()
    for raw in paths:
        path = os.fspath(raw)
        display = path.rstrip("/\\") or path
        if os.path.isdir(path):
            yield from _folder(path, display, budget, limits)
        elif os.path.isfile(path):
            yield from _file(path, display, budget, limits)
        else:
            yield Skipped(display, "no such file or folder")
