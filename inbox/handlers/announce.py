"""Announce (boost): of a local post, or of a remote one fetched from its origin."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from actors.notify import bump, notify
from fediverse.as2 import id_of, ids_of, parse_datetime, type_of
from fediverse.db import utcnow
from fediverse.events import queue_event
from fediverse.models import Actor, Follow, Status
from fediverse.uris import PUBLIC, host_of
from inbox.context import ActivityIgnored, ActivityRejected, InboxContext
from inbox.objects import store_remote_status


async def _original(ctx: InboxContext, object_uri: str) -> Status:
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
    author_uri = id_of(doc.get("attributedTo"))
    if not author_uri or host_of(author_uri) != host_of(object_uri):
        raise ActivityRejected("boosted object is not attributed to an actor on its own host")
    author = await ctx.resolver.get(author_uri)
    author_ctx = InboxContext(ctx.runtime, ctx.resolver, ctx.outbox, author, ctx.activity_uri, ctx.inbox_actor_id)
    return await store_remote_status(author_ctx, doc, activity_uri=None, require_relevance=False)


async def handle(ctx: InboxContext, activity: dict[str, Any]) -> None:
    object_uri = id_of(activity.get("object"))
    if not object_uri:
        raise ActivityRejected("Announce without an object")
    if type_of(activity.get("object")) in ("Create", "Update", "Delete"):
        raise ActivityIgnored("relayed activities are not accepted as boosts")
    async with ctx.runtime.sessions() as session:
        followed = await session.scalar(select(Follow.id).join(Actor, Actor.id == Follow.follower_id).where(
            Follow.followee_id == ctx.sender.id, Follow.state == "accepted", Actor.domain.is_(None)).limit(1))
    if followed is None and not ctx.runtime.uris.is_local(object_uri):
        raise ActivityIgnored("nobody here follows the booster")
    original = await _original(ctx, object_uri)
    to, cc = ids_of(activity.get("to")), ids_of(activity.get("cc"))
    async with ctx.transaction() as session:
        existing = await session.scalar(select(Status.id).where(Status.activity_uri == ctx.activity_uri))
        if existing is not None:
            return
        boost = Status(uri=ctx.activity_uri, actor_id=ctx.sender.id, local=False, reblog_of_id=original.id,
                       activity_uri=ctx.activity_uri, visibility="public" if PUBLIC in to else "unlisted",
                       to_json=json.dumps(to[:100]), cc_json=json.dumps(cc[:100]),
                       published=parse_datetime(activity.get("published")) or utcnow())
        session.add(boost)
        await session.flush()
        queue_event(session, "status.created", id=boost.id)
        await bump(session, Status, original.id, "reblogs_count", 1)
        author = await session.get(Actor, original.actor_id)
        if author is not None:
            await notify(session, author, "reblog", ctx.sender.id, original.id)
