"""Every bad input through every entry point: the browser upload API, ``import_dicom``,
and the engine CLI (``deidentify``, ``render``).

Each batch holds one good file besides the bad ones: every bad file gets a clear message
of its own and the good files of the same batch are still stored. Archives are checked
for bounded memory and time (a ZIP bomb must not be inflated).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pydicom
import pytest
from django.core.management import call_command
from PIL import Image

from tests.conftest import REPO
from tests.hardening.conftest import Runner, assert_clear_message, peak_memory
from tests.hardening.corpus import ACCEPT, REJECT, Case, archives, bad_inputs, good_file
from tests.uploads.conftest import sha
from uploads.intake import quarantine
from uploads.models import FileStatus, Instance, Upload, UploadFile

pytestmark = pytest.mark.django_db

#: Peak memory one archive may cost while it is unpacked (its bombs declare GBs).
MEMORY_LIMIT = 300 * 1024**2
#: Seconds one archive may take.
TIME_LIMIT = 10.0
UNICODE_NAME = "Ünïcødé 患者 scan ✓ 😀.dcm"
LONG_NAME = ("long-" * 50)[:246] + ".dcm"  # 250 characters


def extra_names() -> dict[str, Case]:
    """Odd file names: a rejected file keeps its name in the status, intact."""
    return {
        UNICODE_NAME: Case(b"not dicom at all, just words\n" * 3, REJECT, "not a DICOM"),
        LONG_NAME: Case(b"%PDF-1.4 long name\n", REJECT, "PDF"),
        "Ünïcødé good ✓.dcm": Case(good_file(), ACCEPT),
    }


@contextmanager
def bounded(what: str, memory: int = MEMORY_LIMIT, seconds: float = TIME_LIMIT) -> Iterator[None]:
    """Fail when the block's peak resident memory grows by more than ``memory`` or it
    runs longer than ``seconds``."""
    with peak_memory() as growth:
        started = time.monotonic()
        yield
        elapsed = time.monotonic() - started
    assert growth[0] < memory, f"{what}: peak memory grew by {growth[0] / 1024**2:.0f} MB"
    assert elapsed < seconds, f"{what}: {elapsed:.1f} s"


def check_case(name: str, case: Case, status: str, message: str) -> None:
    if case.expect == ACCEPT:
        assert status in {"stored", "duplicate"}, (name, status, message)
    else:
        assert status == "rejected", (name, status)
        assert_clear_message(message, contains=case.reason)


# -- the browser upload API ------------------------------------------------------------------


def test_upload_api_gives_each_bad_file_its_message_and_stores_the_rest(api: Runner) -> None:
    cases = {**bad_inputs(), **extra_names(), "good.dcm": Case(good_file(), ACCEPT)}
    assert len({sha(c.data) for c in cases.values()}) == len(cases), "inputs must differ"
    status = api.send_all({name: case.data for name, case in cases.items()})

    assert status["state"] == "done"
    files = {f["key"]: f for f in status["files"]}
    rejected = {r["name"]: r["reason"] for r in status["rejected"]}
    for name, case in cases.items():
        file = files[sha(case.data)]
        check_case(name, case, file["status"], file["message"])
        if case.expect == REJECT:
            assert rejected[name] == file["message"]  # the name comes back intact
    accepted = sum(c.expect == ACCEPT for c in cases.values())
    assert Instance.objects.count() == accepted
    assert status["counts"]["done"] == accepted
    assert quarantine.is_empty()
    # Names of stored files are dropped; only rejected ones keep theirs (to explain).
    assert set(UploadFile.objects.exclude(name="").values_list("name", flat=True)) == {
        name for name, case in cases.items() if case.expect == REJECT
    }


def test_upload_api_first_chunk_registration_keeps_odd_names(api: Runner, patient: Any) -> None:
    """The one-request path (Upload-Length + percent-encoded Upload-Name)."""
    upload = api.create(3)
    for name, case in extra_names().items():
        with api.capture(execute=True):
            response = api.client.client.generic(
                "PUT", f"/api/uploads/{upload}/files/{sha(case.data)}", case.data,
                content_type="application/octet-stream",
                headers={"Upload-Offset": "0", "Upload-Length": str(len(case.data)),
                         "Upload-Name": quote(name)},
            )  # fmt: skip
        assert response.status_code == 200, response.content
    status = api.status(upload)
    assert status["state"] == "done"
    assert {r["name"] for r in status["rejected"]} == {UNICODE_NAME, LONG_NAME}
    assert status["counts"]["done"] == 1


@pytest.mark.parametrize("archive", list(archives()))
def test_upload_api_archives_bounded_and_entry_by_entry(api: Runner, archive: str) -> None:
    data, expected = archives()[archive]
    good = good_file()
    upload = api.create(2)
    api.send(upload, "good.dcm", good)
    with bounded(archive):
        api.send(upload, archive, data)
    status = api.status(upload)
    assert status["state"] == "done"
    children = list(UploadFile.objects.filter(upload_id=upload, parent__isnull=False))
    for entry in expected:
        matches = [c for c in children if entry.part in c.name] if entry.expect == REJECT else [
            c for c in children if c.status == FileStatus.STORED]  # fmt: skip
        assert matches, (entry, [(c.name, c.status, c.message) for c in children])
        for child in matches:
            if entry.expect == REJECT:
                assert child.status == FileStatus.REJECTED
                assert_clear_message(child.message, contains=entry.reason)
    # The good file beside the archive is stored, nothing waits in quarantine.
    top = {f["key"]: f for f in status["files"]}
    assert top[sha(good)]["status"] == "stored"
    assert top[sha(data)]["status"] in {"expanded", "rejected"}
    assert quarantine.is_empty()


def test_viewer_refuses_pixel_bombs_quickly_and_renders_one_pixel(
    api: Runner, login: Any, patient: Any
) -> None:
    cases = {n: bad_inputs()[n] for n in ("one-by-one.dcm", "rle-bomb.dcm", "jpeg-lying-dims.dcm")}
    status = api.send_all({name: case.data for name, case in cases.items()})
    assert status["counts"]["done"] == 3  # indexed: the pixels were not decoded
    client = login(patient)
    for instance in Instance.objects.all():
        started = time.monotonic()
        response = client.get(f"/api/instances/{instance.pk}/slice.png")
        assert time.monotonic() - started < 2
        if instance.rows == 1:
            assert response.status_code == 200
            with Image.open(io.BytesIO(response.content)) as img:
                assert img.size == (1, 1)
        else:
            assert response.status_code == 422, response.content
            assert_clear_message(response.content.decode())


# -- import_dicom ----------------------------------------------------------------------------


def write_inputs(folder: Path, cases: dict[str, bytes]) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, data in cases.items():
        path = folder / name
        path.write_bytes(data)
        paths[name] = path
    return paths


@pytest.fixture
def import_lines(django_capture_on_commit_callbacks: Any) -> Any:
    """Run import_dicom with on-commit work executed (quarantine clean-up, prerender)."""

    def run(*paths: Path, owner: str) -> list[dict[str, Any]]:
        out = io.StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            call_command("import_dicom", *map(str, paths), "--owner", owner, stdout=out)
        return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]

    return run


def test_import_dicom_reports_every_bad_file(
    tmp_path: Path, patient: Any, import_lines: Any
) -> None:
    cases = {**bad_inputs(), "good.dcm": Case(good_file(), ACCEPT)}
    cases[LONG_NAME] = extra_names()[LONG_NAME]
    cases["Ünïcødé.dcm"] = Case(b"plain words\n", REJECT, "text")
    paths = write_inputs(tmp_path / "in", {n: c.data for n, c in cases.items()})
    lines = import_lines(tmp_path / "in", owner=patient.email)

    stored = sum(line["instances_stored"] for line in lines if line["study"] is not None)
    assert stored == sum(c.expect == ACCEPT for c in cases.values())
    (unfiled,) = [line for line in lines if line["study"] is None]
    reasons = {r["file"]: r["reason"] for r in unfiled["rejected"]}
    for name, case in cases.items():
        if case.expect == REJECT:
            assert_clear_message(reasons[str(paths[name])[-255:]], contains=case.reason)
    assert len(reasons) == sum(c.expect == REJECT for c in cases.values())
    assert quarantine.is_empty()
    assert Upload.objects.get().state == Upload.State.DONE


def test_import_dicom_archives_bounded(tmp_path: Path, patient: Any, import_lines: Any) -> None:
    paths = write_inputs(tmp_path / "zips", {n: a[0] for n, a in archives().items()})
    with bounded("import_dicom archives", seconds=TIME_LIMIT * len(paths)):
        lines = import_lines(*paths.values(), owner=patient.email)
    (unfiled,) = [line for line in lines if line["study"] is None]
    rejected = unfiled["rejected"]
    for _, expected in archives().values():
        for entry in (e for e in expected if e.expect == REJECT):
            found = [r for r in rejected if entry.part in r["file"]]
            assert found, (entry, rejected)
            for r in found:
                assert_clear_message(r["reason"], contains=entry.reason)
    # One good entry in each archive but the entry-count bomb (the parts share theirs).
    assert sum(line["instances_stored"] for line in lines if line["study"]) == 4
    assert quarantine.is_empty()


# -- the engine CLI --------------------------------------------------------------------------

# The peak is VmHWM, this process's own: Linux carries ru_maxrss over an exec from the
# process that forked it, so it would show the pytest process's size (larger after other
# tests, as on a pytest-xdist worker) rather than the CLI's.
RSS_WRAPPER = (
    "import re, runpy, sys\n"
    "sys.argv = ['uploads.dicom', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('uploads.dicom', run_name='__main__')\n"
    "finally:\n"
    "    status = open('/proc/self/status').read()\n"
    "    peak = re.search(r'^VmHWM:\\s+(\\d+) kB', status, re.M).group(1)\n"
    "    print(f'PEAK_RSS_KB={peak}', file=sys.stderr)\n"
)


def cli(*args: str, timeout: float = 60) -> tuple[int, str, str, int]:
    """Run ``python -m uploads.dicom ARGS``: (exit code, stdout, stderr, peak RSS in MB)."""
    result = subprocess.run(
        [sys.executable, "-c", RSS_WRAPPER, *args], cwd=REPO, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    stderr = result.stderr
    peak = int(stderr.rsplit("PEAK_RSS_KB=", 1)[1].split()[0]) // 1024
    stderr = stderr.rsplit("PEAK_RSS_KB=", 1)[0]
    assert "Traceback" not in stderr, stderr[-3000:]
    return result.returncode, result.stdout, stderr, peak


def parse_cli_lines(stdout: str) -> dict[str, str]:
    """input name -> what happened (the text after ' -> ')."""
    results = {}
    for line in stdout.splitlines():
        if " -> " in line:
            name, outcome = line.split(" -> ", 1)
            results[name] = outcome
    return results


def test_cli_deidentify_reports_every_input_with_bounded_memory(tmp_path: Path) -> None:
    cases = {**bad_inputs(), "good.dcm": Case(good_file(), ACCEPT)}
    cases[LONG_NAME] = extra_names()[LONG_NAME]
    folder = tmp_path / "in"
    write_inputs(folder, {n: c.data for n, c in cases.items()})
    write_inputs(folder, {n: a[0] for n, a in archives().items()})
    started = time.monotonic()
    code, stdout, _, peak = cli("deidentify", str(folder), "--out", str(tmp_path / "out"),
                                "--key", "test-key")  # fmt: skip
    assert time.monotonic() - started < 60
    assert code == 0, stdout[-2000:]
    assert peak < 400, f"peak RSS {peak} MB"
    results = parse_cli_lines(stdout)
    for name, case in cases.items():
        outcome = results[f"{folder}/{name}"]
        if case.expect == ACCEPT:
            assert ".dcm" in outcome and not outcome.startswith(("skipped", "failed")), outcome
        elif case.unreadable:
            assert outcome.startswith(("skipped: ", "failed: ")), (name, outcome)
            assert_clear_message(outcome.split(": ", 1)[1], contains=case.reason)
    for archive, (_, expected) in archives().items():
        for entry in expected:
            found = {n: o for n, o in results.items() if archive in n and entry.part in n}
            assert found, (archive, entry)
            for outcome in found.values():
                if entry.expect == REJECT:
                    assert outcome.startswith("skipped: "), outcome
                    assert_clear_message(outcome, contains=entry.reason)
                else:
                    assert ".dcm" in outcome and not outcome.startswith("skipped"), outcome
    written = list((tmp_path / "out").rglob("*.dcm"))
    assert written and all(pydicom.dcmread(p).PatientIdentityRemoved == "YES" for p in written)


def render_in_process(path: Path, out: Path, capsys: Any) -> tuple[int, str]:
    from uploads.dicom.__main__ import main

    code = main(["render", str(path), "--out", str(out)])
    return code, capsys.readouterr().err


def test_cli_render_every_input(tmp_path: Path, capsys: Any) -> None:
    cases = {**bad_inputs(), "good.dcm": Case(good_file(), ACCEPT)}
    paths = write_inputs(tmp_path / "in", {n: c.data for n, c in cases.items()})
    for name, case in cases.items():
        out = tmp_path / "out.png"
        out.unlink(missing_ok=True)
        started = time.monotonic()
        code, err = render_in_process(paths[name], out, capsys)
        assert time.monotonic() - started < 2, name
        if case.makes_png:
            assert code == 0 and out.stat().st_size > 0, (name, err)
        else:
            assert code == 2 and not out.exists(), name
            assert err.startswith("error: "), (name, err)
            assert_clear_message(err[len("error: ") :].strip())


@pytest.mark.parametrize(
    ("name", "works"),
    [("deflate-bomb.dcm", False), ("rle-bomb.dcm", False), ("huge-declared.dcm", False),
     ("jpeg-lying-dims.dcm", False), ("one-by-one.dcm", True), ("empty.dcm", False)],
)  # fmt: skip
def test_cli_render_subprocess_refuses_bombs_quickly(
    tmp_path: Path, name: str, works: bool
) -> None:
    path = tmp_path / name
    path.write_bytes(bad_inputs()[name].data)
    started = time.monotonic()
    code, _, err, peak = cli("render", str(path), "--out", str(tmp_path / "x.png"))
    assert time.monotonic() - started < 15
    assert peak < 300, f"peak RSS {peak} MB"
    if works:
        assert code == 0
        with Image.open(tmp_path / "x.png") as img:
            assert img.size == (1, 1)
    else:
        assert code == 2 and err.startswith("error: ")
        assert_clear_message(err[len("error: ") :].strip())


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom on damaged text values
def test_cli_info_never_crashes(tmp_path: Path) -> None:
    from uploads.dicom.cli_render import run_info

    for name, case in bad_inputs().items():
        path = tmp_path / "x.dcm"
        path.write_bytes(case.data)
        args: Any = type("Args", (), {"file": path})()
        assert run_info(args) in {0, 2}, name
