"""Safe iteration over files, folders and ZIP archives (uploads/dicom/sources.py)."""

from __future__ import annotations

import io
import os
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from tests.dicom.conftest import sample_bytes, sample_path
from uploads.dicom.errors import DicomInputError
from uploads.dicom.sources import (
    DICOMDIR_REASON,
    Limits,
    Skipped,
    SourceItem,
    describe_non_dicom,
    is_zip,
    iter_sources,
    iter_zip,
    sniff_dicom,
)

CT = sample_bytes("CT_small.dcm")
MR = sample_bytes("MR_small.dcm")


def zip_of(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def split(items: list[SourceItem | Skipped]) -> tuple[dict[str, SourceItem], dict[str, str]]:
    used = {i.name: i for i in items if isinstance(i, SourceItem)}
    skipped = {i.name: i.reason for i in items if isinstance(i, Skipped)}
    return used, skipped


# -- sniffing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["CT_small.dcm", "rtstruct.dcm", "ExplVR_BigEndNoMeta.dcm", "ExplVR_LitEndNoMeta.dcm"],
)
def test_sniff_accepts_dicom_with_and_without_preamble(name: str) -> None:
    assert sniff_dicom(sample_bytes(name)[:1024])


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"%PDF-1.5\n%....", "looks like a PDF document"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "looks like a JPEG picture"),
        (b"\x89PNG\r\n\x1a\n....", "looks like a PNG picture"),
        (b"MZ\x90\x00\x03\x00\x00\x00", "looks like a Windows program"),
        (b"\x7fELF\x02\x01\x01", "looks like a Linux program"),
        (b"[autorun]\r\nopen=viewer.exe\r\n", "looks like a text file"),
        (b"<!DOCTYPE html><html>", "looks like an HTML or XML document"),
        (b"", "empty file"),
        (bytes(range(256)) * 2, "no DICOM header found"),
    ],
)
def test_non_dicom_is_recognised_and_described(head: bytes, expected: str) -> None:
    assert not sniff_dicom(head)
    assert describe_non_dicom(head) == expected


def test_is_zip_by_magic_bytes_not_name() -> None:
    assert is_zip(zip_of({"a.dcm": CT}))
    assert not is_zip(CT)


# -- folders ---------------------------------------------------------------------------------


def test_folder_with_mixed_files(tmp_path: Path) -> None:
    root = tmp_path / "CD"
    (root / "IMAGES" / "SUB").mkdir(parents=True)
    (root / "IMAGES" / "IM0001").write_bytes(CT)  # no extension: found by content
    (root / "IMAGES" / "SUB" / "mr.dcm").write_bytes(MR)
    (root / "autorun.inf").write_text("[autorun]\nopen=viewer.exe\n")
    (root / "viewer.exe").write_bytes(b"MZ" + b"\0" * 200)
    (root / "report.pdf").write_bytes(b"%PDF-1.4\n" + b"x" * 100)
    (root / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)
    (root / "empty.dcm").write_bytes(b"")
    dicomdir = Path(str(sample_path("CT_small.dcm"))).parent / "dicomdirtests" / "DICOMDIR"
    (root / "DICOMDIR").write_bytes(dicomdir.read_bytes())
    used, skipped = split(list(iter_sources([root])))
    prefix = str(root)
    assert set(used) == {f"{prefix}/IMAGES/IM0001", f"{prefix}/IMAGES/SUB/mr.dcm"}
    assert used[f"{prefix}/IMAGES/IM0001"].read() == CT
    assert used[f"{prefix}/IMAGES/IM0001"].size == len(CT)
    assert skipped[f"{prefix}/autorun.inf"] == "not a DICOM file (looks like a text file)"
    assert skipped[f"{prefix}/viewer.exe"] == "not a DICOM file (looks like a Windows program)"
    assert skipped[f"{prefix}/report.pdf"] == "not a DICOM file (looks like a PDF document)"
    assert skipped[f"{prefix}/photo.jpg"] == "not a DICOM file (looks like a JPEG picture)"
    assert skipped[f"{prefix}/empty.dcm"] == "empty file"
    assert skipped[f"{prefix}/DICOMDIR"] == DICOMDIR_REASON


def test_pydicom_dicomdir_set_finds_images_and_skips_the_index() -> None:
    folder = Path(str(sample_path("CT_small.dcm"))).parent / "dicomdirtests"
    used, skipped = split(list(iter_sources([folder])))
    assert f"{folder}/DICOMDIR" in skipped and skipped[f"{folder}/DICOMDIR"] == DICOMDIR_REASON
    assert sum(1 for name in used if "/98892001/" in name) >= 2  # the referenced images


def test_symlinks_do_not_escape_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    outside = tmp_path / "secret.dcm"
    outside.write_bytes(CT)
    (root / "real.dcm").write_bytes(MR)
    os.symlink(outside, root / "escape.dcm")
    os.symlink(root / "real.dcm", root / "alias.dcm")
    os.symlink(tmp_path, root / "loop")
    used, skipped = split(list(iter_sources([root])))
    assert set(used) == {f"{root}/real.dcm", f"{root}/alias.dcm"}
    assert "outside" in skipped[f"{root}/escape.dcm"]
    assert "not followed" in skipped[f"{root}/loop"]


