"""Uploaded bytes -> stored media: the one place that decides what a file is, cleans it and stores it.

Used by the media endpoints (attachments) and by the profile update (avatar, header).

* The type is detected from the bytes only (Pillow for images, a small signature table for
  audio/video): a file name or a declared Content-Type is never trusted.
* Images are decoded and re-encoded, so EXIF (GPS position, camera serial...), XMP, comments and
  colour profiles are gone; the EXIF orientation is applied first and wide-gamut colours are
  converted to sRGB, so the picture looks the same without its metadata. Decompression bombs
  are refused before any pixel is decoded.
* Video and audio are stored as uploaded (no transcoding here), except that the user-data boxes of
  MP4/MOV/M4A files (where phones write the GPS position) and MP3 ID3 tags are blanked.
* Files get random unguessable names and go through `MediaStorage`, so S3 can replace the local
  directory later without touching the callers.
* Pillow work runs on a small dedicated thread pool: the event loop keeps serving, and at most
  two images are decoded at once, which bounds memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import mimetypes
import os
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any, Literal, TypeVar

from PIL import Image, ImageCms, ImageOps, ImageSequence
from sqlalchemy import delete, select

from fediverse.config import Settings
from fediverse.db import utcnow
from fediverse.models import Attachment, ScheduledStatus, Status, StatusEdit
from fediverse.runtime import Runtime

log = logging.getLogger(__name__)

Purpose = Literal["attachment", "avatar", "header"]
PURPOSES: tuple[Purpose, ...] = ("attachment", "avatar", "header")

MB = 1024 * 1024
SIZE_LIMITS = {"image": 16 * MB, "video": 99 * MB, "audio": 40 * MB}
MAX_UPLOAD_BYTES = max(SIZE_LIMITS.values())
# Decompression bombs: a tiny file can declare a huge canvas. Checked on the header, before decoding.
MAX_PIXELS = 8192 * 8192
MAX_SIDE = 16384
# Animations are decoded frame by frame and kept as RGBA at their output size: bound both.
MAX_FRAMES = 1000
MAX_ANIMATION_PIXELS = 64 * 1000 * 1000

ATTACHMENT_MAX_SIDE = 1920
PREVIEW_MAX_SIDE = 640
AVATAR_SIDE = 400
HEADER_SIZE = (1500, 500)
BLURHASH_COMPONENTS = (4, 4)  # Mastodon's choice: clients expect hashes of this size
DESCRIPTION_MAX = 1500

Image.init()
# The only decoders Pillow may use on uploads (AVIF when this Pillow build has it; output is JPEG/PNG).
IMAGE_FORMATS = [f for f in ("JPEG", "PNG", "WEBP", "GIF", "AVIF") if f in Image.OPEN]
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
AVIF_BRANDS = {b"avif", b"avis"}
XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
SUPPORTED_TEXT = ("JPEG, PNG, WebP, GIF or AVIF images, MP4, MOV or WebM videos, "
                  "and MP3, OGG, WAV, FLAC, AAC or M4A audio")

# The /media mount guesses Content-Type from the extension; some systems lack /etc/mime.types.
EXTENSION_TYPES = {
    ".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp", ".gif": "image/gif",
    ".mp4": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm", ".ogv": "video/ogg",
    ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".wav": "audio/wav", ".flac": "audio/flac", ".m4a": "audio/mp4",
    ".aac": "audio/aac",
}
for _extension, _type in EXTENSION_TYPES.items():
    mimetypes.add_type(_type, _extension)


class MediaError(ValueError):
    """The upload cannot be accepted; the message says why in words a person can act on."""

    def __init__(self, message: str, field: str = "file") -> None:
        super().__init__(message)
        self.field = field


class MediaNotFound(LookupError):
    """No such media, or not the caller's (the API answers 404 either way)."""


class MediaInUse(Exception):
    """The media belongs to a posted or scheduled status and cannot be deleted on its own."""


# --------------------------------------------------------------------------- storage


class MediaStorage(ABC):
    """Where media files live. Names are relative paths like `attachments/ab/cd/<hex>.jpg`."""

    @abstractmethod
    async def save(self, name: str, data: bytes, content_type: str) -> None:
        """Store `data` under `name`, atomically: readers never see half a file."""

    @abstractmethod
    async def delete(self, name: str) -> None:
        """Remove `name`; a missing file is not an error (clean-ups may run twice)."""

    @abstractmethod
    def url(self, name: str) -> str:
        """The public URL clients and other servers fetch the file from."""

    def name_for_url(self, url: str | None) -> str | None:
        """The stored name behind one of our URLs (to delete a replaced avatar), None for others."""
        prefix = self.url("")
        if url and url.startswith(prefix) and len(url) > len(prefix):
            return url[len(prefix):]
        return None


