"""Undo of Follow, Like, Announce, Block or Join: only the actor who did it can undo it (an Undo of a
neighbour's or relay's Follow of our instance actor ends that subscription; an Undo of a Join is a Leave)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from actors.follows import drop_follow
from actors.notify import bump
from fediverse.as2 import id_of, type_of
from fediverse.events import queue_event
from fediverse.models import Actor, Block, Favourite, Follow, Participation, Status
from inbox.context import ActivityIgnored, ActivityRejected, InboxContext
from inbox.handlers._neighbours import undo_of_instance_follow
from outbox.participation import ParticipationCommands


async def _undo_join(ctx: InboxContext, join_uri: str | None) -> bool:
    """`Undo(Join)` (how servers other than Mobilizon leave an event) works like Mobilizon's `Leave`."""
    if not join_uri:
        return False
    async with ctx.runtime.sessions() as session:
        event_id = await session.scalar(select(Participation.event_id).where(
            Participation.join_uri == join_uri, Participation.actor_id == ctx.sender.id))
    if event_id is None:
        return False
    await ParticipationCommands(ctx.runtime).remote_leave(ctx.sender.id, event_id)
    return True


async def handle(ctx: InboxContext, activity: dict[str, Any]) -> None:
    obj = activity.get("object")
    inner_id = id_of(obj)
    inner_type = type_of(obj)
    if isinstance(obj, dict):
        inner_actor = id_of(obj.get("actor"))
        if inner_actor is not None and inner_actor != ctx.sender.uri:
            raise ActivityRejected("Undo of someone else's activity")
    if inner_id:
        ctx.require_same_host(inner_id, "undone activity id")
    target = id_of(obj.get("object")) if isinstance(obj, dict) else None
    if inner_type in ("Follow", "") and await undo_of_instance_follow(ctx, obj):
        return
    if inner_type in ("Join", "") and await _undo_join(ctx, inner_id):
        return
    async with ctx.transaction() as session:
        sender = ctx.sender.id
        if inner_type == "Follow" or not inner_type:
            followee = await session.scalar(select(Actor.id).where(Actor.uri == target)) if target else None
            follow = await session.scalar(select(Follow).where(Follow.follower_id == sender, or_(
                Follow.uri == inner_id, Follow.followee_id == followee)))
            if follow is not None:
                await drop_follow(session, follow)
                return
        if inner_type in ("Like", ""):
            status_id = await session.scalar(select(Status.id).where(Status.uri == target)) if target else None
            favourite = await session.scalar(select(Favourite).where(Favourite.actor_id == sender, or_(
                Favourite.uri == inner_id, Favourite.status_id == status_id)))
            if favourite is not None:
                await bump(session, Status, favourite.status_id, "favourites_count", -1)
                await session.delete(favourite)
                return
        if inner_type in ("Announce", ""):
            boost = await session.scalar(select(Status).where(
                Status.actor_id == sender, Status.reblog_of_id.is_not(None), Status.activity_uri == inner_id))
            if boost is not None:
                await bump(session, Status, boost.reblog_of_id, "reblogs_count", -1)
                queue_event(session, "status.deleted", id=boost.id)
                await session.delete(boost)
                return
        if inner_type in ("Block", ""):
            block = await session.scalar(select(Block).where(Block.actor_id == sender, Block.uri == inner_id))
            if block is not None:
                await session.delete(block)
                return
    raise ActivityIgnored(f"nothing to undo for {inner_type or 'unknown'} {inner_id}")
