"""``python -m uploads.dicom deidentify``: files, folders, ZIPs, summary and exit status."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pydicom import dcmread

from tests.dicom.conftest import sample_bytes
from uploads.dicom import cli_deidentify

REPO = Path(__file__).resolve().parents[2]


def mixed_folder(root: Path) -> Path:
    (root / "in" / "series").mkdir(parents=True)
    (root / "in" / "series" / "ct.dcm").write_bytes(sample_bytes("CT_small.dcm"))
    (root / "in" / "series" / "us.dcm").write_bytes(sample_bytes("US1_J2KR.dcm"))
    (root / "in" / "autorun.inf").write_text("[autorun]\nopen=viewer.exe\n")
    (root / "in" / "broken.dcm").write_bytes(sample_bytes("MR_small.dcm")[:2000])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mr/mr.dcm", sample_bytes("MR_small.dcm"))
        archive.writestr("../escape.dcm", sample_bytes("MR_small.dcm"))
    (root / "in" / "more.zip").write_bytes(buffer.getvalue())
    return root / "in"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    code = cli_deidentify.main(argv)
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def test_folder_with_mixed_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = mixed_folder(tmp_path)
    out = tmp_path / "out"
    code, lines, _ = run([str(source), "--out", str(out), "--key", "cli-secret"], capsys)
    assert code == 0
    by_name = {line.split(" -> ")[0]: line.split(" -> ")[1] for line in lines[:-1]}
    assert by_name[f"{source}/autorun.inf"] == "skipped: not a DICOM file (looks like a text file)"
    assert by_name[f"{source}/broken.dcm"].startswith("failed: not readable")
    assert by_name[f"{source}/more.zip!/../escape.dcm"].startswith("skipped: unsafe path")
    assert "[needs pixel review:" in by_name[f"{source}/series/us.dcm"]
    assert lines[-1] == "total: 3 de-identified, 2 skipped, 1 failed, 1 need pixel review"
    written = sorted(out.rglob("*.dcm"))
    assert len(written) == 3
    for path in written:
        ds = dcmread(path)
        study, series, name = path.relative_to(out).parts
        assert (study, series, name) == (
            ds.StudyInstanceUID,
            ds.SeriesInstanceUID,
            f"{ds.SOPInstanceUID}.dcm",
        )
        assert ds.PatientIdentityRemoved == "YES"
    # The same key again gives the same output paths.
    again = tmp_path / "again"
    run([str(source), "--out", str(again), "--key", "cli-secret"], capsys)
    assert sorted(p.relative_to(again) for p in again.rglob("*.dcm")) == sorted(
        p.relative_to(out) for p in written
    )


def test_options_and_key_from_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ct = tmp_path / "ct.dcm"
    ct.write_bytes(sample_bytes("CT_small.dcm"))
    monkeypatch.setenv(cli_deidentify.KEY_ENV, "env-secret")
    argv = [str(ct), "--out", str(tmp_path / "o"), "--no-option", "retain-patient-characteristics"]
    code, lines, _ = run([*argv, "--option", "retain-institution-identity"], capsys)
    assert code == 0 and lines[-1].startswith("total: 1 de-identified")
    (path,) = (tmp_path / "o").rglob("*.dcm")
    ds = dcmread(path)
    assert "PatientAge" not in ds and ds.InstitutionName == dcmread(ct).InstitutionName
    codes = {item.CodeValue for item in ds.DeidentificationMethodCodeSequence}
    assert "113108" not in codes and "113112" in codes


def test_nothing_processed_and_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    code, lines, _ = run([str(junk), "--out", str(tmp_path / "o"), "--key", "k"], capsys)
    assert code == cli_deidentify.EXIT_NOTHING_DONE
    assert lines[-1] == "total: 0 de-identified, 1 skipped, 0 failed, 0 need pixel review"
    monkeypatch.delenv(cli_deidentify.KEY_ENV, raising=False)
    code, _, err = run([str(junk), "--out", str(tmp_path / "o")], capsys)
    assert code == cli_deidentify.EXIT_USAGE and "no key" in err
    code, _, err = run([str(junk), "--out", "o", "--key", "k", "--option", "retain-all"], capsys)
    assert code == cli_deidentify.EXIT_USAGE and "unknown de-identification option" in err


def test_module_entry_point(tmp_path: Path) -> None:
    ct = tmp_path / "ct.dcm"
    ct.write_bytes(sample_bytes("CT_small.dcm"))
    env = {**os.environ, cli_deidentify.KEY_ENV: "subprocess-secret"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "uploads.dicom",
            "deidentify",
            str(ct),
            "--out",
            str(tmp_path / "o"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("total: 1 de-identified")
    assert "CompressedSamples" not in done.stdout + done.stderr  # CT_small's patient name


def test_a_name_found_in_one_input_is_cut_out_of_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CT's Series Description names the MR's performing physician (issue 20)."""
    from tests.dicom.test_deid_names import study_files

    source = tmp_path / "study"
    source.mkdir()
    for name, data in zip(("ct.dcm", "mr.dcm"), study_files(), strict=True):
        (source / name).write_bytes(data)
    out = tmp_path / "out"
    code, _, _ = run([str(source), "--out", str(out), "--key", "cli-secret"], capsys)
    assert code == 0
    (ct,) = [ds for ds in map(dcmread, out.rglob("*.dcm")) if ds.Modality == "CT"]
    assert ct.SeriesDescription == "******** protocol, ** lab"