class LocalMediaStorage(MediaStorage):
    """Files under `<data_dir>/media`, served by the app's /media mount (or a reverse proxy)."""

    def __init__(self, root: Path, base_url: str) -> None:
        self.root = root
        self.base_url = base_url.rstrip("/")

    def path(self, name: str) -> Path:
        parts = Path(name).parts
        if not parts or Path(name).is_absolute() or any(p in ("..", ".", "") for p in parts):
            raise ValueError(f"invalid media name {name!r}")
        return self.root.joinpath(*parts)

    async def save(self, name: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self.path(name), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    async def delete(self, name: str) -> None:
        await asyncio.to_thread(self.path(name).unlink, missing_ok=True)

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"


def media_base_url(settings: Settings) -> str:
    return (settings.media_url or f"{settings.base_url}/media").rstrip("/")


def media_storage(settings: Settings) -> MediaStorage:
    """The storage configured for this instance (only the local directory for now)."""
    return LocalMediaStorage(settings.data_dir / "media", media_base_url(settings))


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class StoredMedia:
    """A stored upload, with everything an Attachment row or a profile needs."""

    kind: str  # image | video | gifv | audio
    media_type: str
    file_name: str
    url: str
    preview_file_name: str | None
    preview_url: str | None  # for images never None (the file itself when there is no separate preview)
    width: int | None
    height: int | None
    blurhash: str | None
    meta: dict[str, Any]
    size: int

    @property
    def file_names(self) -> list[str]:
        return [n for n in (self.file_name, self.preview_file_name) if n]


@dataclass(frozen=True)
class StoredPreview:
    """A custom thumbnail (the `thumbnail` field of the media API)."""

    file_name: str
    url: str
    width: int
    height: int
    blurhash: str
    meta: dict[str, Any]


@dataclass(frozen=True)
class Detected:
    kind: str  # image | video | audio
    media_type: str
    extension: str


@dataclass
class _Encoded:
    data: bytes
    media_type: str
    extension: str


@dataclass
class _Processed:
    kind: str
    main: _Encoded
    preview: _Encoded | None = None
    width: int | None = None
    height: int | None = None
    blurhash: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- detection


def detect(data: bytes) -> Detected:
    """What the bytes are, whatever the upload claimed; MediaError for anything we do not accept."""
    if not data:
        raise MediaError("The file is empty")
    if data[4:8] == b"ftyp":
        major, brands = _iso_brands(data)
        if major in HEIF_BRANDS or (major in (b"mif1", b"msf1") and brands & HEIF_BRANDS and not brands & AVIF_BRANDS):
            raise MediaError("HEIC/HEIF images are not supported by this server: "
                             "export the photo as JPEG (most phones have a “most compatible” setting)")
    image_format = _pillow_format(data)
    if image_format is not None:
        return Detected("image", Image.MIME.get(image_format, "image/jpeg"), image_format.lower())
    if data[4:8] == b"ftyp":
        return _detect_iso(data)
    head = data[:4096]
    if data[:4] == b"\x1a\x45\xdf\xa3":
        if b"webm" in head[:64]:
            return Detected("video", "video/webm", "webm")
        raise MediaError("Matroska (MKV) files are not supported: export the video as MP4 or WebM")
    if data[:4] == b"OggS":
        if b"\x80theora" in head:
            return Detected("video", "video/ogg", "ogv")
        if b"OpusHead" in head or b"\x01vorbis" in head or b"\x7fFLAC" in head:
            return Detected("audio", "audio/ogg", "ogg")
        raise MediaError("This OGG file contains no audio stream we know (Vorbis, Opus or FLAC)")
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return Detected("audio", "audio/wav", "wav")
    if data[:4] == b"fLaC":
        return Detected("audio", "audio/flac", "flac")
    if _mp3_frame_start(data) is not None:
        return Detected("audio", "audio/mpeg", "mp3")
    if len(data) > 7 and data[0] == 0xFF and data[1] & 0xF6 == 0xF0 and (data[2] >> 2) & 0x0F < 13:
        return Detected("audio", "audio/aac", "aac")  # raw AAC (ADTS), as voice recorders write it
    raise MediaError(f"File type not supported or not recognised: upload {SUPPORTED_TEXT}")


def _open_image(data: bytes) -> Image.Image:
    try:
        return Image.open(BytesIO(data), formats=IMAGE_FORMATS)
    except Image.DecompressionBombError as exc:
        raise MediaError(f"Image too large: more than {MAX_PIXELS:,} pixels") from exc


def _pillow_format(data: bytes) -> str | None:
    """Pillow's own identification (header only, nothing decoded); None when it is no image of ours."""
    try:
        with _open_image(data) as im:
            return "JPEG" if im.format == "MPO" else im.format
    except MediaError:
        raise
    except Exception:  # untrusted bytes: whatever a parser raises means "not an image we can read"
        return None


def _mp3_frame_start(data: bytes) -> int | None:
    """Offset of the first MPEG audio frame after any ID3v2 tags (and zero padding), or None."""
    start = _id3_end(data)
    limit = min(len(data) - 4, start + 4096)
    while start < limit and data[start] == 0:
        start += 1
    if start + 4 > len(data):
        return None
    b1, b2 = data[start + 1], data[start + 2]
    sync = data[start] == 0xFF and b1 & 0xE0 == 0xE0
    if sync and b1 & 0x06 and (b1 >> 3) & 0x03 != 1 and b2 >> 4 not in (0, 0xF) and (b2 >> 2) & 0x03 != 3:
        return start
    return None


def _id3_end(data: bytes) -> int:
    start = 0
    while data[start:start + 3] == b"ID3" and len(data) >= start + 10:
        size = 0
        for byte in data[start + 6:start + 10]:
            size = (size << 7) | (byte & 0x7F)
        start += 10 + size + (10 if data[start + 5] & 0x10 else 0)
    return min(start, len(data))


# --------------------------------------------------------------------------- ISO base media (MP4, MOV, M4A)


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, box start, payload start, box end) of each box between start and end."""
    pos = start
    while pos + 8 <= end:
        size = int.from_bytes(data[pos:pos + 4], "big")
        kind = bytes(data[pos + 4:pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            size = int.from_bytes(data[pos + 8:pos + 16], "big")
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos, pos + header, pos + size
        pos += size


def _iso_brands(data: bytes) -> tuple[bytes, set[bytes]]:
    for kind, _start, payload, end in _boxes(data, 0, min(len(data), 4096)):
        if kind == b"ftyp":
            brands = {bytes(data[i:i + 4]) for i in range(payload + 8, end - 3, 4)}
            return bytes(data[payload:payload + 4]), brands | {bytes(data[payload:payload + 4])}
        break
    return b"", set()


@dataclass
class _IsoInfo:
    has_video: bool = False
    has_audio: bool = False
    width: int | None = None
    height: int | None = None
    duration: float | None = None


def _iso_info(data: bytes) -> _IsoInfo:
    info = _IsoInfo()
    for kind, _start, payload, end in _boxes(data, 0, len(data)):
        if kind != b"moov":
            continue
        for child, _s, p, e in _boxes(data, payload, end):
            if child == b"mvhd" and e - p >= 32:
                version = data[p]
                if version == 1:
                    timescale = int.from_bytes(data[p + 20:p + 24], "big")
                    duration = int.from_bytes(data[p + 24:p + 32], "big")
                else:
                    timescale = int.from_bytes(data[p + 12:p + 16], "big")
                    duration = int.from_bytes(data[p + 16:p + 20], "big")
                if timescale:
                    info.duration = round(duration / timescale, 3)
            elif child == b"trak":
                _read_track(data, p, e, info)
        break
    return info


def _read_track(data: bytes, start: int, end: int, info: _IsoInfo) -> None:
    handler = b""
    size: tuple[int, int] | None = None
    for kind, _s, p, e in _boxes(data, start, end):
        if kind == b"tkhd" and e - p >= 84:
            matrix = p + (52 if data[p] == 1 else 40)
            width = int.from_bytes(data[e - 8:e - 4], "big") >> 16
            height = int.from_bytes(data[e - 4:e], "big") >> 16
            a = int.from_bytes(data[matrix:matrix + 4], "big", signed=True)
            d = int.from_bytes(data[matrix + 16:matrix + 20], "big", signed=True)
            rotated = a == 0 and d == 0  # a 90° rotation: phones film portrait this way
            size = (height, width) if rotated else (width, height)
        elif kind == b"mdia":
            for sub, _s2, p2, e2 in _boxes(data, p, e):
                if sub == b"hdlr" and e2 - p2 >= 12:
                    handler = bytes(data[p2 + 8:p2 + 12])
    if handler == b"vide" and size and size[0] and size[1]:
        info.has_video = True
        if info.width is None:
            info.width, info.height = size
    elif handler == b"soun":
        info.has_audio = True


def _detect_iso(data: bytes) -> Detected:
    major, brands = _iso_brands(data)
    if brands & AVIF_BRANDS:
        raise MediaError("This AVIF image could not be read")
    info = _iso_info(data)
    if info.has_video:
        if major == b"qt  ":
            return Detected("video", "video/quicktime", "mov")
        return Detected("video", "video/mp4", "mp4")
    if info.has_audio:
        return Detected("audio", "audio/mp4", "m4a")
    raise MediaError("This MP4/MOV file has no readable audio or video track (is it complete?)")


def _blank_iso_metadata(data: bytes) -> bytes:
    """Turn user-data boxes (udta, meta, XMP uuid) into zero-filled `free` boxes of the same size:
    offsets in the file stay valid, players skip `free`, and the GPS position is gone."""
    spans: list[tuple[int, int, int]] = []

    def visit(start: int, end: int, depth: int) -> None:
        for kind, box, payload, box_end in _boxes(data, start, end):
            if kind in (b"udta", b"meta") or (kind == b"uuid" and data[payload:payload + 16] == XMP_UUID):
                spans.append((box, payload, box_end))
            elif kind in (b"moov", b"trak") and depth < 2:
                visit(payload, box_end, depth + 1)

    visit(0, len(data), 0)
    if not spans:
        return data
    out = bytearray(data)
    for box, payload, box_end in spans:
        out[box + 4:box + 8] = b"free"
        out[payload:box_end] = bytes(box_end - payload)
    return bytes(out)


def _strip_id3(data: bytes) -> bytes:
    start = _mp3_frame_start(data) or 0
    end = len(data)
    if end - start >= 128 and data[end - 128:end - 125] == b"TAG":
        end -= 128
    return data[start:end]


# --------------------------------------------------------------------------- images


def _check_canvas(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise MediaError("The image has no pixels")
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise MediaError(f"Image too large: {width}x{height} pixels (at most {MAX_PIXELS:,} pixels, "
                         f"{MAX_SIDE} on a side)")


Box = tuple[int, int, int, int]


def _geometry(width: int, height: int, purpose: Purpose | Literal["thumbnail"]) -> tuple[Box, tuple[int, int]]:
    """The source area to keep and the output size: fit for attachments, centred crops for
    profiles. Never upscales (it would only add bytes)."""
    if purpose in ("attachment", "thumbnail"):
        limit = ATTACHMENT_MAX_SIDE if purpose == "attachment" else PREVIEW_MAX_SIDE
        scale = min(1.0, limit / max(width, height))
        return (0, 0, width, height), (max(1, round(width * scale)), max(1, round(height * scale)))
    if purpose == "avatar":
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        out = min(side, AVATAR_SIDE)
        return (left, top, left + side, top + side), (out, out)
    ratio = HEADER_SIZE[0] / HEADER_SIZE[1]
    if width >= height * ratio:
        crop_w, crop_h = min(width, round(height * ratio)), height
    else:
        crop_w, crop_h = width, max(1, round(width / ratio))
    left, top = (width - crop_w) // 2, (height - crop_h) // 2
    out_w = min(crop_w, HEADER_SIZE[0])
    out_h = max(1, round(out_w * crop_h / crop_w))
    return (left, top, left + crop_w, top + crop_h), (out_w, out_h)


def _apply_geometry(image: Image.Image, box: Box, size: tuple[int, int]) -> Image.Image:
    if box == (0, 0, *image.size) and size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert from an embedded colour profile (Display P3 on phones) before the profile is dropped."""
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(BytesIO(icc))
        output_mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode=output_mode)
        return converted if converted is not None else image
    except Exception:  # a broken or exotic profile: keep the pixels as they are
        return image


