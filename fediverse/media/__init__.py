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

The package, one concept a module: `detection` (what the bytes are), `images` (decode, clean,
scale, re-encode), `containers` (MP4/MOV/M4A boxes and MP3 tags), `blurhash`, `processing` (the
CPU work of one upload), `uploads` (running it and storing files), `storage`, `attachments` (the
media API's domain) and `orphans` (clean-up of uploads never posted). Callers import from here.
"""

from __future__ import annotations

from fediverse.media.attachments import (
    DESCRIPTION_MAX,
    check_description,
    create_attachment,
    delete_attachment,
    find_unattached,
    parse_focus,
    update_attachment,
)
from fediverse.media.blurhash import blurhash_encode
from fediverse.media.detection import detect
from fediverse.media.errors import MediaError, MediaInUse, MediaNotFound
from fediverse.media.images import PURPOSES, Purpose
from fediverse.media.orphans import delete_orphan_media, run_orphan_media_cleanup
from fediverse.media.processing import MAX_UPLOAD_BYTES, SIZE_LIMITS
from fediverse.media.results import Detected, StoredMedia, StoredPreview
from fediverse.media.storage import LocalMediaStorage, MediaStorage, media_base_url, media_storage
from fediverse.media.uploads import discard, store_preview, store_upload

__all__ = [
    "DESCRIPTION_MAX", "MAX_UPLOAD_BYTES", "PURPOSES", "SIZE_LIMITS", "Detected", "LocalMediaStorage", "MediaError",
    "MediaInUse", "MediaNotFound", "MediaStorage", "Purpose", "StoredMedia", "StoredPreview", "blurhash_encode",
    "check_description", "create_attachment", "delete_attachment", "delete_orphan_media", "detect", "discard",
    "find_unattached", "media_base_url", "media_storage", "parse_focus", "run_orphan_media_cleanup", "store_preview",
    "store_upload", "update_attachment",
]
