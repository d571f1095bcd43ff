"""Remote events: an `Event` from a neighbour instance, Mobilizon or Gancio becomes an agenda event.

Called inside the transaction that stores or edits the remote Status (inbox.agenda), after its generic
fields were copied. Everything is read defensively: times with an offset or in the event's `timezone`
(IANA; Europe/Paris when missing or unknown), `location` as one Place or a list (the first Place wins;
a Gancio `VirtualLocation` gives the online address), `address` as an object, a string (Gancio) or a
list (its first object), numbers bounded. An object without a usable title or start (missing,
unparsable, before 2000 or more than five years ahead) is not an event: the status stays a post, and
an earlier version of the event is kept rather than erased by a broken update. An end before the
start is dropped. Past events stay stored (history); the agenda lists upcoming ones.

The status text served by our Mastodon API gets the title, the summary line and a link to the
origin's page as its first paragraph (apps then show when and where), the sender's own `summary` is
not used as a content warning for events, and the description alone is kept in `extra_json["content"]`.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.events import DEFAULT_TIMEZONE, event_for_status, header_html, plausible, zone_named
from fediverse.as2 import as_list, id_of, text_of, type_of
from fediverse.db import utcnow
from fediverse.models import Actor, Event, Status
from fediverse.models.agenda import EVENT_CATEGORIES, EVENT_JOIN_MODES
from fediverse.places import parse_place
from fediverse.sanitize import html_to_text
from inbox.context import InboxContext

MAX_TITLE = 300
MAX_TEXT = 255
MAX_CAPACITY = 1_000_000
MAX_PARTICIPANTS = 10_000_000
MAX_URL = 2048


@dataclass(frozen=True)
class RemoteEvent:
    """What we keep of a remote `Event`, validated."""

    title: str
    starts_at: datetime
    ends_at: datetime | None
    timezone: str
    place_name: str | None
    street: str | None
    postal_code: str | None
    locality: str | None
    commune_insee: str | None
    latitude: float | None
    longitude: float | None
    category: str
    join_mode: str
    capacity: int | None
    participant_count: int
    external_url: str | None
    online_url: str | None
    event_status: str


def _line(value: Any, limit: int = MAX_TEXT) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = " ".join(html_to_text(value[:limit * 4]).split())
    return text[:limit] or None


def _url(value: Any) -> str | None:
    value = value if isinstance(value, str) else id_of(value)
    if not isinstance(value, str) or len(value) > MAX_URL or any(c.isspace() for c in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme in ("http", "https") and parts.netloc else None


def _count(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 10:
        value = int(value.strip())
    return value if isinstance(value, int) and low <= value <= high else None


def remote_time(value: Any, zone_name: str) -> datetime | None:
    """An ISO 8601 time with its offset, or in the event's zone without one; None when unusable."""
    value = value[0] if isinstance(value, list) and value else value
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone_named(zone_name))
    try:
        moment = moment.astimezone(UTC).replace(microsecond=0)
    except (OverflowError, ValueError):
        return None
    return moment if plausible(moment) else None


def _status_of(obj: dict[str, Any]) -> str:
    """`ical:status` (Mobilizon), `status` (Mobilizon 4+), or FEP-8a8e's `eventStatus` (schema.org names)."""
    for key in ("ical:status", "status", "eventStatus"):
        value = obj.get(key)
        if not isinstance(value, str):
            continue
        word = value.rsplit("/", 1)[-1].rsplit("#", 1)[-1].lower()
        if "cancel" in word:
            return "CANCELLED"
        if word in ("tentative", "eventpostponed", "postponed", "eventrescheduled"):
            return "TENTATIVE"
        if word in ("confirmed", "eventscheduled", "scheduled"):
            return "CONFIRMED"
    return "CONFIRMED"


def _online_url(obj: dict[str, Any], locations: list[Any]) -> str | None:
    """Mobilizon's `Link` named "Website", else a `VirtualLocation` (Gancio, FEP-8a8e)."""
    for item in as_list(obj.get("attachment"))[:20]:
        if isinstance(item, dict) and type_of(item) == "Link" and item.get("name") == "Website":
            found = _url(item.get("href"))
            if found:
                return found
    for item in locations:
        if isinstance(item, dict) and type_of(item) == "VirtualLocation":
            found = _url(item.get("url"))
            if found:
                return found
    return None


