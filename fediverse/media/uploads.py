"""Storing uploads: processing off the event loop, random unguessable names, and removal of files."""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fediverse.media.errors import MediaError
from fediverse.media.images import PURPOSES, Purpose
from fediverse.media.processing import process_thumbnail, process_upload
from fediverse.media.results import StoredMedia, StoredPreview, size_meta
from fediverse.media.storage import media_storage
from fediverse.runtime import Runtime

log = logging.getLogger(__name__)
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
        processed = await _in_media_thread(process_upload, data, purpose, thumbnail)
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
    encoded, width, height, hash_ = await _in_media_thread(process_thumbnail, data)
    storage = media_storage(runtime.settings)
    name, _ = _new_names("attachment", encoded.extension, None)
    name = name.replace(f".{encoded.extension}", f"-small.{encoded.extension}")
    await storage.save(name, encoded.data, encoded.media_type)
    return StoredPreview(name, storage.url(name), width, height, hash_, size_meta(width, height))


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
