"""Uploads never posted: deleted after a day by a worker loop, files included."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from fediverse.db import utcnow
from fediverse.media.attachments import referenced_media_ids
from fediverse.media.uploads import discard
from fediverse.models import Attachment
from fediverse.runtime import Runtime

log = logging.getLogger(__name__)


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
            keep = await referenced_media_ids(session, {r.actor_id for r in rows})
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
