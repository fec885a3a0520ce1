"""Fetch third-party DICOM test data that is published on PyPI but not in a wheel.

dicompyler-core's source distribution (BSD licence) carries a real, consistent
radiotherapy set: a CT slice, its RT Structure Set, RT Plan and RT Dose (one frame of
reference). The files go to ``.cache/testdata/dicompyler-core/`` (git-ignored), never into
the repository. Without network the tests that need them skip. Run by ``make install``.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / ".cache" / "testdata" / "dicompyler-core"
PACKAGE = "dicompyler-core==0.5.6"
SHA256 = "0e3c05920a8fa3f1c0ff05a5c21dab3ff3f735e00012b69b38926b219d07faee"
MEMBERS = ("ct.0.dcm", "rtss.dcm", "rtplan.dcm", "rtdose.dcm")
FOLDER = "tests/testdata/example_data/"


def main() -> int:
    if all((TARGET / name).exists() for name in MEMBERS):
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                   "--no-binary", ":all:", "--dest", tmp, PACKAGE]  # fmt: skip
        try:
            fetched = subprocess.run(command, check=False, capture_output=True, timeout=300)
        except subprocess.TimeoutExpired:
            fetched = None
        if fetched is None or fetched.returncode != 0:
            print("test data not fetched (no network?): the RT tests will skip")
            return 0
        archives = list(Path(tmp).glob("*.tar.gz"))
        if len(archives) != 1:
            print("test data not fetched (no source archive): the RT tests will skip")
            return 0
        archive = archives[0]
        if hashlib.sha256(archive.read_bytes()).hexdigest() != SHA256:
            # Never test on data other than the reviewed archive; the tests skip.
            print(f"{archive.name}: unexpected SHA-256, not used", file=sys.stderr)
            return 0
        TARGET.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                name = member.name.rsplit("/", 1)[-1]
                if member.isfile() and FOLDER in member.name and name in MEMBERS:
                    source = tar.extractfile(member)
                    assert source is not None
                    (TARGET / name).write_bytes(source.read())
    print(f"test data in {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