def _normalize_mode(image: Image.Image) -> Image.Image:
    """L, LA, RGB or RGBA: the modes every encoder and the resampler handle well."""
    if image.mode in ("L", "LA", "RGB", "RGBA"):
        result = image
    elif image.mode in ("P", "PA"):
        result = image.convert("RGBA" if image.mode == "PA" or "transparency" in image.info else "RGB")
    elif image.mode == "1":
        result = image.convert("L")
    else:
        result = image.convert("RGB")
    if result.mode in ("RGBA", "LA") and result.getchannel("A").getextrema()[0] == 255:
        result = result.convert(result.mode[:-1])  # an alpha channel that hides nothing
    return result


def _encode(image: Image.Image, image_format: str, *, quality: int = 90) -> _Encoded:
    image.info = {}  # nothing from the source (EXIF, XMP, ICC, comments) can reach the encoder
    buffer = BytesIO()
    if image_format == "JPEG":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
        return _Encoded(buffer.getvalue(), "image/jpeg", "jpg")
    if image_format == "WEBP":
        image.save(buffer, "WEBP", quality=quality, method=4)
        return _Encoded(buffer.getvalue(), "image/webp", "webp")
    image.save(buffer, "PNG")
    return _Encoded(buffer.getvalue(), "image/png", "png")


