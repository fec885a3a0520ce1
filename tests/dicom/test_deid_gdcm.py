"""Comparison with an established de-identifier: GDCM's ``gdcmanon`` (Basic Profile).

``gdcmanon -e`` (PS3.15 E.1.1 with the original values encrypted into Encrypted
Attributes Sequence) and our engine run on the same files; for every attribute of the
input we record what each tool did to it. The test asserts that we never keep a value
that gdcmanon removes or empties, except where one of our default options keeps it on
purpose. ``python -m tests.dicom.test_deid_gdcm`` prints the table used in
``docs/deidentification.md``.

Needs the Debian package ``libgdcm-tools`` (and ``openssl`` for the certificate);
skipped when absent, except with ``CI=true``.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import config, dcmread
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset

from tests.dicom.conftest import sample_bytes
from uploads.dicom import profile as prof
from uploads.dicom.deidentify import DeidOptions, deidentify_bytes

FILES = ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtstruct.dcm")
KEY = b"gdcm-comparison"


def kept_by_option() -> set[str]:
    """Keywords our default options keep (K) or keep cleaned (C) on purpose."""
    columns = DeidOptions().profile_columns()
    return {
        row.keyword
        for row in prof.load_profile().rows
        if prof.effective_action(row, columns) in (prof.KEEP, prof.CLEAN)
    }


KEPT_BY_OPTION = kept_by_option()


def tools() -> tuple[str, str] | None:
    gdcmanon, openssl = shutil.which("gdcmanon"), shutil.which("openssl")
    if gdcmanon and openssl:
        return gdcmanon, openssl
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail("gdcmanon/openssl missing in CI: apt-get install libgdcm-tools openssl")
    pytest.skip("gdcmanon (libgdcm-tools) or openssl not installed")
    return None


def gdcm_version(gdcmanon: str) -> str:
    done = subprocess.run([gdcmanon, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip().split(":")[-1].strip().split(" $")[0]


def run_gdcmanon(gdcmanon: str, openssl: str, data: bytes, work: Path) -> bytes:
    cert, key = work / "cert.pem", work / "key.pem"
    if not cert.exists():
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
             "-out", str(cert), "-subj", "/CN=deid-test", "-days", "2"],
            check=True, capture_output=True,
        )  # fmt: skip
    source, target = work / "in.dcm", work / "out.dcm"
    source.write_bytes(data)
    subprocess.run(
        [gdcmanon, "-e", "-c", str(cert), "-i", str(source), "-o", str(target)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return target.read_bytes()


def flatten(ds: Dataset, prefix: str = "") -> Iterator[tuple[str, str, object]]:
    """(path, keyword, value) of every element; sequences recurse by item index."""
    for elem in ds:
        tag = f"{elem.tag.group:04X},{elem.tag.element:04X}"
        path = f"{prefix}{tag}"
        keyword = "private" if elem.tag.is_private else (keyword_for_tag(elem.tag) or "")
        if elem.VR == "SQ":
            yield path, keyword, f"<{len(elem.value)} items>"
            for index, item in enumerate(elem.value):
                yield from flatten(item, f"{path}[{index}]>")
        elif elem.tag != 0x7FE00010:
            yield path, keyword, elem.value


def fate(before: object, after: dict[str, object], path: str) -> str:
    if path not in after:
        return "removed"
    value = after[path]
    if value in (None, "", b"", []) or str(value) == "":
        return "emptied"
    return "kept" if str(value) == str(before) else "changed"


def compare(
    name: str, data: bytes, gdcmanon: str, openssl: str, work: Path
) -> list[tuple[str, str, str, str]]:
    with config.disable_value_validation():
        source = {p: (k, v) for p, k, v in flatten(dcmread(io.BytesIO(data), force=True))}
        theirs_ds = dcmread(io.BytesIO(run_gdcmanon(gdcmanon, openssl, data, work)))
        ours_ds = dcmread(io.BytesIO(deidentify_bytes(data, key=KEY, options=DeidOptions())[0]))
        theirs = {p: v for p, _, v in flatten(theirs_ds)}
        ours = {p: v for p, _, v in flatten(ours_ds)}
    rows = []
    for path, (keyword, value) in source.items():
        if value in (None, "", b"") or str(value) == "":
            continue  # nothing to protect
        rows.append((path, keyword, fate(value, theirs, path), fate(value, ours, path)))
    return rows


@pytest.fixture(scope="module")
def gdcm() -> tuple[str, str]:
    found = tools()
    assert found is not None
    return found


@pytest.mark.parametrize("name", FILES)
def test_we_keep_nothing_gdcmanon_protects(
    name: str, gdcm: tuple[str, str], tmp_path: Path
) -> None:
    rows = compare(name, sample_bytes(name), *gdcm, tmp_path)
    assert rows
    leaks = [
        (path, keyword)
        for path, keyword, theirs, ours in rows
        if theirs in ("removed", "emptied", "changed")
        and ours == "kept"
        and keyword not in KEPT_BY_OPTION
        and keyword != "private"
        and not path.startswith("0002")
    ]
    assert leaks == [], f"{name}: gdcmanon protects but we keep {leaks}"


def table() -> str:
    found = tools()
    assert found is not None
    lines = [
        f"gdcmanon {gdcm_version(found[0])} (`gdcmanon -e -c cert.pem`) versus this engine "
        "(default options)",
        "",
        "| file | attribute | gdcmanon | this engine |",
        "|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as work:
        for name in FILES:
            private: dict[tuple[str, str], int] = {}
            for path, keyword, theirs, ours in compare(
                name, sample_bytes(name), *found, Path(work)
            ):
                if theirs == ours or path.startswith("0002"):
                    continue
                if keyword == "private":
                    private[(theirs, ours)] = private.get((theirs, ours), 0) + 1
                    continue
                lines.append(f"| {name} | {keyword or path} `{path}` | {theirs} | {ours} |")
            for (theirs, ours), count in sorted(private.items()):
                lines.append(f"| {name} | {count} private elements | {theirs} | {ours} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
    sys.exit(0)
