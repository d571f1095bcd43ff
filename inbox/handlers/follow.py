"""Follow: someone wants to follow a local actor; auto-accepted unless the account locks followers.

A Follow of our instance actor (a neighbour instance) or of Public (a relay) is a neighbour request:
see `inbox.handlers._neighbours`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from actors.notify import notify
from fediverse.as2 import id_of
from fediverse.models import Actor, Block, Follow
from inbox.context import ActivityIgnored, ActivityRejected, InboxContext
from inbox.handlers._neighbours import follow_of_instance


async def handle(ctx: InboxContext, activity: dict[str, Any]) -> None:
    if await follow_of_instance(ctx, activity):
        return
    target_uri = id_of(activity.get("object"))
    if not target_uri or not ctx.runtime.uris.is_local(target_uri):
        raise ActivityRejected("Follow of an actor that is not on this server")
    async with ctx.transaction() as session:
        target = await session.scalar(select(Actor).where(Actor.uri == target_uri, Actor.domain.is_(None)))
        if target is None or target.deleted_at is not None:
            raise ActivityRejected(f"no local actor {target_uri}")
        if target.kind == "instance":
            raise ActivityIgnored("the instance actor does not take followers")
        blocked = await session.scalar(select(Block.id).where(Block.actor_id == target.id,
                                                              Block.target_id == ctx.sender.id))
        decision = "reject"
        if not blocked:
            follow = await session.scalar(select(Follow).where(Follow.follower_id == ctx.sender.id,
                                                               Follow.followee_id == target.id))
            if follow is None:
                follow = Follow(uri=ctx.activity_uri, follower_id=ctx.sender.id, followee_id=target.id)
                session.add(follow)
                await session.flush()
            else:
                follow.uri = ctx.activity_uri  # a repeated Follow: answer its new id
            if follow.state == "accepted":
                decision = "accept-again"
            elif target.manually_approves_followers:
                decision = "wait"
                await notify(session, target, "follow_request", ctx.sender.id)
            else:
                decision = "accept"
        target_id = target.id
    if decision == "accept":
        await ctx.outbox.answer_follow_request(target_id, ctx.sender.id, accept=True)
    elif decision in ("reject", "accept-again"):
        await ctx.outbox.send_follow_answer(target_id, ctx.sender.id, ctx.activity_uri, accept=decision != "reject")
