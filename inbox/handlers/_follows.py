"""Finding the Follow an Accept/Reject answers: by id, or by (follower, followee) when embedded."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.as2 import id_of, type_of
from fediverse.models import Actor, Follow
from inbox.context import ActivityIgnored, ActivityRejected, InboxContext


def answered_follow(activity: dict[str, Any]) -> Any:
    """The object of an Accept or Reject, when it can be a Follow (an id, or an embedded Follow)."""
    obj = activity.get("object")
    if isinstance(obj, dict) and type_of(obj) not in ("Follow", ""):
        raise ActivityIgnored(f"{type_of(activity)} of {type_of(obj)} is not handled")
    return obj


async def follow_we_sent(ctx: InboxContext, session: AsyncSession, obj: Any) -> Follow:
    """The stored Follow from one of our actors to the sender that this answer refers to."""
    follow_uri = id_of(obj)
    follow = None
    if follow_uri and ctx.runtime.uris.is_local(follow_uri):
        follow = await session.scalar(select(Follow).where(Follow.uri == follow_uri))
    if follow is None and isinstance(obj, dict):
        follower_uri, followee_uri = id_of(obj.get("actor")), id_of(obj.get("object"))
        if follower_uri and ctx.runtime.uris.is_local(follower_uri) and followee_uri == ctx.sender.uri:
            follower = await session.scalar(select(Actor).where(Actor.uri == follower_uri, Actor.domain.is_(None)))
            if follower is not None:
                follow = await session.scalar(select(Follow).where(
                    Follow.follower_id == follower.id, Follow.followee_id == ctx.sender.id))
    if follow is None:
        raise ActivityRejected("answer to a Follow we never sent")
    if follow.followee_id != ctx.sender.id:
        raise ActivityRejected("only the followed actor can answer this Follow")
    return follow
