"""Add/Remove on an actor's featured collection (pinned posts)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from fediverse.as2 import id_of
from fediverse.models import FeaturedStatus, Status
from inbox.context import ActivityIgnored, InboxContext


async def change_featured(ctx: InboxContext, activity: dict[str, Any], *, add: bool) -> None:
    target = id_of(activity.get("target"))
    if not target or target != ctx.sender.featured_url:
        raise ActivityIgnored("only changes to the sender's featured collection are handled")
    object_uri = ctx.require_same_host(id_of(activity.get("object")), "featured object")
    async with ctx.transaction() as session:
        status = await session.scalar(select(Status).where(Status.uri == object_uri))
        if status is None or status.actor_id != ctx.sender.id:
            raise ActivityIgnored("featured object is unknown here")
        exists = await session.scalar(select(FeaturedStatus.id).where(
            FeaturedStatus.actor_id == ctx.sender.id, FeaturedStatus.status_id == status.id))
        if add and exists is None:
            session.add(FeaturedStatus(actor_id=ctx.sender.id, status_id=status.id))
        elif not add and exists is not None:
            await session.execute(delete(FeaturedStatus).where(FeaturedStatus.id == exists))
