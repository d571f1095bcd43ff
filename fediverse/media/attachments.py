"""Attachments as the media API handles them: unposted uploads of one account, with a description
and a focal point, changed or deleted until a status uses them."""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import select

from fediverse.media.errors import MediaError, MediaInUse, MediaNotFound
from fediverse.media.uploads import discard, store_preview, store_upload
from fediverse.models import Attachment, ScheduledStatus, Status, StatusEdit
from fediverse.runtime import Runtime

DESCRIPTION_MAX = 1500


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


async def referenced_media_ids(session: Any, actor_ids: set[int]) -> set[int]:
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
        if row.status_id is not None or media_id in await referenced_media_ids(session, {actor_id}):
            raise MediaInUse(media_id)
        names = (row.file_name, row.preview_file_name)
        await session.delete(row)
    await discard(runtime, *names)
