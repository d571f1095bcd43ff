"""Remote objects (Note, Article, Page, Event, Question) -> Status rows, shared by Create/Update/Announce.

A `Question` also gets its Poll row (options and totals); a `Note` that only names an option of one
of our polls, in reply to it, is a vote (Mastodon's shape): it is counted, never shown as a reply.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from actors.notify import bump, notify
from fediverse.as2 import (
    ATTACHMENT_TYPES,
    OBJECT_TYPES,
    as_list,
    id_of,
    ids_of,
    parse_datetime,
    text_of,
    type_of,
)
from fediverse.db import utcnow
from fediverse.events import queue_event
from fediverse.models import (
    Actor,
    Attachment,
    Follow,
    Mention,
    Poll,
    PollVote,
    Status,
    StatusEdit,
    StatusTag,
    Tombstone,
)
from fediverse.places import ParsedPlace, parse_place, place_to_as
from fediverse.sanitize import html_to_text, sanitize_html
from fediverse.uris import host_of
from inbox.agenda import recognise_remote_object
from inbox.context import ActivityIgnored, ActivityRejected, InboxContext
from outbox.audience import visibility_of
from outbox.polls import count_remote_vote

MAX_TAGS = 50
MAX_ATTACHMENTS = 16
# Extension properties kept as-is (bounded) for the features that read them (events, polls, ads).
EXTRA_KEYS = ("startTime", "endTime", "location", "oneOf", "anyOf", "closed", "votersCount", "timezone",
              "category", "joinMode", "purpose", "publishes", "reciprocal", "audience")
MAX_EXTRA_BYTES = 20_000
MAX_POLL_OPTIONS = 20
# Kept across remote updates: set locally when a poll ended and its voters were notified.
LOCAL_EXTRA_KEYS = ("closed",)


def check_object_origin(ctx: InboxContext, obj: dict[str, Any]) -> tuple[str, str]:
    """The object's id and attributedTo must be on the sender's host, and the author the sender."""
    object_id = ctx.require_same_host(obj.get("id") if isinstance(obj.get("id"), str) else None, "object id")
    author = id_of(obj.get("attributedTo"))
    ctx.require_same_host(author, "attributedTo")
    # Mobilizon attributes a group's event to the group (same host) and names the organiser as `actor`.
    organiser = id_of(obj.get("actor")) if type_of(obj) == "Event" else None
    if author != ctx.sender.uri and organiser != ctx.sender.uri:
        raise ActivityRejected("object is attributed to someone other than the sender")
    return object_id, author


def _extra(obj: dict[str, Any]) -> str | None:
    extra = {k: obj[k] for k in EXTRA_KEYS if k in obj}
    if not extra:
        return None
    encoded = json.dumps(extra)
    return encoded if len(encoded) <= MAX_EXTRA_BYTES else None


def apply_fields(status: Status, obj: dict[str, Any], author: Actor) -> None:
    """Copy the displayable fields, sanitized and bounded."""
    status.object_type = type_of(obj)
    content = text_of(obj.get("content")) or text_of(obj.get("contentMap"))
    status.content = sanitize_html(content)
    summary = text_of(obj.get("summary"), 5000)
    status.summary = html_to_text(summary) if summary else ""
    name = text_of(obj.get("name"), 1000)
    status.name = name or None
    status.sensitive = obj.get("sensitive") is True or bool(status.summary)
    url = obj.get("url")
    url = url if isinstance(url, str) else id_of(url)
    status.url = url if url and host_of(url) == host_of(author.uri) else status.uri
    content_map = obj.get("contentMap")
    if isinstance(content_map, dict) and content_map:
        first_language = next(iter(content_map))
        status.language = first_language[:16] if isinstance(first_language, str) else None
    previous = json.loads(status.extra_json) if status.extra_json else {}
    extra = json.loads(_extra(obj) or "{}")
    for key in LOCAL_EXTRA_KEYS:
        if key in previous and key not in extra:
            extra[key] = previous[key]
    status.extra_json = json.dumps(extra) if extra else None
    apply_location(status, obj.get("location"))


def apply_location(status: Status, value: Any) -> None:
    """Where a remote object is, from its `location`: the INSEE code (whatever commune it names), the
    point, and a Place we write ourselves from what was validated, never the sender's JSON. An object
    without a usable Place (or an update that removed it) has no location."""
    place = parse_place(value)
    if place is None:
        status.commune_insee = status.latitude = status.longitude = status.location_json = None
        return
    status.commune_insee = place.insee
    status.latitude, status.longitude = place.latitude, place.longitude
    status.location_json = json.dumps(clean_place(place))


def clean_place(place: ParsedPlace) -> dict[str, Any]:
    """A validated remote Place in our own shape (coordinates only when both are valid)."""
    name = place.name or place.locality or place.insee or ""
    if place.latitude is not None and place.longitude is not None:
        return place_to_as(name, place.latitude, place.longitude, insee=place.insee,
                           postal_code=place.postal_code, locality=place.locality)
    doc: dict[str, Any] = {"type": "Place", "name": name}
    address = {key: value for key, value in (("type", "PostalAddress"), ("addressLocality", place.locality),
                                             ("postalCode", place.postal_code)) if value}
    if len(address) > 1:
        doc["address"] = address
    if place.insee:
        doc["identifier"] = {"type": "PropertyValue", "propertyID": "INSEE", "name": "INSEE", "value": place.insee}
    return doc


async def _replace_parts(ctx: InboxContext, session: AsyncSession, status: Status, obj: dict[str, Any]) -> list[Actor]:
    """Mentions, hashtags and attachments; returns the local actors mentioned."""
    await session.execute(delete(StatusTag).where(StatusTag.status_id == status.id))
    await session.execute(delete(Attachment).where(Attachment.status_id == status.id))
    await session.execute(delete(Mention).where(Mention.status_id == status.id))
    mentioned_uris: list[str] = []
    tag_names: set[str] = set()
    for tag in as_list(obj.get("tag"))[:MAX_TAGS]:
        if not isinstance(tag, dict):
            continue
        if type_of(tag) == "Mention" and isinstance(tag.get("href"), str):
            mentioned_uris.append(tag["href"])
        elif type_of(tag) == "Hashtag":
            name = text_of(tag.get("name"), 100).lstrip("#").lower()
            if name and name not in tag_names:
                tag_names.add(name)
                session.add(StatusTag(status_id=status.id, name=name))
    mentioned: list[Actor] = []
    if mentioned_uris:
        mentioned = list((await session.scalars(select(Actor).where(Actor.uri.in_(mentioned_uris[:MAX_TAGS])))).all())
        for actor in mentioned:
            session.add(Mention(status_id=status.id, actor_id=actor.id))
    for position, item in enumerate(as_list(obj.get("attachment"))[:MAX_ATTACHMENTS]):
        if not isinstance(item, dict) or type_of(item) not in ATTACHMENT_TYPES:
            continue
        url = item.get("url")
        url = url if isinstance(url, str) else id_of(url)
        if not url or not url.startswith(("https://", "http://")):
            continue
        media_type = item.get("mediaType") if isinstance(item.get("mediaType"), str) else None
        kind = (media_type or "image/").split("/")[0]
        session.add(Attachment(
            status_id=status.id, actor_id=status.actor_id, url=url[:2048], remote_url=url[:2048],
            media_type=(media_type or "")[:255] or None,
            kind=kind if kind in ("image", "video", "audio") else "unknown",
            description=text_of(item.get("name"), 1500) or None, position=position,
            width=item["width"] if isinstance(item.get("width"), int) else None,
            height=item["height"] if isinstance(item.get("height"), int) else None,
            blurhash=item["blurhash"][:255] if isinstance(item.get("blurhash"), str) else None,
        ))
    return [a for a in mentioned if a.domain is None]


async def is_relevant(
    ctx: InboxContext, session: AsyncSession, obj: dict[str, Any], in_reply_to: Status | None
) -> bool:
    """Keep what someone here asked for: followed authors, mentions of us, replies to us, DMs to us."""
    if in_reply_to is not None and in_reply_to.local:
        return True
    addressed = ids_of(obj.get("to")) + ids_of(obj.get("cc")) + [
        t.get("href") for t in as_list(obj.get("tag")) if isinstance(t, dict) and isinstance(t.get("href"), str)]
    if any(ctx.runtime.uris.is_local(uri) for uri in addressed):
        return True
    followed = await session.scalar(select(Follow.id).join(Actor, Actor.id == Follow.follower_id).where(
        Follow.followee_id == ctx.sender.id, Follow.state == "accepted", Actor.domain.is_(None)).limit(1))
    return followed is not None


async def store_remote_status(ctx: InboxContext, obj: dict[str, Any], *, activity_uri: str | None,
                              require_relevance: bool = True) -> Status:
    """Create the Status for a validated remote object (idempotent: a known id returns the row)."""
    object_type = type_of(obj)
    if object_type not in OBJECT_TYPES:
        raise ActivityIgnored(f"object type {object_type or 'none'} is not supported")
    object_id, _ = check_object_origin(ctx, obj)
    author = ctx.sender
    if await _is_poll_vote(ctx, obj):
        counted = await count_remote_vote(ctx.outbox, author, ctx.runtime.uris.parse_status(
            id_of(obj.get("inReplyTo")) or "") or 0, text_of(obj.get("name"), 1000), object_id)
        raise ActivityIgnored("poll vote counted" if counted else "poll vote not counted (ended, repeated or invalid)")
    async with ctx.transaction() as session:
        existing = await session.scalar(select(Status).where(Status.uri == object_id))
        if existing is not None:
            return existing
        tombstone = await session.get(Tombstone, object_id)
        # A tombstone left by another actor (a Delete of an id it did not own) does not count.
        if tombstone is not None and tombstone.actor_uri in (None, author.uri):
            raise ActivityIgnored("object was already deleted")
        parent_uri = id_of(obj.get("inReplyTo"))
        parent = await session.scalar(select(Status).where(Status.uri == parent_uri)) if parent_uri else None
        if require_relevance and not await is_relevant(ctx, session, obj, parent):
            raise ActivityIgnored("nobody here follows or is addressed by this object")
        to, cc = ids_of(obj.get("to")), ids_of(obj.get("cc"))
        status = Status(
            uri=object_id, actor_id=author.id, local=False, activity_uri=activity_uri,
            visibility=visibility_of(to, cc, author.followers_url), to_json=json.dumps(to[:100]),
            cc_json=json.dumps(cc[:100]), in_reply_to_uri=parent_uri,
            in_reply_to_id=parent.id if parent else None, in_reply_to_actor_id=parent.actor_id if parent else None,
            conversation_uri=(obj.get("conversation") if isinstance(obj.get("conversation"), str) else None)
            or (parent.conversation_uri if parent else None),
            published=parse_datetime(obj.get("published")) or utcnow(),
            # An object edited before we saw it: older Updates must not roll it back.
            updated=parse_datetime(obj.get("updated")),
        )
        apply_fields(status, obj, author)
        session.add(status)
        await session.flush()
        queue_event(session, "status.created", id=status.id)
        local_mentions = await _replace_parts(ctx, session, status, obj)
        await store_poll(session, status, obj)
        await recognise_remote_object(ctx, session, status, obj)
        await bump(session, Actor, author.id, "statuses_count", 1)
        notified: set[int] = set()
        for actor in local_mentions:
            await notify(session, actor, "mention", author.id, status.id)
            notified.add(actor.id)
        if parent is not None:
            await bump(session, Status, parent.id, "replies_count", 1)
        return status


async def update_remote_status(ctx: InboxContext, obj: dict[str, Any]) -> None:
    """An edit (the previous version is kept as StatusEdit), or only new poll totals: Mastodon sends
    `Update(Question)` when votes come in, without a new `updated` (that is not an edit)."""
    object_id, _ = check_object_origin(ctx, obj)
    question = type_of(obj) == "Question"
    unchanged = False
    async with ctx.transaction() as session:
        status = await session.scalar(select(Status).where(Status.uri == object_id))
        if status is None:
            raise ActivityIgnored("update of an object we do not have")
        if status.actor_id != ctx.sender.id:
            raise ActivityRejected("only the author can update this object")
        updated = parse_datetime(obj.get("updated"))
        newer = updated is None or status.updated is None or updated > status.updated
        if newer and not (question and updated is None and not _edited(status, obj)):
            await _apply_edit(ctx, session, status, obj, updated)
        elif question and await store_poll(session, status, obj):
            queue_event(session, "status.updated", id=status.id)
        else:
            unchanged = True
    if unchanged:
        raise ActivityIgnored("update is not newer than what we have")


def _edited(status: Status, obj: dict[str, Any]) -> bool:
    """Whether what readers see changed (not only counters)."""
    content = sanitize_html(text_of(obj.get("content")) or text_of(obj.get("contentMap")))
    summary = text_of(obj.get("summary"), 5000)
    return content != status.content or (html_to_text(summary) if summary else "") != (status.summary or "")


async def _apply_edit(ctx: InboxContext, session: AsyncSession, status: Status, obj: dict[str, Any],
                      updated: Any) -> None:
    previous_media = (await session.scalars(select(Attachment.id).where(Attachment.status_id == status.id)
                                            .order_by(Attachment.position))).all()
    poll = await session.scalar(select(Poll).where(Poll.status_id == status.id))
    session.add(StatusEdit(status_id=status.id, content=status.content, summary=status.summary or "",
                           sensitive=status.sensitive, media_ids_json=json.dumps([str(i) for i in previous_media]),
                           poll_options_json=poll.options_json if poll is not None else None,
                           created_at=status.updated or status.published))
    apply_fields(status, obj, ctx.sender)
    status.updated = updated or utcnow()
    await session.flush()
    queue_event(session, "status.updated", id=status.id)
    # Attachments of earlier versions stay readable in the history: detached, not deleted.
    await session.execute(update(Attachment).where(Attachment.status_id == status.id).values(status_id=None)
                          .execution_options(synchronize_session=False))
    await _replace_parts(ctx, session, status, obj)
    await store_poll(session, status, obj)
    await recognise_remote_object(ctx, session, status, obj)
    for actor in (await session.scalars(select(Actor).join(Mention, Mention.actor_id == Actor.id).where(
            Mention.status_id == status.id, Actor.domain.is_(None)))).all():
        await notify(session, actor, "update", ctx.sender.id, status.id)


# -- polls ------------------------------------------------------------------------------------------

def _count(value: Any) -> int:
    return value if isinstance(value, int) and 0 <= value < 2**31 else 0


def poll_fields(obj: dict[str, Any]) -> dict[str, Any] | None:
    """A `Question`'s options and totals (Mastodon's shape: `oneOf`/`anyOf` of named Notes whose
    `replies.totalItems` is the count), or None when it has no usable option."""
    multiple = isinstance(obj.get("anyOf"), list) and bool(obj.get("anyOf"))
    options: list[dict[str, Any]] = []
    for item in as_list(obj.get("anyOf") if multiple else obj.get("oneOf"))[:MAX_POLL_OPTIONS]:
        title = text_of(item.get("name"), 500).strip() if isinstance(item, dict) else ""
        if not title or any(o["title"] == title for o in options):
            continue
        replies = item.get("replies")
        options.append({"title": title, "votes": _count(replies.get("totalItems")) if isinstance(replies, dict) else 0})
    if len(options) < 1:
        return None
    votes = sum(o["votes"] for o in options)
    voters = obj.get("votersCount")
    return {"options": options, "multiple": multiple, "votes_count": votes,
            "voters_count": _count(voters) if isinstance(voters, int) else (0 if multiple else votes),
            "expires_at": parse_datetime(obj.get("endTime")) or parse_datetime(obj.get("closed"))}


async def store_poll(session: AsyncSession, status: Status, obj: dict[str, Any]) -> bool | None:
    """Create or refresh the Poll of a remote `Question`. Returns None when the object has no poll,
    else whether anything changed. New options (an edited poll) reset the local votes, like Mastodon."""
    fields = poll_fields(obj) if type_of(obj) == "Question" else None
    poll = await session.scalar(select(Poll).where(Poll.status_id == status.id))
    if fields is None:
        if poll is not None:
            await session.execute(delete(PollVote).where(PollVote.status_id == status.id))
            await session.delete(poll)
            return True
        return None
    options_json = json.dumps(fields["options"])
    if poll is None:
        session.add(Poll(status_id=status.id, options_json=options_json, multiple=fields["multiple"],
                         expires_at=fields["expires_at"], votes_count=fields["votes_count"],
                         voters_count=fields["voters_count"]))
        return True
    titles = [o.get("title") for o in json.loads(poll.options_json or "[]")]
    if titles != [o["title"] for o in fields["options"]] or poll.multiple != fields["multiple"]:
        await session.execute(delete(PollVote).where(PollVote.status_id == status.id))
    changed = (poll.options_json, poll.multiple, poll.expires_at, poll.votes_count, poll.voters_count) != (
        options_json, fields["multiple"], fields["expires_at"], fields["votes_count"], fields["voters_count"])
    poll.options_json = options_json
    poll.multiple = fields["multiple"]
    poll.expires_at = fields["expires_at"]
    poll.votes_count = fields["votes_count"]
    poll.voters_count = fields["voters_count"]
    return changed


async def _is_poll_vote(ctx: InboxContext, obj: dict[str, Any]) -> bool:
    """A Note with a `name`, no content, in reply to one of our statuses that has a poll."""
    if type_of(obj) != "Note" or not text_of(obj.get("name"), 1000) or text_of(obj.get("content")).strip():
        return False
    status_id = ctx.runtime.uris.parse_status(id_of(obj.get("inReplyTo")) or "")
    if status_id is None:
        return False
    async with ctx.runtime.sessions() as session:
        return await session.scalar(select(Poll.id).where(Poll.status_id == status_id)) is not None
