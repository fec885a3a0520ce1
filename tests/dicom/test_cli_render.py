"""``render`` and ``info`` subcommands (registered on a local parser, as __main__ does)."""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from uploads.dicom import cli_render

REPO = Path(__file__).resolve().parents[2]


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m uploads.dicom")
    sub = parser.add_subparsers(dest="command", required=True)
    cli_render.register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


def data(name: str) -> str:
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} missing")
    return str(path)


def test_render_full_resolution_first_frame(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ct.png"
    assert run(["render", data("CT_small.dcm"), "--out", str(out)]) == 0
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size == (128, 128) and img.mode == "L"
    assert "128x128 L, frame 1 of 1" in capsys.readouterr().out


def test_render_frame_window_and_size(tmp_path: Path) -> None:
    out0, out5 = tmp_path / "f0.png", tmp_path / "f5.png"
    src = data("emri_small.dcm")
    assert run(["render", src, "--out", str(out0), "--window", "2000", "4000"]) == 0
    assert run(["render", src, "--out", str(out5), "--frame", "5", "--window", "2000", "4000"]) == 0
    assert not np.array_equal(pixels(out0), pixels(out5))
    thumb = tmp_path / "t.png"
    assert run(["render", data("US1_UNCR.dcm"), "-o", str(thumb), "--size", "64"]) == 0
    assert pixels(thumb).shape == (48, 64, 3)


def test_render_preset(tmp_path: Path) -> None:
    lung, bone = tmp_path / "lung.png", tmp_path / "bone.png"
    assert run(["render", data("CT_small.dcm"), "--out", str(lung), "--preset", "lung"]) == 0
    assert run(["render", data("CT_small.dcm"), "--out", str(bone), "--preset", "bone"]) == 0
    assert lung.read_bytes() != bone.read_bytes()


def test_render_errors_exit_2_with_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.png"
    assert run(["render", data("CT_small.dcm"), "--out", str(out), "--frame", "3"]) == 2
    assert "frame 3 does not exist" in capsys.readouterr().err
    assert not out.exists()
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom" * 20)
    assert run(["render", str(junk), "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert run(["render", str(tmp_path / "missing.dcm"), "--out", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert run(["render", data("CT_small.dcm"), "--out", str(out), "--window", "0", "0"]) == 2
    assert "width" in capsys.readouterr().err


def test_window_and_preset_are_exclusive() -> None:
    with pytest.raises(SystemExit) as exc:
        run(["render", "a.dcm", "--out", "b.png", "--window", "1", "2", "--preset", "lung"])
    assert exc.value.code == 2


def test_info_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["info", data("MR_small.dcm")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["modality"] == "MR" and info["rows"] == 64
    assert info["default_window"] == {"center": 600.0, "width": 1600.0, "function": "LINEAR"}


def test_info_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"")
    assert run(["info", str(bad)]) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.skipif(
    importlib.util.find_spec("uploads.dicom.cli_deidentify") is None,
    reason="the dispatcher also needs cli_deidentify (a colleague's module), not there yet",
)
def test_module_entry_point(tmp_path: Path) -> None:
    out = tmp_path / "m.png"
    proc = subprocess.run(
        [sys.executable, "-m", "uploads.dicom", "render", data("MR_small.dcm"), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    with Image.open(io.BytesIO(out.read_bytes())) as img:
        assert img.size == (64, 64)
