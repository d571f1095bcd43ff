"""Move: an account migrated; local followers follow the new account if it confirms the move."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update

from fediverse.as2 import id_of
from fediverse.models import Actor, Follow
from inbox.context import ActivityRejected, InboxContext


async def handle(ctx: InboxContext, activity: dict[str, Any]) -> None:
    origin = id_of(activity.get("object"))
    target_uri = id_of(activity.get("target"))
    if origin != ctx.sender.uri:
        raise ActivityRejected("an account can only move itself")
    if not target_uri or target_uri == origin:
        raise ActivityRejected("Move needs a different target")
    target = await ctx.resolver.get(target_uri, refresh=True)
    if origin not in json.loads(target.also_known_as or "[]"):
        raise ActivityRejected("the target account does not list the old one in alsoKnownAs")
    async with ctx.transaction() as session:
        await session.execute(update(Actor).where(Actor.id == ctx.sender.id).values(moved_to_uri=target.uri))
        followers = (await session.scalars(select(Follow.follower_id).join(Actor, Actor.id == Follow.follower_id)
                                           .where(Follow.followee_id == ctx.sender.id, Actor.domain.is_(None)))).all()
    for follower_id in followers:
        await ctx.outbox.follow(follower_id, target.id)
        await ctx.outbox.unfollow(follower_id, ctx.sender.id)
