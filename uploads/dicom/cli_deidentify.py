"""``deidentify`` subcommand of ``python -m uploads.dicom``.

Examples
--------
::

    PORTAL_DEID_KEY=... python -m uploads.dicom deidentify CD/ scans.zip --out clean/
    python -m uploads.dicom deidentify a.dcm --out clean --no-option clean-descriptors
    python -m uploads.dicom deidentify us.dcm --out clean --clean-pixels --mask 0,0,640,40

Inputs may be files, folders and ZIP archives (:mod:`uploads.dicom.sources`). Each
de-identified file is written as ``OUT/<new Study UID>/<new Series UID>/<new SOP UID>.dcm``.
One line per input item (written, skipped with a reason, or failed with a reason, and
whether its pixels need review), then a total line. ``--clean-pixels`` finds identifying
text burned into the pixels of files that need review and masks it in every frame
(PS3.15 E.3.1, :mod:`uploads.dicom.pixels`); ``--mask x,y,w,h`` (repeatable) masks a
region of every file as well. The exit status is 0 when at least
one file was de-identified, 1 when none was, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from uploads.dicom.clean import deidentify_and_clean
from uploads.dicom.deidentify import DEFAULT_UID_ROOT, DeidOptions, names_in_file
from uploads.dicom.errors import DicomInputError
from uploads.dicom.sources import Skipped, iter_sources
from uploads.dicom.uids import validate_uid_root

#: Environment variable holding the de-identification key when --key is not given.
KEY_ENV = "PORTAL_DEID_KEY"
EXIT_NOTHING_DONE = 1
EXIT_USAGE = 2


def register(subparsers: Any) -> None:
    """Add the ``deidentify`` subcommand to an argparse subparsers object.

    The subparser sets ``func``: a callable taking the parsed arguments and returning the
    process exit code.
    """
    names = ", ".join(n.replace("_", "-") for n in DeidOptions.option_names())
    defaults = ", ".join(n.replace("_", "-") for n in DeidOptions().names())
    parser = subparsers.add_parser(
        "deidentify",
        help="de-identify DICOM files, folders and ZIP archives (PS3.15 Annex E)",
        description="De-identify with the PS3.15 E.1.1 Basic Application Level "
        "Confidentiality Profile and options. Output: OUT/<study>/<series>/<sop>.dcm "
        f"with new UIDs. Options: {names}. On by default: {defaults}.",
    )
    parser.add_argument("inputs", nargs="+", help="DICOM files, folders or ZIP archives")
    parser.add_argument("--out", "-o", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--option", action="append", default=[], metavar="NAME", help="switch an option on"
    )
    parser.add_argument(
        "--no-option", action="append", default=[], metavar="NAME", help="switch an option off"
    )
    parser.add_argument(
        "--key",
        help=f"secret for UIDs, pseudonyms and date shifts (default: ${KEY_ENV}); "
        "the same key gives the same results",
    )
    parser.add_argument(
        "--uid-root",
        default=DEFAULT_UID_ROOT,
        help=f"root of new UIDs (default {DEFAULT_UID_ROOT})",
    )
    parser.add_argument(
        "--clean-pixels",
        action="store_true",
        help="find identifying text burned into the pixels (OCR) and mask it in every frame",
    )
    parser.add_argument(
        "--mask",
        action="append",
        default=[],
        type=parse_region,
        metavar="X,Y,W,H",
        help="also mask this region (pixels: column, row from the top-left, width, height) "
        "in every frame of every file; repeatable",
    )
    parser.set_defaults(func=run)


def parse_region(text: str) -> dict[str, int]:
    """``"x,y,w,h"`` as a region; an argparse error in plain words otherwise."""
    parts = text.split(",")
    try:
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a region: give four whole numbers x,y,w,h"
        ) from None
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r}: x and y must be 0 or more, width and height more than 0"
        )
    return {"x": x, "y": y, "w": w, "h": h}


def _fail(message: str, err: TextIO) -> int:
    print(f"deidentify: {message}", file=err)
    return EXIT_USAGE


def _names(inputs: Sequence[str]) -> set[str]:
    """Every person's name in the inputs (headers only), cut out of the descriptors of all
    of them (docs/deidentification.md, "People's names in descriptors")."""
    names: set[str] = set()
    for item in iter_sources(inputs):
        if isinstance(item, Skipped):
            continue
        try:
            names |= names_in_file(item.read())
        except DicomInputError:
            continue  # reported when it is de-identified
    return names


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the ``deidentify`` command for parsed ``args``; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    key_text = args.key if args.key is not None else os.environ.get(KEY_ENV, "")
    if not key_text:
        return _fail(f"no key: give --key or set {KEY_ENV}", err)
    try:
        options = DeidOptions().with_changes(enable=args.option, disable=args.no_option)
        validate_uid_root(args.uid_root)
    except ValueError as exc:
        return _fail(str(exc), err)
    key = key_text.encode("utf-8")
    names = _names(args.inputs) if options.clean_descriptors else set()
    done = skipped = failed = review = 0
    for item in iter_sources(args.inputs):
        if isinstance(item, Skipped):
            skipped += 1
            print(f"{item.name} -> skipped: {item.reason}", file=out)
            continue
        try:
            cleaned = deidentify_and_clean(
                item.read(),
                key=key,
                options=options,
                uid_root=args.uid_root,
                clean=bool(args.clean_pixels or args.mask),
                regions=args.mask,
                ocr=bool(args.clean_pixels),
                names=names,
            )
        except DicomInputError as exc:
            failed += 1
            print(f"{item.name} -> failed: {exc}", file=out)
            continue
        data, result = cleaned.data, cleaned.result
        relative = Path(
            result.study_instance_uid or "no-study-uid",
            result.series_instance_uid or "no-series-uid",
            f"{result.sop_instance_uid}.dcm",
        )
        target = args.out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        done += 1
        note = ""
        if cleaned.cleaning is not None and cleaned.cleaning.masked:
            count = len(cleaned.cleaning.regions)
            note = f" [pixels cleaned: {count} region{'s' if count != 1 else ''} masked]"
        if cleaned.hold or (result.needs_pixel_review and cleaned.cleaning is None):
            review += 1
            note += f" [needs pixel review: {cleaned.hold or result.pixel_review_reason}]"
        print(f"{item.name} -> {relative.as_posix()}{note}", file=out)
    print(
        f"total: {done} de-identified, {skipped} skipped, {failed} failed, "
        f"{review} need pixel review",
        file=out,
    )
    return 0 if done else EXIT_NOTHING_DONE


def main(argv: Sequence[str] | None = None) -> int:
    """``deidentify`` alone, for tests and scripts: ``main(["in/", "--out", "o"])``."""
    parser = argparse.ArgumentParser(prog="deidentify")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(["deidentify", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args))
