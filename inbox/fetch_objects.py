"""Fetch one remote object by URL on a user's request (search with `resolve=true`, a pasted link).

The document comes from somebody else's server, so the same origin rules as the inbox apply:
the object's id must live on the host it was fetched from (else it is fetched again from its
own id), its author must be on that host too, and it is stored through the inbox's own
`store_remote_status` so a fetched post is indistinguishable from a delivered one.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import or_, select

from actors.remote import ActorError, ActorResolver, actor_fields_from_document, upsert_remote_actor
from fediverse.as2 import ACTOR_TYPES, OBJECT_TYPES, id_of, type_of
from fediverse.http import FetchError
from fediverse.models import Actor, Status
from fediverse.runtime import Runtime
from fediverse.uris import host_of
from inbox.context import ActivityIgnored, ActivityRejected, InboxContext
from inbox.objects import store_remote_status
from outbox.commands import Outbox

log = logging.getLogger(__name__)
MAX_URL_LENGTH = 2048


async def known_object(runtime: Runtime, url: str) -> Actor | Status | None:
    """A status or actor we already have under this id or public URL (local ones included)."""
    async with runtime.sessions() as session:
        status = await session.scalar(select(Status).where(
            or_(Status.uri == url, Status.url == url), Status.reblog_of_id.is_(None)).limit(1))
        if status is not None:
            return status
        return await session.scalar(select(Actor).where(
            or_(Actor.uri == url, Actor.url == url), Actor.deleted_at.is_(None)).limit(1))


async def _authentic_document(resolver: ActorResolver, url: str) -> dict[str, Any] | None:
    """The document behind `url`, whose id is on the host that served it (refetched from its id if not)."""
    doc = await resolver.fetch_document(url)
    object_id = doc.get("id") if isinstance(doc.get("id"), str) else None
    if object_id is None:
        return None
    if object_id != url and host_of(object_id) != host_of(url):
        doc = await resolver.fetch_document(object_id)
        if doc.get("id") != object_id:
            return None
    return doc


async def _store_actor(runtime: Runtime, doc: dict[str, Any]) -> Actor:
    fields = actor_fields_from_document(doc, runtime.uris, expected_host=host_of(str(doc["id"])))
    async with runtime.sessions() as session, session.begin():
        return await upsert_remote_actor(session, fields, doc)


async def _store_status(runtime: Runtime, resolver: ActorResolver, doc: dict[str, Any]) -> Status | None:
    author_uri = id_of(doc.get("attributedTo"))
    if not author_uri or host_of(author_uri) != host_of(str(doc["id"])):
        return None
    author = await resolver.get(author_uri)
    if author.is_local or author.suspended_at is not None:
        return None
    ctx = InboxContext(runtime, resolver, Outbox(runtime), author, str(doc["id"]), None)
    try:
        return await store_remote_status(ctx, doc, activity_uri=None, require_relevance=False)
    except (ActivityIgnored, ActivityRejected) as exc:
        log.info("not storing fetched object %s: %s", doc.get("id"), exc)
        return None


async def resolve_remote_object(runtime: Runtime, url: str) -> Actor | Status | None:
    """The actor or status at `url`: from the database when known, else fetched from its origin.

    Returns None for anything unusable (unreachable host, unsupported type, broken origin);
    search shows no result rather than an error in that case, as Mastodon does.
    """
    url = url.strip()
    if len(url) > MAX_URL_LENGTH or not url.startswith(("https://", "http://")):
        return None
    known = await known_object(runtime, url)
    if known is not None or runtime.uris.is_local(url):
        return known
    resolver = ActorResolver(runtime)
    try:
        doc = await _authentic_document(resolver, url)
        if doc is None or runtime.uris.is_local(str(doc["id"])):
            return None
        kind = type_of(doc)
        if kind in ACTOR_TYPES:
            return await _store_actor(runtime, doc)
        if kind in OBJECT_TYPES:
            return await _store_status(runtime, resolver, doc)
    except (FetchError, ActorError, ValueError) as exc:
        log.info("cannot resolve %s: %s", url, exc)
    return None


async def fetch_remote_status(runtime: Runtime, url: str) -> Status | None:
    """The status at `url` (fetched and stored if new), or None if it is not a usable post."""
    found = await resolve_remote_object(runtime, url)
    return found if isinstance(found, Status) else None