def _still_format(source_format: str, image: Image.Image) -> str:
    """Keep the uploader's format where clients display it; still GIF and AVIF become PNG/JPEG."""
    if source_format in ("JPEG", "WEBP", "PNG"):
        return source_format
    return "PNG" if image.mode in ("RGBA", "LA") else "JPEG"


def _preview_of(image: Image.Image) -> _Encoded:
    preview = image.copy()
    preview.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return _encode(preview, "PNG" if preview.mode in ("RGBA", "LA") else "JPEG", quality=80)


def _blurhash_of(image: Image.Image) -> str:
    small = image.copy()
    small.thumbnail((64, 64), Image.Resampling.BILINEAR, reducing_gap=2.0)
    if small.mode in ("RGBA", "LA"):
        flat = Image.new("RGB", small.size, (255, 255, 255))
        flat.paste(small.convert("RGBA"), mask=small.getchannel("A"))
        small = flat
    return blurhash_encode(small.convert("RGB"), *BLURHASH_COMPONENTS)


BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
_TO_LINEAR = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in range(256)]


def _base83(value: int, length: int) -> str:
    return "".join(BASE83[(value // 83 ** (length - i - 1)) % 83] for i in range(length))


def _to_srgb_byte(value: float) -> int:
    v = min(1.0, max(0.0, value))
    return int(v * 12.92 * 255 + 0.5) if v <= 0.0031308 else int((1.055 * v ** (1 / 2.4) - 0.055) * 255 + 0.5)


def blurhash_encode(image: Image.Image, x_components: int, y_components: int) -> str:
    """The BlurHash of an RGB image (keep it small: ~64x64). Separable sums keep pure Python at a few ms."""
    width, height = image.size
    pixels = image.tobytes()
    cos_x = [[math.cos(math.pi * i * x / width) for x in range(width)] for i in range(x_components)]
    cos_y = [[math.cos(math.pi * j * y / height) for y in range(height)] for j in range(y_components)]
    # rows[i][y] = per-channel sums over x of cos_x[i][x] * linear(pixel), then over y for each j.
    rows = [[[0.0, 0.0, 0.0] for _ in range(height)] for _ in range(x_components)]
    for y in range(height):
        offset = y * width * 3
        line = [_TO_LINEAR[b] for b in pixels[offset:offset + width * 3]]
        reds, greens, blues = line[0::3], line[1::3], line[2::3]
        for i in range(x_components):
            weights = cos_x[i]
            rows[i][y] = [sum(w * c for w, c in zip(weights, channel, strict=True))
                          for channel in (reds, greens, blues)]
    factors: list[tuple[float, float, float]] = []
    for j in range(y_components):
        for i in range(x_components):
            scale = (1 if i == 0 and j == 0 else 2) / (width * height)
            sums = [sum(cos_y[j][y] * rows[i][y][k] for y in range(height)) * scale for k in range(3)]
            factors.append((sums[0], sums[1], sums[2]))
    dc, ac = factors[0], factors[1:]
    result = _base83((x_components - 1) + (y_components - 1) * 9, 1)
    if ac:
        actual_max = max(abs(v) for factor in ac for v in factor)
        quantised_max = int(max(0, min(82, math.floor(actual_max * 166 - 0.5))))
        maximum = (quantised_max + 1) / 166
        result += _base83(quantised_max, 1)
    else:
        maximum = 1.0
        result += _base83(0, 1)
    result += _base83((_to_srgb_byte(dc[0]) << 16) + (_to_srgb_byte(dc[1]) << 8) + _to_srgb_byte(dc[2]), 4)
    for factor in ac:
        quant = [int(max(0, min(18, math.floor(math.copysign(abs(v / maximum) ** 0.5, v) * 9 + 9.5))))
                 for v in factor]
        result += _base83(quant[0] * 19 * 19 + quant[1] * 19 + quant[2], 2)
    return result


def _size_meta(width: int, height: int) -> dict[str, Any]:
    return {"width": width, "height": height, "size": f"{width}x{height}", "aspect": width / height}


def _decode_still(im: Image.Image, purpose: Purpose | Literal["thumbnail"]) -> Image.Image:
    """The first frame, upright, in sRGB, cropped and scaled for its purpose, without metadata."""
    if im.format in ("JPEG", "MPO"):
        side = max(_geometry(*im.size, purpose)[1])
        im.draft(None, (side, side))  # let libjpeg decode at 1/2..1/8 scale when that is enough
    try:
        im.load()
    except Exception as exc:
        raise MediaError("The image could not be decoded (truncated or corrupt file)") from exc
    icc = im.info.get("icc_profile")
    try:
        upright = ImageOps.exif_transpose(im)
    except Exception:  # malformed EXIF: the orientation is unknown, keep the pixels as stored
        upright = im.copy()
    image = _normalize_mode(_to_srgb(upright, icc))
    box, size = _geometry(*image.size, purpose)
    image = _apply_geometry(image, box, size)
    image.info = {}
    return image


def _render_animation(im: Image.Image, image_format: str, purpose: Purpose) -> tuple[_Encoded, Image.Image]:
    """Every frame cropped/scaled and re-encoded (GIF stays GIF, WebP stays WebP)."""
    box, size = _geometry(*im.size, purpose)
    count = getattr(im, "n_frames", 1)
    if count > MAX_FRAMES or count * size[0] * size[1] > MAX_ANIMATION_PIXELS:
        raise MediaError(f"Animation too long or too large ({count} frames of {size[0]}x{size[1]}): "
                         "upload it as an MP4 video instead")
    frames: list[Image.Image] = []
    durations: list[int] = []
    loop = im.info.get("loop", 0)
    try:
        for frame in ImageSequence.Iterator(im):
            durations.append(int(frame.info.get("duration", 100) or 0))
            rgba = _apply_geometry(frame.convert("RGBA"), box, size)
            rgba.info = {}
            frames.append(rgba)
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError("The animation could not be decoded (truncated or corrupt file)") from exc
    buffer = BytesIO()
    options: dict[str, Any] = {"disposal": 2} if image_format == "GIF" else {"quality": 90, "method": 4}
    frames[0].save(buffer, image_format, save_all=True, append_images=frames[1:], duration=durations, loop=loop,
                   **options)
    media_type = "image/gif" if image_format == "GIF" else "image/webp"
    return _Encoded(buffer.getvalue(), media_type, image_format.lower()), frames[0]


def _process_image(data: bytes, purpose: Purpose) -> _Processed:
    with _open_image(data) as im:
        source_format = "JPEG" if im.format == "MPO" else str(im.format)
        _check_canvas(*im.size)
        animated = source_format in ("GIF", "WEBP") and bool(getattr(im, "is_animated", False))
        if animated:
            main, first_frame = _render_animation(im, source_format, purpose)
            still = _normalize_mode(first_frame)
        else:
            still = _decode_still(im, purpose)
            main = _encode(still, _still_format(source_format, still))
    width, height = still.size
    meta: dict[str, Any] = {"original": _size_meta(width, height)}
    # Attachments always get a small version; profiles only a static one when animated
    # (Mastodon's avatar_static / header_static).
    preview = _preview_of(still) if purpose == "attachment" or animated else None
    if preview is not None:
        with Image.open(BytesIO(preview.data)) as small:
            meta["small"] = _size_meta(*small.size)
    return _Processed("image", main, preview, width, height, _blurhash_of(still), meta)


def _process_thumbnail(data: bytes) -> tuple[_Encoded, int, int, str]:
    try:
        detected = detect(data)
    except MediaError as exc:
        raise MediaError(f"Thumbnail: {exc}", field="thumbnail") from exc
    if detected.kind != "image":
        raise MediaError("The thumbnail must be an image (JPEG, PNG, WebP or GIF)", field="thumbnail")
    if len(data) > SIZE_LIMITS["image"]:
        raise MediaError("The thumbnail is larger than 16 MB", field="thumbnail")
    try:
        with _open_image(data) as im:
            _check_canvas(*im.size)
            still = _decode_still(im, "thumbnail")
    except MediaError as exc:
        raise MediaError(f"Thumbnail: {exc}", field="thumbnail") from exc
    encoded = _encode(still, "PNG" if still.mode in ("RGBA", "LA") else "JPEG", quality=85)
    return encoded, still.size[0], still.size[1], _blurhash_of(still)


def _process_av(data: bytes, detected: Detected) -> _Processed:
    body = data
    original: dict[str, Any] = {}
    width = height = None
    if detected.extension in ("mp4", "mov", "m4a"):
        info = _iso_info(data)
        body = _blank_iso_metadata(data)
        if info.width and info.height and detected.kind == "video":
            width, height = info.width, info.height
            original.update(_size_meta(width, height))
        if info.duration:
            original["duration"] = info.duration
            original["bitrate"] = int(len(data) * 8 / info.duration)
    elif detected.extension == "mp3":
        body = _strip_id3(data)
    meta: dict[str, Any] = {"original": original} if original else {}
    main = _Encoded(body, detected.media_type, detected.extension)
    return _Processed(detected.kind, main, None, width, height, None, meta)


def _process(data: bytes, purpose: Purpose, thumbnail: bytes | None) -> _Processed:
    """All the CPU work of one upload (runs in the media thread pool)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise MediaError(f"File too large: {_mb(len(data))} (at most {_mb(MAX_UPLOAD_BYTES)})")
    detected = detect(data)
    limit = SIZE_LIMITS[detected.kind]
    if len(data) > limit:
        raise MediaError(f"File too large: {_mb(len(data))} ({detected.kind} files up to {_mb(limit)})")
    if purpose != "attachment" and detected.kind != "image":
        raise MediaError(f"The {purpose} must be an image (JPEG, PNG, WebP or GIF)")
    processed = _process_image(data, purpose) if detected.kind == "image" else _process_av(data, detected)
    if thumbnail:
        encoded, width, height, hash_ = _process_thumbnail(thumbnail)
        processed.preview = encoded
        processed.meta["small"] = _size_meta(width, height)
        processed.blurhash = processed.blurhash or hash_
    return processed


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB" if size % MB else f"{size // MB} MB"


# --------------------------------------------------------------------------- running and storing

_executor: ThreadPoolExecutor | None = None
T = TypeVar("T")


async def _in_media_thread(function: Callable[..., T], *args: Any) -> T:
    """Pillow work off the event loop, at most two at once (decoded images are big)."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="media")
    return await asyncio.get_running_loop().run_in_executor(_executor, function, *args)


def _new_names(purpose: str, extension: str, preview_extension: str | None) -> tuple[str, str | None]:
    token = secrets.token_hex(16)
    folder = f"{purpose}s/{token[:2]}/{token[2:4]}"
    preview = f"{folder}/{token}-small.{preview_extension}" if preview_extension else None
    return f"{folder}/{token}.{extension}", preview


async def store_upload(runtime: Runtime, data: bytes, *, filename: str | None = None, declared_type: str | None = None,
                       purpose: Purpose = "attachment", thumbnail: bytes | None = None) -> StoredMedia:
    """Detect, clean, resize and store an upload; MediaError (a ValueError) says what is wrong.

    `filename` and `declared_type` are what the client claimed: only used to word errors.
    `thumbnail` is an optional custom preview image (Mastodon's `thumbnail` field)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown media purpose {purpose!r}")
    try:
        processed = await _in_media_thread(_process, data, purpose, thumbnail)
    except MediaError as exc:
        claimed = declared_type or (mimetypes.guess_type(filename)[0] if filename else None)
        if claimed and exc.field == "file" and str(exc).startswith("File type not supported"):
            raise MediaError(f"{exc} (the file was sent as {claimed}, but its content is not that)") from exc
        raise
    storage = media_storage(runtime.settings)
    main = processed.main
    preview = processed.preview
    name, preview_name = _new_names(purpose, main.extension, preview.extension if preview else None)
    await storage.save(name, main.data, main.media_type)
    if preview is not None and preview_name is not None:
        try:
            await storage.save(preview_name, preview.data, preview.media_type)
        except BaseException:
            await storage.delete(name)
            raise
    url = storage.url(name)
    preview_url = storage.url(preview_name) if preview_name else (url if processed.kind == "image" else None)
    return StoredMedia(kind=processed.kind, media_type=main.media_type, file_name=name, url=url,
                       preview_file_name=preview_name, preview_url=preview_url, width=processed.width,
                       height=processed.height, blurhash=processed.blurhash, meta=processed.meta,
                       size=len(main.data))


async def store_preview(runtime: Runtime, data: bytes) -> StoredPreview:
    """A custom thumbnail on its own (PUT /api/v1/media/:id with `thumbnail`)."""
    encoded, width, height, hash_ = await _in_media_thread(_process_thumbnail, data)
    storage = media_storage(runtime.settings)
    name, _ = _new_names("attachment", encoded.extension, None)
    name = name.replace(f".{encoded.extension}", f"-small.{encoded.extension}")
    await storage.save(name, encoded.data, encoded.media_type)
    return StoredPreview(name, storage.url(name), width, height, hash_, _size_meta(width, height))


async def discard(runtime: Runtime, *names: str | None) -> None:
    """Delete stored files (errors are logged: a leftover file is better than a failed request)."""
    storage = media_storage(runtime.settings)
    for name in names:
        if not name:
            continue
        try:
            await storage.delete(name)
        except (OSError, ValueError):
            log.warning("could not delete media file %s", name, exc_info=True)


# --------------------------------------------------------------------------- attachments (media API domain)


def parse_focus(value: str | None) -> tuple[float, float] | None:
    """Mastodon's focal point "x,y", each in [-1, 1]; None when absent or empty."""
    if value is None or not str(value).strip():
        return None
    parts = str(value).split(",")
    try:
        x, y = (float(p) for p in parts) if len(parts) == 2 else (math.nan, math.nan)
    except ValueError:
        x = y = math.nan
    if not all(math.isfinite(v) and -1.0 <= v <= 1.0 for v in (x, y)):
        raise MediaError("Focus must be two numbers between -1.0 and 1.0, like \"0.5,-0.25\"", field="focus")
    return x, y


def check_description(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > DESCRIPTION_MAX:
        raise MediaError(f"Description is too long (maximum is {DESCRIPTION_MAX} characters)", field="description")
    return value or None


async def create_attachment(runtime: Runtime, actor_id: int, data: bytes, *, filename: str | None = None,
                            declared_type: str | None = None, thumbnail: bytes | None = None,
                            description: str | None = None, focus: str | None = None) -> Attachment:
    """An unattached upload owned by `actor_id`, ready to be posted with a status."""
    description = check_description(description)
    point = parse_focus(focus)
    stored = await store_upload(runtime, data, filename=filename, declared_type=declared_type, thumbnail=thumbnail)
    row = Attachment(actor_id=actor_id, kind=stored.kind, media_type=stored.media_type, url=stored.url,
                     file_name=stored.file_name, preview_url=stored.preview_url if stored.preview_file_name else None,
                     preview_file_name=stored.preview_file_name, width=stored.width, height=stored.height,
                     blurhash=stored.blurhash, description=description, meta_json=json.dumps(stored.meta),
                     focus_x=point[0] if point else None, focus_y=point[1] if point else None)
    try:
        async with runtime.transaction() as session:
            session.add(row)
    except BaseException:
        await discard(runtime, *stored.file_names)
        raise
    return row


async def find_unattached(runtime: Runtime, actor_id: int, media_id: int) -> Attachment:
    """The caller's media not yet posted (Mastodon only shows and edits those here)."""
    async with runtime.sessions() as session:
        row = await session.get(Attachment, media_id)
    if row is None or row.actor_id != actor_id or row.status_id is not None:
        raise MediaNotFound(media_id)
    return row


async def update_attachment(runtime: Runtime, actor_id: int, media_id: int, *, description: str | None = None,
                            focus: str | None = None, thumbnail: bytes | None = None,
                            description_given: bool = False) -> Attachment:
    """Change description (when `description_given`), focus and/or custom thumbnail of an unposted upload."""
    await find_unattached(runtime, actor_id, media_id)
    text = check_description(description) if description_given else None
    point = parse_focus(focus)
    preview = await store_preview(runtime, thumbnail) if thumbnail else None
    old_preview: str | None = None
    try:
        async with runtime.transaction() as session:
            row = await session.get(Attachment, media_id, with_for_update=True)
            if row is None or row.actor_id != actor_id or row.status_id is not None:
                raise MediaNotFound(media_id)
            if description_given:
                row.description = text
            if point is not None:
                row.focus_x, row.focus_y = point
            if preview is not None:
                old_preview = row.preview_file_name
                meta = json.loads(row.meta_json) if row.meta_json else {}
                meta["small"] = preview.meta
                row.preview_file_name, row.preview_url, row.meta_json = preview.file_name, preview.url, json.dumps(meta)
                row.blurhash = row.blurhash if row.kind == "image" else preview.blurhash
    except BaseException:
        if preview is not None:
            await discard(runtime, preview.file_name)
        raise
    if old_preview:
        await discard(runtime, old_preview)
    return row


async def _referenced_media_ids(session: Any, actor_ids: set[int]) -> set[int]:
    """Unattached media that are not orphans: waiting in a scheduled status, or shown by the edit
    history of a status (an edit that removes a picture detaches it)."""
    if not actor_ids:
        return set()
    ids: set[int] = set()
    lists = list(await session.scalars(select(ScheduledStatus.media_ids_json)
                                       .where(ScheduledStatus.actor_id.in_(actor_ids))))
    lists += await session.scalars(select(StatusEdit.media_ids_json).join(Status, Status.id == StatusEdit.status_id)
                                   .where(Status.actor_id.in_(actor_ids), StatusEdit.media_ids_json != "[]"))
    for raw in lists:
        try:
            ids.update(int(i) for i in json.loads(raw or "[]"))
        except (TypeError, ValueError):
            continue
    return ids


async def delete_attachment(runtime: Runtime, actor_id: int, media_id: int) -> None:
    """Delete an unposted upload and its files (DELETE /api/v1/media/:id)."""
    async with runtime.transaction() as session:
        row = await session.get(Attachment, media_id, with_for_update=True)
        if row is None or row.actor_id != actor_id:
            raise MediaNotFound(media_id)
        if row.status_id is not None or media_id in await _referenced_media_ids(session, {actor_id}):
            raise MediaInUse(media_id)
        names = (row.file_name, row.preview_file_name)
        await session.delete(row)
    await discard(runtime, *names)


async def delete_orphan_media(runtime: Runtime, older_than: timedelta = timedelta(hours=24),
                              batch: int = 500) -> int:
    """Delete uploads never posted (nor scheduled, nor in an edit history) after `older_than`;
    returns how many went.

    Clients upload first and post later; abandoned drafts would otherwise keep files forever."""
    cutoff = utcnow() - older_than
    removed = 0
    after = 0
    while True:
        async with runtime.transaction() as session:
            rows = list(await session.execute(
                select(Attachment.id, Attachment.actor_id).where(
                    Attachment.status_id.is_(None), Attachment.remote_url.is_(None),
                    Attachment.created_at < cutoff, Attachment.id > after)
                .order_by(Attachment.id).limit(batch)))
            if not rows:
                return removed
            after = rows[-1].id
            keep = await _referenced_media_ids(session, {r.actor_id for r in rows})
            doomed = [r.id for r in rows if r.id not in keep]
            gone: list[Any] = []
            if doomed:
                # RETURNING: a row attached to a status meanwhile is neither deleted nor has its files removed.
                gone = list(await session.execute(
                    delete(Attachment).where(Attachment.id.in_(doomed), Attachment.status_id.is_(None))
                    .returning(Attachment.file_name, Attachment.preview_file_name)))
        for file_name, preview_file_name in gone:
            await discard(runtime, file_name, preview_file_name)
        removed += len(gone)
        if len(rows) < batch:
            return removed


async def run_orphan_media_cleanup(runtime: Runtime, stopping: asyncio.Event, every: float = 3600.0) -> None:
    """Worker loop: `delete_orphan_media` once an hour until `stopping` is set."""
    while not stopping.is_set():
        try:
            count = await delete_orphan_media(runtime)
            if count:
                log.info("deleted %d unposted media uploads older than 24 h", count)
        except Exception:
            log.exception("orphan media clean-up failed")
        try:
            await asyncio.wait_for(stopping.wait(), timeout=every)
        except TimeoutError:
            pass
