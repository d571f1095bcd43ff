"""The photos of a published status, as its author edits them: their descriptions (alt text) change
in place; which photos stay is the outbox's edit (`Outbox.edit(media_ids=...)`), whose Update then
carries the new descriptions to the servers that have the post."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.media.attachments import check_description
from fediverse.models import Attachment


async def attached_media(session: AsyncSession, status_id: int) -> list[Attachment]:
    """A status's attachments in the order they are shown."""
    return list((await session.scalars(select(Attachment).where(Attachment.status_id == status_id)
                                       .order_by(Attachment.position, Attachment.id))).all())


async def describe_attached(session: AsyncSession, actor_id: int, status_id: int,
                            descriptions: Mapping[int, str]) -> None:
    """Set the descriptions of the author's own attachments of `status_id` (others are ignored);
    a description too long raises fediverse.media.errors.MediaError before anything changes."""
    checked = {media_id: check_description(text.strip()) for media_id, text in descriptions.items()}
    if not checked:
        return
    rows = await session.scalars(select(Attachment).where(
        Attachment.id.in_(list(checked)), Attachment.status_id == status_id, Attachment.actor_id == actor_id))
    for row in rows:
        row.description = checked[row.id]