def parse_remote_event(obj: dict[str, Any]) -> RemoteEvent | None:
    """A remote `Event` as agenda fields, or None when it has no usable title or start."""
    zone = obj.get("timezone")
    zone_name = zone.strip() if isinstance(zone, str) and zone_named(zone.strip()) is not None else DEFAULT_TIMEZONE
    title = _line(text_of(obj.get("name"), 4 * MAX_TITLE) or text_of(obj.get("nameMap"), 4 * MAX_TITLE), MAX_TITLE)
    starts_at = remote_time(obj.get("startTime"), zone_name)
    if not title or starts_at is None:
        return None
    ends_at = remote_time(obj.get("endTime"), zone_name)
    if ends_at is not None and ends_at < starts_at:
        ends_at = None
    locations = as_list(obj.get("location"))[:10]
    place = parse_place(locations)
    place_doc = next((item for item in locations if isinstance(item, dict) and type_of(item) == "Place"), None)
    address = place_doc.get("address") if place_doc is not None else None
    if isinstance(address, list):
        address = next((item for item in address if isinstance(item, dict)), None)
    street = postal_code = locality = None
    if isinstance(address, dict):
        street = _line(address.get("streetAddress"))
        postal_code = _line(address.get("postalCode"), 16)
        locality = _line(address.get("addressLocality"))
    elif isinstance(address, str):
        locality = _line(address)
    category = obj.get("category")
    category = category.strip().upper() if isinstance(category, str) else ""
    join_mode = obj.get("joinMode")
    join_mode = join_mode.strip().lower() if isinstance(join_mode, str) else "free"
    return RemoteEvent(
        title=title, starts_at=starts_at, ends_at=ends_at, timezone=zone_name,
        place_name=place.name if place is not None else None, street=street,
        postal_code=postal_code or (place.postal_code if place is not None else None),
        locality=locality or (place.locality if place is not None else None),
        commune_insee=place.insee if place is not None else None,
        latitude=place.latitude if place is not None else None,
        longitude=place.longitude if place is not None else None,
        category=category if category in EVENT_CATEGORIES else "MEETING",
        join_mode=join_mode if join_mode in EVENT_JOIN_MODES else "free",
        capacity=_count(obj.get("maximumAttendeeCapacity"), 1, MAX_CAPACITY),
        participant_count=_count(obj.get("participantCount"), 0, MAX_PARTICIPANTS) or 0,
        external_url=_url(obj.get("externalParticipationUrl")),
        online_url=_online_url(obj, locations),
        event_status=_status_of(obj),
    )


async def _uuid_for(session: AsyncSession, obj: dict[str, Any], status: Status, event: Event | None) -> str:
    """The sender's `uuid` when it is one and no other event has it; else one derived from the id."""
    if event is not None:
        return event.uuid
    value = obj.get("uuid")
    if isinstance(value, str) and len(value) <= 36:
        try:
            candidate = str(uuid.UUID(value))
        except ValueError:
            candidate = ""
        if candidate and await session.scalar(select(Event.id).where(Event.uuid == candidate)) is None:
            return candidate
    return str(uuid.uuid5(uuid.NAMESPACE_URL, status.uri))


async def _attributed_to(session: AsyncSession, obj: dict[str, Any], status: Status) -> int | None:
    """The group or association it is attributed to, when it is another known actor (Mobilizon)."""
    for key in ("attributedTo", "actor"):
        uri = id_of(obj.get(key))
        if uri:
            actor_id = await session.scalar(select(Actor.id).where(Actor.uri == uri))
            if actor_id is not None and actor_id != status.actor_id:
                return actor_id
    return None


async def recognise_event(ctx: InboxContext, session: AsyncSession, status: Status, obj: dict[str, Any]) -> None:
    """Create or refresh the Event row of a stored remote `Event` (see the module docstring)."""
    del ctx  # everything needed is in the object and the session
    event = await event_for_status(session, status.id)
    if type_of(obj) != "Event":
        if event is not None:
            await session.delete(event)
        return
    fields = parse_remote_event(obj)
    if fields is None:
        if event is not None:
            _present(status, event, obj)
        return
    attributed_to_id = await _attributed_to(session, obj, status)
    if event is None:
        event = Event(status_id=status.id, actor_id=status.actor_id, local=False,
                      uuid=await _uuid_for(session, obj, status, None))
    event.attributed_to_id = attributed_to_id
    for name, value in vars(fields).items():
        setattr(event, name, value)
    event.updated_at = utcnow()
    session.add(event)
    await session.flush()
    _present(status, event, obj)


def _present(status: Status, event: Event, obj: dict[str, Any]) -> None:
    """The status as our Mastodon API shows it: title, summary line and link first, no content warning."""
    extra = json.loads(status.extra_json) if status.extra_json else {}
    description = status.content
    extra["content"] = description
    status.extra_json = json.dumps(extra)
    status.name = event.title
    status.summary = ""
    status.sensitive = obj.get("sensitive") is True
    status.content = header_html(event, link=status.url or status.uri) + description
    if event.latitude is not None and event.longitude is not None and status.latitude is None:
        status.latitude, status.longitude = event.latitude, event.longitude
