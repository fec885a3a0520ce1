"""``render`` and ``info`` subcommands of ``python -m uploads.dicom``.

Examples
--------
::

    python -m uploads.dicom render CT.dcm --out slice.png --preset lung
    python -m uploads.dicom render US.dcm --out frame7.png --frame 7 --size 256
    python -m uploads.dicom info CT.dcm
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from uploads.dicom.errors import DicomInputError
from uploads.dicom.render import AUTO, PRESETS, RenderRequest, Window, image_info, render_png

#: Exit status for unusable input or arguments (argparse uses 2 for usage errors too).
EXIT_INPUT_ERROR = 2


def register(subparsers: Any) -> None:
    """Add the ``render`` and ``info`` subcommands to an argparse subparsers object.

    Each subparser sets ``func``: a callable taking the parsed arguments and returning
    the process exit code.
    """
    render = subparsers.add_parser(
        "render",
        help="render one frame of a DICOM image to PNG",
        description="Render one frame (default: the first) of a DICOM image to an 8-bit "
        "PNG at full resolution, with the file's window unless told otherwise.",
    )
    render.add_argument("file", type=Path, help="DICOM file")
    render.add_argument("--out", "-o", type=Path, required=True, help="output PNG path")
    render.add_argument("--frame", type=int, default=0, help="zero-based frame index")
    voi = render.add_mutually_exclusive_group()
    voi.add_argument(
        "--window",
        nargs=2,
        type=float,
        metavar=("CENTER", "WIDTH"),
        help="window centre and width in modality units (e.g. HU)",
    )
    voi.add_argument(
        "--preset",
        choices=[*PRESETS, AUTO],
        help="named window preset (CT) or 'auto'",
    )
    render.add_argument("--size", type=int, help="maximum output edge in pixels")
    render.add_argument("--invert", action="store_true", help="invert the greyscale")
    render.set_defaults(func=run_render)

    info = subparsers.add_parser(
        "info",
        help="print a JSON summary of a DICOM image",
        description="Print the image attributes (no patient data) as JSON.",
    )
    info.add_argument("file", type=Path, help="DICOM file")
    info.set_defaults(func=run_info)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_INPUT_ERROR


def run_render(args: argparse.Namespace) -> int:
    """Render ``args.file`` to ``args.out``; print a one-line summary; return 0 or 2."""
    try:
        window = Window(*args.window) if args.window else None
        req = RenderRequest(
            frame=args.frame,
            window=window,
            preset=args.preset,
            size=args.size,
            invert=args.invert,
        )
        if not args.file.is_file():
            return _fail(f"no such file: {args.file}")
        result = render_png(args.file, req)
    except DicomInputError as exc:
        return _fail(str(exc))
    try:
        args.out.write_bytes(result.png)
    except OSError as exc:
        return _fail(f"cannot write {args.out}: {exc.strerror}")
    window_text = (
        f", window {result.window_used.center:g}/{result.window_used.width:g}"
        if result.window_used
        else ""
    )
    print(
        f"{args.out}: {result.width}x{result.height} {result.mode}, "
        f"frame {result.frame + 1} of {result.frames}{window_text}"
    )
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Print :func:`~uploads.dicom.render.image_info` of ``args.file`` as JSON."""
    if not args.file.is_file():
        return _fail(f"no such file: {args.file}")
    try:
        info = image_info(args.file)
    except DicomInputError as exc:
        return _fail(str(exc))
    print(json.dumps(info, indent=2))
    return 0
