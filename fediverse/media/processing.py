"""All the CPU work of one upload, run in the media thread pool: size limits, detection, then the
image or audio/video treatment, and the optional custom thumbnail."""

from __future__ import annotations

from typing import Any

from fediverse.media.blurhash import blurhash_of
from fediverse.media.containers import blank_iso_metadata, iso_info, strip_id3
from fediverse.media.detection import detect
from fediverse.media.documents import is_pdf, process_document
from fediverse.media.errors import MediaError
from fediverse.media.images import Purpose, check_canvas, decode_still, encode, open_image, process_image
from fediverse.media.results import Detected, Encoded, Processed, size_meta

MB = 1024 * 1024
SIZE_LIMITS = {"image": 16 * MB, "video": 99 * MB, "audio": 40 * MB}
MAX_UPLOAD_BYTES = max(SIZE_LIMITS.values())


def process_thumbnail(data: bytes) -> tuple[Encoded, int, int, str]:
    try:
        detected = detect(data)
    except MediaError as exc:
        raise MediaError(f"Thumbnail: {exc}", field="thumbnail") from exc
    if detected.kind != "image":
        raise MediaError("The thumbnail must be an image (JPEG, PNG, WebP or GIF)", field="thumbnail")
    if len(data) > SIZE_LIMITS["image"]:
        raise MediaError("The thumbnail is larger than 16 MB", field="thumbnail")
    try:
        with open_image(data) as im:
            check_canvas(*im.size)
            still = decode_still(im, "thumbnail")
    except MediaError as exc:
        raise MediaError(f"Thumbnail: {exc}", field="thumbnail") from exc
    encoded = encode(still, "PNG" if still.mode in ("RGBA", "LA") else "JPEG", quality=85)
    return encoded, still.size[0], still.size[1], blurhash_of(still)


def _process_av(data: bytes, detected: Detected) -> Processed:
    body = data
    original: dict[str, Any] = {}
    width = height = None
    if detected.extension in ("mp4", "mov", "m4a"):
        info = iso_info(data)
        body = blank_iso_metadata(data)
        if info.width and info.height and detected.kind == "video":
            width, height = info.width, info.height
            original.update(size_meta(width, height))
        if info.duration:
            original["duration"] = info.duration
            original["bitrate"] = int(len(data) * 8 / info.duration)
    elif detected.extension == "mp3":
        body = strip_id3(data)
    meta: dict[str, Any] = {"original": original} if original else {}
    main = Encoded(body, detected.media_type, detected.extension)
    return Processed(detected.kind, main, None, width, height, None, meta)


def _process_media(data: bytes, purpose: Purpose) -> Processed:
    detected = detect(data)
    limit = SIZE_LIMITS[detected.kind]
    if len(data) > limit:
        raise MediaError(f"File too large: {_mb(len(data))} ({detected.kind} files up to {_mb(limit)})")
    if purpose != "attachment" and detected.kind != "image":
        raise MediaError(f"The {purpose} must be an image (JPEG, PNG, WebP or GIF)")
    return process_image(data, purpose) if detected.kind == "image" else _process_av(data, detected)


def process_upload(data: bytes, purpose: Purpose, thumbnail: bytes | None) -> Processed:
    """All the CPU work of one upload (runs in the media thread pool)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise MediaError(f"File too large: {_mb(len(data))} (at most {_mb(MAX_UPLOAD_BYTES)})")
    if is_pdf(data):
        processed = process_document(data, purpose)
    else:
        processed = _process_media(data, purpose)
    if thumbnail:
        encoded, width, height, hash_ = process_thumbnail(thumbnail)
        processed.preview = encoded
        processed.meta["small"] = size_meta(width, height)
        processed.blurhash = processed.blurhash or hash_
    return processed


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB" if size % MB else f"{size // MB} MB"
