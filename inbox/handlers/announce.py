"""Announce (boost): of a local post, or of a remote one fetched from its origin.

An Announce by the instance actor of a neighbour instance we follow is how that neighbour shares its
territory's public posts: the post is stored (with its location), no boost is recorded.

Agenda events also arrive this way: Gancio's instance actor (and Mobilizon groups) send
`Announce(Create(Event))` or `Announce(Event)`. The embedded copy is never trusted: the event is
fetched from its own server and stored as its author's (no boost); other relayed Creates stay refused.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from actors.neighbours import followed_neighbour
from actors.notify import bump, notify
from fediverse.as2 import OBJECT_TYPES, id_of, ids_of, is_public, parse_datetime, type_of
from fediverse.db import utcnow
from fediverse.events import queue_event
from fediverse.models import Actor, Follow, Status
from fediverse.uris import PUBLIC, host_of
from inbox.context import ActivityIgnored, ActivityRejected, InboxContext
from inbox.objects import store_remote_status


async def _original(ctx: InboxContext, object_uri: str, *, only: frozenset[str] | None = None) -> Status:
    """The stored post, else the one fetched from its origin; `only` limits the object types accepted."""
    async with ctx.runtime.sessions() as session:
        status = await session.scalar(select(Status).where(Status.uri == object_uri))
    if status is not None:
        return status
    if ctx.runtime.uris.is_local(object_uri):
        raise ActivityRejected("boost of a local object that does not exist")
    # Never trust an embedded copy: fetch the original from its own server.
    doc = await ctx.resolver.fetch_document(object_uri)
    if doc.get("id") != object_uri:
        raise ActivityRejected("fetched object has another id")
    if only is not None and type_of(doc) not in only:
        raise ActivityIgnored(f"relayed {type_of(doc) or 'object'} is not accepted")
    author_uri = id_of(doc.get("attributedTo"))
    if not author_uri or host_of(author_uri) != host_of(object_uri):
        raise ActivityRejected("boosted object is not attributed to an actor on its own host")
    author = await ctx.resolver.get(author_uri)
    return await store_remote_status(_author_context(ctx, author), doc, activity_uri=None, require_relevance=False)


def _author_context(ctx: InboxContext, author: Actor) -> InboxContext:
    return InboxContext(ctx.runtime, ctx.resolver, ctx.outbox, author, ctx.activity_uri, ctx.inbox_actor_id)


async def _shared_by_neighbour(ctx: InboxContext, object_uri: str, obj: Any) -> None:
    """Store a post a neighbour instance shared. An embedded object whose id and author are on the
    neighbour's own host is as good as fetched (the host speaks for itself, and signed the request);
    anything else is fetched from its origin like a boost."""
    if ctx.runtime.uris.is_local(object_uri):
        raise ActivityIgnored("a neighbour shared one of our own posts")
    if not isinstance(obj, dict) or host_of(object_uri) != ctx.sender_host \
            or host_of(id_of(obj.get("attributedTo")) or "") != ctx.sender_host:
        await _original(ctx, object_uri)
        return
    if type_of(obj) not in OBJECT_TYPES:
        raise ActivityIgnored(f"object type {type_of(obj) or 'none'} is not supported")
    if not is_public(ids_of(obj.get("to")) + ids_of(obj.get("cc"))):
        raise ActivityIgnored("a neighbour shares only public posts")
    author_uri = id_of(obj.get("attributedTo"))
    assert author_uri is not None
    author = await ctx.resolver.get(author_uri)
    await store_remote_status(_author_context(ctx, author), obj, activity_uri=None, require_relevance=False)


def boost_visibility(to: list[str], cc: list[str]) -> str:
    """A members-only group re-shares to its followers only: such a boost is private, not unlisted."""
    return "public" if PUBLIC in to else "unlisted" if PUBLIC in cc else "private"


async def _relayed_event(ctx: InboxContext, create: dict[str, Any]) -> None:
    """`Announce(Create(Event))` from an actor someone here follows, or a neighbour: the event is
    fetched from its origin (the embedded Create and object are only a hint) and stored as its author's."""
    inner = create.get("object")
    object_uri = id_of(inner)
    if not object_uri:
        raise ActivityRejected("Announce of a Create without an object")
    if isinstance(inner, dict) and type_of(inner) != "Event":
        raise ActivityIgnored("relayed activities are not accepted as boosts")
    if ctx.runtime.uris.is_local(object_uri):
        raise ActivityIgnored("a relayed copy of one of our own posts")
    async with ctx.runtime.sessions() as session:
        neighbour = await followed_neighbour(session, ctx.sender.id)
        followed = neighbour is not None or await session.scalar(
            select(Follow.id).join(Actor, Actor.id == Follow.follower_id).where(
                Follow.followee_id == ctx.sender.id, Follow.state == "accepted", Actor.domain.is_(None)).limit(1))
    if not followed:
        raise ActivityIgnored("nobody here follows the actor relaying this event")
    await _original(ctx, object_uri, only=frozenset({"Event"}))


async def handle(ctx: InboxContext, activity: dict[str, Any]) -> None:
    object_uri = id_of(activity.get("object"))
    if not object_uri:
        raise ActivityRejected("Announce without an object")
    if type_of(activity.get("object")) == "Create":
        await _relayed_event(ctx, activity["object"])
        return
    if type_of(activity.get("object")) in ("Update", "Delete"):
        raise ActivityIgnored("relayed activities are not accepted as boosts")
    async with ctx.runtime.sessions() as session:
        neighbour = await followed_neighbour(session, ctx.sender.id)
    if neighbour is not None:
        await _shared_by_neighbour(ctx, object_uri, activity.get("object"))
        return
    async with ctx.runtime.sessions() as session:
        followed = await session.scalar(select(Follow.id).join(Actor, Actor.id == Follow.follower_id).where(
            Follow.followee_id == ctx.sender.id, Follow.state == "accepted", Actor.domain.is_(None)).limit(1))
    if followed is None and not ctx.runtime.uris.is_local(object_uri):
        raise ActivityIgnored("nobody here follows the booster")
    original = await _original(ctx, object_uri)
    if original.object_type == "Event" and original.actor_id == ctx.sender.id:
        return  # an organiser (Gancio's instance actor) announcing its own event: stored, not a boost
    to, cc = ids_of(activity.get("to")), ids_of(activity.get("cc"))
    async with ctx.transaction() as session:
        existing = await session.scalar(select(Status.id).where(Status.activity_uri == ctx.activity_uri))
        if existing is not None:
            return
        boost = Status(uri=ctx.activity_uri, actor_id=ctx.sender.id, local=False, reblog_of_id=original.id,
                       activity_uri=ctx.activity_uri, visibility=boost_visibility(to, cc),
                       to_json=json.dumps(to[:100]), cc_json=json.dumps(cc[:100]),
                       published=parse_datetime(activity.get("published")) or utcnow())
        session.add(boost)
        await session.flush()
        queue_event(session, "status.created", id=boost.id)
        await bump(session, Status, original.id, "reblogs_count", 1)
        author = await session.get(Actor, original.actor_id)
        if author is not None:
            await notify(session, author, "reblog", ctx.sender.id, original.id)