def test_missing_input_is_skipped_not_raised(tmp_path: Path) -> None:
    assert list(iter_sources([tmp_path / "nope"])) == [
        Skipped(str(tmp_path / "nope"), "no such file or folder")
    ]


# -- archives --------------------------------------------------------------------------------


def test_zip_traversal_entries_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "upload.bin"  # not called .zip: recognised by content
    archive.write_bytes(
        zip_of(
            {
                "../../etc/passwd.dcm": MR,
                "/abs/path.dcm": MR,
                "C:/windows/x.dcm": MR,
                "a/../../b.dcm": MR,
                "ok/inside.dcm": CT,
                "notes.txt": b"hello",
            }
        )
    )
    used, skipped = split(list(iter_sources([archive])))
    name = str(archive)
    assert set(used) == {f"{name}!/ok/inside.dcm"}
    assert used[f"{name}!/ok/inside.dcm"].read() == CT
    for bad in ("../../etc/passwd.dcm", "/abs/path.dcm", "C:/windows/x.dcm", "a/../../b.dcm"):
        assert skipped[f"{name}!/{bad}"].startswith("unsafe path in archive"), bad
    assert skipped[f"{name}!/notes.txt"] == "not a DICOM file (looks like a text file)"


def _bomb(path: Path, megabytes: int) -> None:
    chunk = b"\0" * 1024**2
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("big.dcm", "w", force_zip64=True) as handle:
            for _ in range(megabytes):
                handle.write(chunk)
        archive.writestr("small.dcm", CT)


def test_zip_bomb_is_rejected_quickly_with_bounded_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    _bomb(bomb, 200)  # 200 MB of zeros, about 200 kB compressed
    assert bomb.stat().st_size < 2 * 1024**2
    tracemalloc.start()
    start = time.perf_counter()
    used, skipped = split(list(iter_sources([bomb])))
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "zip bomb" in skipped[f"{bomb}!/big.dcm"]
    assert set(used) == {f"{bomb}!/small.dcm"}
    assert elapsed < 2.0
    assert peak < 16 * 1024**2


def test_archive_limits(tmp_path: Path) -> None:
    data = zip_of({f"f{i}.dcm": CT for i in range(5)})
    many = list(iter_zip(data, "many.zip", limits=Limits(max_entries=3)))
    assert [(e.data, "entries" in e.reason) for e in many] == [(None, True)]
    total = list(iter_zip(data, "total.zip", limits=Limits(max_total=3 * len(CT))))
    assert [e.data is not None for e in total] == [True, True, True, False, False]
    assert "expands to more than" in total[-1].reason
    size = list(iter_zip(data, "size.zip", limits=Limits(max_entry_size=len(CT) - 1)))
    assert all(e.data is None and "too large" in e.reason for e in size)


def test_nested_zips_up_to_two_levels(tmp_path: Path) -> None:
    level3 = zip_of({"deep.dcm": MR})
    level2 = zip_of({"inner.dcm": MR, "level3.zip": level3})
    outer = tmp_path / "outer.zip"
    outer.write_bytes(zip_of({"top.dcm": CT, "level2.zip": level2}))
    used, skipped = split(list(iter_sources([outer])))
    assert set(used) == {f"{outer}!/top.dcm", f"{outer}!/level2.zip!/inner.dcm"}
    assert used[f"{outer}!/level2.zip!/inner.dcm"].read() == MR
    assert "nested" in skipped[f"{outer}!/level2.zip!/level3.zip"]


def test_iter_zip_for_uploads() -> None:
    data = zip_of({"a/ct.dcm": CT, "../evil.dcm": MR, "readme.txt": b"hi there"})
    entries = {e.name: e for e in iter_zip(data, "up.zip")}
    assert entries["up.zip!/a/ct.dcm"].data == CT and entries["up.zip!/a/ct.dcm"].reason == ""
    assert entries["up.zip!/../evil.dcm"].data is None
    assert "path" in entries["up.zip!/../evil.dcm"].reason
    assert "not a DICOM file" in entries["up.zip!/readme.txt"].reason
    with pytest.raises(DicomInputError, match="damaged ZIP"):
        list(iter_zip(b"PK\x03\x04 not really a zip", "bad.zip"))


def test_damaged_and_stored_archives(tmp_path: Path) -> None:
    stored = tmp_path / "stored.zip"
    stored.write_bytes(zip_of({"ct.dcm": CT}, zipfile.ZIP_STORED))
    used, _ = split(list(iter_sources([stored])))
    assert used[f"{stored}!/ct.dcm"].read() == CT
    broken = tmp_path / "broken.zip"
    broken.write_bytes(zip_of({"ct.dcm": CT})[:-30])  # central directory cut off
    assert list(iter_sources([broken])) == [Skipped(str(broken), "damaged ZIP archive")]
