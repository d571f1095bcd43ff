"""Local rows -> ActivityStreams documents: one function per object and activity type."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.ad_terms import VALUEFLOWS_TERMS
from fediverse.as2 import CONTEXT, format_datetime
from fediverse.db import utcnow
from fediverse.models import Actor, Attachment, Mention, Poll, Status, StatusTag
from fediverse.places import PLACE_TERMS
from fediverse.uris import PUBLIC, Uris

# Our context plus the schema.org terms of a `location` Place (PostalAddress, INSEE identifier).
PLACE_CONTEXT: list[Any] = [*CONTEXT[:2], {**CONTEXT[2], **PLACE_TERMS}]
# Mobilizon's prefixes and event terms (lib/federation/activity_pub/utils.ex), for `Event` objects only.
EVENT_TERMS: dict[str, Any] = {
    "sc": "http://schema.org#",
    "ical": "http://www.w3.org/2002/12/cal/ical#",
    "mz": "https://joinmobilizon.org/ns#",
    "pt": "https://joinpeertube.org/ns#",
    "toot": "http://joinmastodon.org/ns#",
    "category": "sc:category",
    "uuid": "sc:identifier",
    "inLanguage": "sc:inLanguage",
    "maximumAttendeeCapacity": "sc:maximumAttendeeCapacity",
    "remainingAttendeeCapacity": "sc:remainingAttendeeCapacity",
    "location": {"@id": "sc:location", "@type": "sc:Place"},
    "PostalAddress": "sc:PostalAddress",
    "address": {"@id": "sc:address", "@type": "sc:PostalAddress"},
    "addressCountry": "sc:addressCountry",
    "addressRegion": "sc:addressRegion",
    "postalCode": "sc:postalCode",
    "addressLocality": "sc:addressLocality",
    "streetAddress": "sc:streetAddress",
    "PropertyValue": "sc:PropertyValue",
    "joinModeType": {"@id": "mz:joinModeType", "@type": "rdfs:Class"},
    "joinMode": {"@id": "mz:joinMode", "@type": "mz:joinModeType"},
    "repliesModerationOptionType": {"@id": "mz:repliesModerationOptionType", "@type": "rdfs:Class"},
    "repliesModerationOption": {"@id": "mz:repliesModerationOption", "@type": "mz:repliesModerationOptionType"},
    "commentsEnabled": {"@id": "pt:commentsEnabled", "@type": "sc:Boolean"},
    "anonymousParticipationEnabled": {"@id": "mz:anonymousParticipationEnabled", "@type": "sc:Boolean"},
    "participationMessage": {"@id": "mz:participationMessage", "@type": "sc:Text"},
    "participantCount": {"@id": "mz:participantCount", "@type": "sc:Integer"},
    "isOnline": {"@id": "mz:isOnline", "@type": "sc:Boolean"},
    "timezone": {"@id": "mz:timezone", "@type": "sc:Text"},
    "externalParticipationUrl": {"@id": "mz:externalParticipationUrl", "@type": "sc:URL"},
    "openness": {"@id": "mz:openness", "@type": "@id"},
    "members": {"@id": "mz:members", "@type": "@id"},
    "events": {"@id": "mz:events", "@type": "@id"},
    "posts": {"@id": "mz:posts", "@type": "@id"},
}
EVENT_CONTEXT: list[Any] = [*CONTEXT[:2], {**CONTEXT[2], **PLACE_TERMS, **EVENT_TERMS}]
# Petites annonces: FEP-0837 (ValueFlows) terms.
AD_CONTEXT: list[Any] = [*CONTEXT[:2], {**CONTEXT[2], **PLACE_TERMS, **VALUEFLOWS_TERMS}]


@dataclass
class StatusParts:
    """What a status document needs besides its own row."""

    author: Actor
    mentions: list[Actor] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    in_reply_to_uri: str | None = None
    poll: Poll | None = None


async def load_status_parts(session: AsyncSession, status: Status) -> StatusParts:
    author = await session.get(Actor, status.actor_id)
    assert author is not None
    mentions = list((await session.scalars(
        select(Actor).join(Mention, Mention.actor_id == Actor.id).where(Mention.status_id == status.id)
    )).all())
    tags = list((await session.scalars(select(StatusTag.name).where(StatusTag.status_id == status.id))).all())
    attachments = list((await session.scalars(
        select(Attachment).where(Attachment.status_id == status.id).order_by(Attachment.position)
    )).all())
    poll = await session.scalar(select(Poll).where(Poll.status_id == status.id))
    return StatusParts(author, mentions, tags, attachments, status.in_reply_to_uri, poll)


def question_fields(poll: Poll) -> dict[str, Any]:
    """A poll as Mastodon writes it on a `Question`: one `Note` per option carrying its vote count in
    `replies.totalItems`, `oneOf` (single choice) or `anyOf` (multiple), `endTime`, `votersCount`."""
    options = json.loads(poll.options_json or "[]")
    hidden = poll.hide_totals and not (poll.expires_at is not None and poll.expires_at <= utcnow())
    choices = [{"type": "Note", "name": option.get("title", ""),
                "replies": {"type": "Collection", "totalItems": 0 if hidden else int(option.get("votes", 0))}}
               for option in options]
    doc: dict[str, Any] = {"anyOf" if poll.multiple else "oneOf": choices,
                           "votersCount": 0 if hidden else poll.voters_count}
    if poll.expires_at is not None:
        doc["endTime"] = format_datetime(poll.expires_at)
        if poll.expires_at <= utcnow():
            doc["closed"] = format_datetime(poll.expires_at)
    return doc


def audience(status: Status) -> tuple[list[str], list[str]]:
    return json.loads(status.to_json or "[]"), json.loads(status.cc_json or "[]")


def status_to_as(status: Status, parts: StatusParts, uris: Uris, *, with_context: bool = True) -> dict[str, Any]:
    """A local status as a Note (or its own object type), addressed as Mastodon would read it."""
    to, cc = audience(status)
    doc: dict[str, Any] = {
        "id": status.uri,
        "type": status.object_type,
        "attributedTo": parts.author.uri,
        "content": status.content,
        "published": format_datetime(status.published),
        "url": status.url or status.uri,
        "to": to,
        "cc": cc,
        "sensitive": status.sensitive,
        "summary": status.summary or None,
        "inReplyTo": parts.in_reply_to_uri,
        "conversation": status.conversation_uri,
        "replies": {"id": f"{status.uri}/replies", "type": "Collection", "totalItems": status.replies_count},
    }
    if status.name:
        doc["name"] = status.name
    if status.language:
        doc["contentMap"] = {status.language: status.content}
    if status.source_text is not None:
        doc["source"] = {"content": status.source_text, "mediaType": "text/plain"}
    if status.updated:
        doc["updated"] = format_datetime(status.updated)
    tags: list[dict[str, Any]] = [
        {"type": "Mention", "href": actor.uri, "name": f"@{actor.handle(uris.settings.domain)}"}
        for actor in parts.mentions
    ]
    tags += [{"type": "Hashtag", "href": f"{uris.base}/tags/{name}", "name": f"#{name}"} for name in parts.tags]
    doc["tag"] = tags
    doc["attachment"] = [
        {"type": "Document", "mediaType": a.media_type, "url": a.url, "name": a.description,
         **({"width": a.width, "height": a.height} if a.width and a.height else {}),
         **({"blurhash": a.blurhash} if a.blurhash else {})}
        for a in parts.attachments
    ]
    location = status_location(status)
    if location is not None:
        doc["location"] = location
    if status.extra_json:
        doc.update(json.loads(status.extra_json))
    if parts.poll is not None:
        doc.update(question_fields(parts.poll))
    if with_context:
        doc = {"@context": context_for(doc), **doc}
    return doc


def status_location(status: Status) -> dict[str, Any] | None:
    """The stored Place of a status (one object, as Mobilizon reads it); none on direct messages."""
    if not status.location_json or status.visibility == "direct":
        return None
    place = json.loads(status.location_json)
    return place if isinstance(place, dict) else None


def context_for(doc: dict[str, Any]) -> list[Any]:
    """Our context, with the Place terms when the document (or the object it wraps) has a location,
    Mobilizon's event terms for an `Event`, FEP-0837's for an ad."""
    inner = doc.get("object")
    if doc.get("type") == "Event" or (isinstance(inner, dict) and inner.get("type") == "Event"):
        return EVENT_CONTEXT
    target = inner if isinstance(inner, dict) else doc
    if "purpose" in target and "publishes" in target:
        return AD_CONTEXT
    located = "location" in doc or (isinstance(inner, dict) and "location" in inner)
    return PLACE_CONTEXT if located else CONTEXT


def tombstone(object_uri: str) -> dict[str, Any]:
    return {"id": object_uri, "type": "Tombstone"}


def wrap(activity_type: str, activity_uri: str, actor_uri: str, obj: Any, *, to: list[str] | None = None,
         cc: list[str] | None = None, published: str | None = None) -> dict[str, Any]:
    """An activity with our context; `obj` may be an id or an embedded object."""
    doc: dict[str, Any] = {"@context": CONTEXT, "id": activity_uri, "type": activity_type, "actor": actor_uri}
    if isinstance(obj, dict):
        obj = {k: v for k, v in obj.items() if k != "@context"}
    doc["object"] = obj
    doc["@context"] = context_for(doc)
    if to is not None:
        doc["to"] = to
    if cc is not None:
        doc["cc"] = cc
    if published:
        doc["published"] = published
    return doc


def create_activity(activity_uri: str, note: dict[str, Any]) -> dict[str, Any]:
    return wrap("Create", activity_uri, note["attributedTo"], note, to=note["to"], cc=note["cc"],
                published=note["published"])


def update_activity(activity_uri: str, actor_uri: str, obj: dict[str, Any]) -> dict[str, Any]:
    to = obj.get("to") if isinstance(obj.get("to"), list) else [PUBLIC]
    cc = obj.get("cc") if isinstance(obj.get("cc"), list) else []
    return wrap("Update", activity_uri, actor_uri, obj, to=to, cc=cc)


def delete_activity(activity_uri: str, actor_uri: str, object_uri: str, to: list[str], cc: list[str]) -> dict[str, Any]:
    return wrap("Delete", activity_uri, actor_uri, tombstone(object_uri), to=to, cc=cc)


def undo_activity(activity_uri: str, actor_uri: str, inner: dict[str, Any]) -> dict[str, Any]:
    return wrap("Undo", activity_uri, actor_uri, inner, to=inner.get("to"), cc=inner.get("cc"))


def vote_activity(voter_uri: str, vote_uri: str, title: str, question_uri: str, author_uri: str) -> dict[str, Any]:
    """A vote on a remote poll, shaped like Mastodon's: `Create` of a `Note` named after the chosen
    option, in reply to the `Question`, addressed to the poll's author only (no content)."""
    note = {"id": vote_uri, "type": "Note", "name": title, "attributedTo": voter_uri, "inReplyTo": question_uri,
            "to": [author_uri]}
    return wrap("Create", f"{vote_uri}/activity", voter_uri, note, to=[author_uri])
