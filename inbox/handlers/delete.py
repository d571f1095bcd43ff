"""Delete: of a post (only by its author) or of the sending actor itself. Leaves a tombstone so a
late or replayed Create cannot bring the object back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from actors.notify import bump
from fediverse.as2 import id_of
from fediverse.db import insert_ignoring_conflicts, utcnow
from fediverse.events import queue_event
from fediverse.models import Actor, Follow, Status, Tombstone
from inbox.context import ActivityIgnored, ActivityRejected, InboxContext


async def handle(ctx: InboxContext, activity: dict[str, Any]) -> None:
    object_uri = id_of(activity.get("object"))
    if not object_uri:
        raise ActivityRejected("Delete without an object id")
    if object_uri == ctx.sender.uri:
        await _delete_actor(ctx)
        return
    ctx.require_same_host(object_uri, "deleted object")
    async with ctx.transaction() as session:
        status = await session.scalar(select(Status).where(Status.uri == object_uri))
        if status is not None and status.actor_id != ctx.sender.id:
            raise ActivityRejected("only the author can delete this object")
        await _keep_tombstone(session, object_uri, ctx.sender.uri, proven_author=status is not None)
        if status is not None:
            if status.in_reply_to_id:
                await bump(session, Status, status.in_reply_to_id, "replies_count", -1)
            if status.reblog_of_id:
                await bump(session, Status, status.reblog_of_id, "reblogs_count", -1)
            await bump(session, Actor, ctx.sender.id, "statuses_count", -1)
            queue_event(session, "status.deleted", id=status.id)
            await session.delete(status)
    if status is None:
        # Raised after the commit: inside the transaction it would roll the tombstone back.
        raise ActivityIgnored("deleted object was unknown here (tombstone kept)")


async def _keep_tombstone(session: AsyncSession, object_uri: str, sender_uri: str, *, proven_author: bool) -> None:
    """Remember the deletion so a late Create cannot resurrect the object.

    For an object we never saw, the sender's authorship is unproven: the tombstone names it, so
    that a neighbour on the same host cannot block someone else's post by deleting its id first.
    Two different actors deleting the same unknown id leave an anonymous tombstone that blocks all.
    """
    tombstone = await session.get(Tombstone, object_uri)
    if tombstone is None:
        await session.execute(insert_ignoring_conflicts(
            session, Tombstone.__table__, [{"uri": object_uri, "actor_uri": sender_uri, "deleted_at": utcnow()}],
            "uri"))
    elif proven_author:
        tombstone.actor_uri = sender_uri
    elif tombstone.actor_uri != sender_uri:
        tombstone.actor_uri = None


async def _delete_actor(ctx: InboxContext) -> None:
    """The account is gone: its posts, follows and key go with it; the row stays as a marker."""
    async with ctx.transaction() as session:
        actor_id = ctx.sender.id
        for follow in (await session.scalars(select(Follow).where(
                (Follow.follower_id == actor_id) | (Follow.followee_id == actor_id)))).all():
            if follow.state == "accepted":
                other = follow.followee_id if follow.follower_id == actor_id else follow.follower_id
                column = "followers_count" if follow.follower_id == actor_id else "following_count"
                await bump(session, Actor, other, column, -1)
            await session.delete(follow)
        await session.execute(delete(Status).where(Status.actor_id == actor_id))
        await session.execute(update(Actor).where(Actor.id == actor_id).values(
            deleted_at=utcnow(), public_key_pem=None, statuses_count=0, followers_count=0, following_count=0))
    if ctx.sender.public_key_id:
        ctx.runtime.key_cache.pop(ctx.sender.public_key_id, None)
