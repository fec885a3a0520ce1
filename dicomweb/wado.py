"""WADO-RS (PS3.18 10.4): instances, metadata, frames and rendered images.

Files are read only through Django's storage API, and they are the stored ones: already
de-identified. Whole instances come as they are stored (their transfer syntax is named in
each part's ``Content-Type``); a request for another transfer syntax is answered 406.
Frames come uncompressed ("native", ``application/octet-stream``, Explicit VR Little
Endian byte order) unless the client accepts the stored encoding (``transfer-syntax=*``
or its media type, e.g. ``image/jp2``), which is then sent as stored. Rendered images go
through the viewer's renderer (``uploads.viewer.rendering``) and its caches.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from PIL import Image
from pydicom import dcmread
from pydicom.encaps import generate_frames
from pydicom.pixels import pixel_array

from dicomweb import attributes as attrs
from dicomweb import multipart
from dicomweb.access import Caller, Invalid, NotAcceptable, find_instance, find_series, find_study
from uploads.dicom.errors import DicomInputError
from uploads.models import Instance, Study
from uploads.viewer.rendering import SliceParams, slice_png

DICOM = "application/dicom"
OCTET = "application/octet-stream"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
#: Stored transfer syntaxes whose frames are the native bytes already.
NATIVE_LE = {"1.2.840.10008.1.2", EXPLICIT_LE}
#: Media types of compressed frames (PS3.18 Table 8.7.3-2).
FRAME_MEDIA = {
    "1.2.840.10008.1.2.4.50": "image/jpeg", "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg", "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls", "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2", "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx", "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}  # fmt: skip


def read(instance: Instance) -> bytes:
    with default_storage.open(instance.file, "rb") as handle:
        return bytes(handle.read())


def syntax_of(instance: Instance) -> str:
    return instance.transfer_syntax or EXPLICIT_LE


# -- whole instances -------------------------------------------------------------------------


def dicom_syntaxes(request: HttpRequest) -> set[str] | None:
    """Transfer syntaxes the client accepts for whole instances; None: any (as stored)."""
    wanted: set[str] = set()
    for media in multipart.accepted(request.headers.get("Accept")):
        inner = media.param("type").lower() if media.type == "multipart/related" else ""
        if media.type in ("*/*", "multipart/*") or (
            media.type == "multipart/related" and inner in ("", DICOM, "application/*", "*/*")
        ):
            syntax = media.param("transfer-syntax")
            if syntax in ("", "*"):
                return None
            wanted.add(syntax)
    if not wanted:
        raise NotAcceptable('only multipart/related; type="application/dicom" is offered')
    return wanted


def retrieve(
    request: HttpRequest, caller: Caller, study: Study, instances: list[Instance]
) -> HttpResponseBase:
    if not caller.may_download(study):
        return HttpResponse("this share link does not allow downloads\n", status=403,
                            content_type="text/plain")  # fmt: skip
    wanted = dicom_syntaxes(request)
    if wanted is not None and any(syntax_of(i) not in wanted for i in instances):
        raise NotAcceptable(
            "instances are sent in their stored transfer syntax; ask with transfer-syntax=*"
        )
    caller.detail["instances"] = len(instances)
    boundary = multipart.new_boundary()
    parts = ((read(i), f"{DICOM}; transfer-syntax={syntax_of(i)}") for i in instances)
    return StreamingHttpResponse(multipart.stream(parts, boundary),
                                 content_type=multipart.content_type(DICOM, boundary))  # fmt: skip


def retrieve_study(request: HttpRequest, caller: Caller, study_uid: str) -> HttpResponseBase:
    study = find_study(caller, study_uid)
    instances = list(Instance.objects.filter(series__study=study).order_by("series_id", "pk"))
    return retrieve(request, caller, study, instances)


def retrieve_series(
    request: HttpRequest, caller: Caller, study_uid: str, series_uid: str
) -> HttpResponseBase:
    series = find_series(caller, study_uid, series_uid)
    return retrieve(request, caller, series.study, list(series.instances.order_by("pk")))


def retrieve_instance(
    request: HttpRequest, caller: Caller, study_uid: str, series_uid: str, sop_uid: str
) -> HttpResponseBase:
    instance = find_instance(caller, study_uid, series_uid, sop_uid)
    return retrieve(request, caller, instance.series.study, [instance])


# -- metadata --------------------------------------------------------------------------------


def metadata(request: HttpRequest, caller: Caller, instances: list[Instance]) -> HttpResponse:
    headers = attrs.headers(instances)
    out = []
    for instance in instances:
        item = dict(headers[instance.pk])
        if instance.has_pixels:
            series = instance.series
            frames = ",".join(str(n) for n in range(1, max(instance.frames, 1) + 1))
            uids = [series.study.study_instance_uid, series.series_instance_uid]
            url = reverse("dicomweb-frames", args=[*uids, instance.sop_instance_uid, frames])
            item["7FE00010"] = {"vr": "OW", "BulkDataURI": request.build_absolute_uri(url)}
        out.append(dict(sorted(item.items())))
    caller.detail["instances"] = len(out)
    return HttpResponse(json.dumps(out), content_type="application/dicom+json")


def study_metadata(request: HttpRequest, caller: Caller, study_uid: str) -> HttpResponse:
    study = find_study(caller, study_uid)
    instances = Instance.objects.filter(series__study=study).select_related("series__study")
    return metadata(request, caller, list(instances.order_by("series_id", "pk")))


def series_metadata(
    request: HttpRequest, caller: Caller, study_uid: str, series_uid: str
) -> HttpResponse:
    series = find_series(caller, study_uid, series_uid)
    instances = series.instances.select_related("series__study").order_by("pk")
    return metadata(request, caller, list(instances))


def instance_metadata(
    request: HttpRequest, caller: Caller, study_uid: str, series_uid: str, sop_uid: str
) -> HttpResponse:
    return metadata(request, caller, [find_instance(caller, study_uid, series_uid, sop_uid)])


# -- frames ----------------------------------------------------------------------------------


def frame_numbers(text: str, instance: Instance) -> list[int]:
    """1-based frame numbers of the path (``1,3,5``); 400 for syntax, 404 past the end."""
    if not re.fullmatch(r"\d{1,6}(,\d{1,6}){0,9999}", text):
        raise Invalid("frames: a comma-separated list of frame numbers (1 = the first)")
    numbers = [int(n) for n in text.split(",")]
    if not instance.has_pixels or any(not 1 <= n <= max(instance.frames, 1) for n in numbers):
        raise Http404(f"the instance has {instance.frames if instance.has_pixels else 0} frames")
    return numbers


def frame_form(request: HttpRequest, syntax: str) -> str:
    """``native`` or ``stored``: what the client accepts, best first."""
    stored_media = FRAME_MEDIA.get(syntax, OCTET)
    for media in multipart.accepted(request.headers.get("Accept")):
        inner = media.param("type").lower() if media.type == "multipart/related" else media.type
        wanted = media.param("transfer-syntax")
        if inner in ("*/*", "") or (inner == OCTET and wanted in ("", EXPLICIT_LE)):
            return "native"
        if wanted == syntax or (wanted == "*" and inner in (OCTET, stored_media, "image/*")):
            return "stored"
        if inner == stored_media and not wanted:
            return "stored"
    raise NotAcceptable(
        f"frames are offered as {OCTET} (uncompressed) or as stored ({stored_media}; "
        f"transfer-syntax={syntax})"
    )


def native_frames(data: bytes, instance: Instance, numbers: list[int]) -> Iterator[bytes]:
    syntax = syntax_of(instance)
    if syntax in NATIVE_LE:
        ds = dcmread(io.BytesIO(data))
        bits, samples = int(ds.BitsAllocated), int(getattr(ds, "SamplesPerPixel", 1))
        if bits % 8 == 0:
            size = int(ds.Rows) * int(ds.Columns) * samples * bits // 8
            for n in numbers:
                yield bytes(ds.PixelData[(n - 1) * size : n * size])
            return
    for n in numbers:
        try:
            array = pixel_array(io.BytesIO(data), index=n - 1)
        except Exception as exc:  # no decoder for this encoding, or damaged pixel data
            raise NotAcceptable(
                f"the frame cannot be decoded here ({type(exc).__name__}); ask for it as stored "
                f'(multipart/related; type="{OCTET}"; transfer-syntax=*)'
            ) from exc
        yield array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def stored_frames(data: bytes, instance: Instance, numbers: list[int]) -> list[bytes]:
    ds = dcmread(io.BytesIO(data))
    if ds.file_meta.TransferSyntaxUID.is_encapsulated:
        frames = list(generate_frames(ds.PixelData, number_of_frames=max(instance.frames, 1)))
        return [frames[n - 1] for n in numbers]
    return list(native_frames(data, instance, numbers))


def frames(
    request: HttpRequest,
    caller: Caller,
    study_uid: str,
    series_uid: str,
    sop_uid: str,
    frame_list: str,
) -> HttpResponseBase:
    instance = find_instance(caller, study_uid, series_uid, sop_uid)
    numbers = frame_numbers(frame_list, instance)
    syntax = syntax_of(instance)
    form = frame_form(request, syntax)
    data = read(instance)
    boundary = multipart.new_boundary()
    caller.detail["frames"] = len(numbers)
    if form == "native":
        parts = ((frame, OCTET) for frame in native_frames(data, instance, numbers))
        kind = OCTET
    else:
        kind = FRAME_MEDIA.get(syntax, OCTET)
        part_type = f"{kind}; transfer-syntax={syntax}"
        parts = ((frame, part_type) for frame in stored_frames(data, instance, numbers))
    body = b"".join(multipart.stream(parts, boundary))
    return HttpResponse(body, content_type=multipart.content_type(kind, boundary))


# -- rendered --------------------------------------------------------------------------------


def render_params(request: HttpRequest, frame: int) -> tuple[SliceParams, int]:
    """PS3.18 8.3.5: ``window=center,width[,function]``, ``viewport=vw,vh``, ``quality``."""
    center = width = None
    size = None
    if window := request.GET.get("window"):
        pieces = window.split(",")
        function = pieces[2].strip().lower() if len(pieces) > 2 else "linear"
        if len(pieces) not in (2, 3) or function not in ("linear", "linear-exact"):
            raise Invalid("window=center,width[,linear]: only linear windows are offered")
        center, width = pieces[0], pieces[1]
    if viewport := request.GET.get("viewport"):
        pieces = viewport.split(",")
        if len(pieces) != 2 or not all(p.strip().isdigit() for p in pieces):
            raise Invalid("viewport=width,height in pixels (cropping is not offered)")
        size = str(max(int(pieces[0]), int(pieces[1])))
    quality = request.GET.get("quality", "90")
    if not quality.isdigit() or not 1 <= int(quality) <= 100:
        raise Invalid("quality: a whole number from 1 to 100")
    query = {"frame": str(frame), "wc": center, "ww": width, "size": size}
    try:
        return SliceParams.from_query({k: v for k, v in query.items() if v is not None}), int(
            quality
        )
    except ValueError as exc:
        raise Invalid(str(exc)) from exc


def image_type(request: HttpRequest) -> str:
    for media in multipart.accepted(request.headers.get("Accept")):
        if media.type in ("image/jpeg", "image/png"):
            return media.type
        if media.type in ("*/*", "image/*"):
            return "image/jpeg"
    raise NotAcceptable("rendered images are offered as image/jpeg or image/png")


def rendered(
    request: HttpRequest, caller: Caller, study_uid: str, series_uid: str, sop_uid: str,
    frame_list: str = "1",
) -> HttpResponse:  # fmt: skip
    instance = find_instance(caller, study_uid, series_uid, sop_uid)
    numbers = frame_numbers(frame_list, instance)
    if len(numbers) != 1:
        raise Invalid("a rendered image is of one frame")
    kind = image_type(request)
    params, quality = render_params(request, numbers[0] - 1)
    try:
        png, _etag = slice_png(instance, params)
    except (DicomInputError, ValueError) as exc:  # not an image the renderer can draw
        raise NotAcceptable(f"this instance cannot be rendered: {exc}") from exc
    if kind == "image/png":
        return HttpResponse(png, content_type=kind)
    return HttpResponse(to_jpeg(png, quality), content_type=kind)


def to_jpeg(png: bytes, quality: int) -> bytes:
    image: Any = Image.open(io.BytesIO(png))
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()
