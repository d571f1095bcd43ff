"""Block of a local actor: remembered, and the follows between the two are cut."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from actors.follows import cut_follows
from fediverse.as2 import id_of
from fediverse.models import Actor, Block
from inbox.context import ActivityIgnored, InboxContext


async def handle(ctx: InboxContext, activity: dict[str, Any]) -> None:
    target_uri = id_of(activity.get("object"))
    if not target_uri or not ctx.runtime.uris.is_local(target_uri):
        raise ActivityIgnored("Block of an actor that is not ours")
    async with ctx.transaction() as session:
        target = await session.scalar(select(Actor).where(Actor.uri == target_uri, Actor.domain.is_(None)))
        if target is None:
            raise ActivityIgnored("Block of an unknown local actor")
        if await session.scalar(select(Block.id).where(Block.uri == ctx.activity_uri)) is None:
            session.add(Block(uri=ctx.activity_uri, actor_id=ctx.sender.id, target_id=target.id))
        await cut_follows(session, ctx.sender.id, target.id)
