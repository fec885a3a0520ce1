"""Command line entry point: ``python -m uploads.dicom COMMAND ...``.

Commands
--------
deidentify
    De-identify files, folders and ZIP archives (PS3.15 Annex E).
render
    Render one frame of a DICOM image to PNG.
info
    Print a JSON summary of a DICOM file.
"""

from __future__ import annotations

import argparse
import sys

from uploads.dicom import cli_deidentify, cli_render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m uploads.dicom", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cli_deidentify.register(sub)
    cli_render.register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
