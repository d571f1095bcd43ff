"""Reject (of a Follow we sent, or removal of an existing follower): the follow is gone."""

from __future__ import annotations

from typing import Any

from actors.notify import bump
from fediverse.as2 import type_of
from fediverse.models import Actor
from inbox.context import ActivityIgnored, InboxContext
from inbox.handlers._follows import follow_we_sent


async def handle(ctx: InboxContext, activity: dict[str, Any]) -> None:
    obj = activity.get("object")
    if isinstance(obj, dict) and type_of(obj) not in ("Follow", ""):
        raise ActivityIgnored(f"Reject of {type_of(obj)} is not handled")
    async with ctx.transaction() as session:
        follow = await follow_we_sent(ctx, session, obj)
        if follow.state == "accepted":
            await bump(session, Actor, follow.followee_id, "followers_count", -1)
            await bump(session, Actor, follow.follower_id, "following_count", -1)
        await session.delete(follow)
