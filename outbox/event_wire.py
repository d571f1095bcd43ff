"""Local agenda events as Mobilizon writes them: what a client may ask for (`event_spec`), the wire fields
kept in `Status.extra_json` (merged into the object by `status_to_as`), and `prepare_event`, which
outbox/fanout.py calls inside `publish`/`edit` once the status row exists, so the `Event` row and the
fields commit (or not) with the status. The commands themselves are in outbox/events.py.

The status text our own Mastodon API serves starts with the title and the summary line
("sam. 14 juin, 20 h – Salle des fêtes, Maen Roch"), so apps show date and place; the federated
`content` is the description only (Mobilizon shows it under its own header), set in `extra_json`.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.events import (
    DEFAULT_TIMEZONE,
    event_zone,
    header_html,
    iso_in_zone,
    plausible,
    summary_line,
    zone_named,
)
from fediverse.models import Actor, Attachment, Commune, Event, Status
from fediverse.models.agenda import EVENT_CATEGORIES, EVENT_JOIN_MODES, EVENT_STATUSES
from fediverse.places import place_to_as
from fediverse.sanitize import html_to_text, sanitize_html, text_to_html
from outbox.drafts import INSEE_RE
from outbox.errors import CommandError

if TYPE_CHECKING:
    from outbox.command_base import CommandBase

MAX_TITLE = 300
MAX_DESCRIPTION = 50_000
MAX_PLACE_TEXT = 255
MAX_CAPACITY = 1_000_000
MAX_URL = 2048
_HTML_TAG = re.compile(r"<[a-zA-Z/][^>]*>")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


# -- what a client asks for ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PlaceSpec:
    name: str | None = None
    street: str | None = None
    postal_code: str | None = None
    locality: str | None = None
    commune_insee: str | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class EventSpec:
    """A validated event: every field as it will be stored (times aware, in UTC, whole seconds)."""

    title: str
    description_html: str
    starts_at: datetime
    ends_at: datetime | None
    timezone: str = DEFAULT_TIMEZONE
    place: PlaceSpec = PlaceSpec()
    category: str = "MEETING"
    capacity: int | None = None
    join_mode: str = "free"
    external_url: str | None = None
    online_url: str | None = None
    event_status: str = "CONFIRMED"
    language: str = "fr"


def _text(value: Any, name: str, limit: int) -> str | None:
    """A one-line text field: HTML is stripped (a title is text, never markup), whitespace collapsed."""
    if value is None:
        return None
    if isinstance(value, list | dict):
        raise CommandError(f"{name} must be text")
    text = " ".join(html_to_text(str(value)).split())
    if len(text) > limit:
        raise CommandError(f"{name} has at most {limit} characters")
    return text or None


def _url(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise CommandError(f"{name} must be a URL")
    text = value.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        raise CommandError(f"{name} must be an http(s) URL") from None
    if parts.scheme not in ("http", "https") or not parts.netloc or len(text) > MAX_URL \
            or any(c.isspace() for c in text):
        raise CommandError(f"{name} must be an http(s) URL")
    return text


def _moment(value: Any, name: str, zone_name: str) -> datetime | None:
    """An ISO 8601 date and time; without an offset it is the wall-clock time of the event's zone."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise CommandError(f"{name} must be an ISO 8601 date and time")
    text = value.strip()
    if "T" not in text and " " not in text:
        raise CommandError(f"{name} must include a time (for example 2025-06-14T20:00)")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"{name} must be an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        zone = zone_named(zone_name)
        assert zone is not None
        moment = moment.replace(tzinfo=zone)
    moment = moment.astimezone(UTC).replace(microsecond=0)
    if not plausible(moment):
        raise CommandError(f"{name} is not a plausible date (from the year 2000 to five years ahead)")
    return moment


def _coordinate(value: Any, name: str, bound: float) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or isinstance(value, list | dict):
        raise CommandError(f"{name} must be a number")
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise CommandError(f"{name} must be a number") from None
    if not math.isfinite(number) or abs(number) > bound:
        raise CommandError(f"{name} must be between -{bound:g} and {bound:g}")
    return number


def _capacity(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or isinstance(value, list | dict):
        raise CommandError("capacity must be a positive whole number")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise CommandError("capacity must be a positive whole number") from None
    if not 0 < number <= MAX_CAPACITY:
        raise CommandError(f"capacity must be a positive whole number (at most {MAX_CAPACITY})")
    return number


def _choice(value: Any, name: str, allowed: Sequence[str], default: str, *, upper: bool) -> str:
    if value is None or value == "":
        return default
    text = str(value).strip()
    text = text.upper() if upper else text.lower()
    if text not in allowed:
        raise CommandError(f"{name} must be one of {', '.join(allowed)}")
    return text


def _description(value: Any) -> str:
    """HTML as given (sanitized), or plain text made into paragraphs and links."""
    if value is None:
        return ""
    if isinstance(value, list | dict):
        raise CommandError("description must be text")
    text = str(value)
    if len(text) > MAX_DESCRIPTION:
        raise CommandError(f"description has at most {MAX_DESCRIPTION} characters")
    return sanitize_html(text) if _HTML_TAG.search(text) else text_to_html(text)


def _place(raw: Mapping[str, Any], current: PlaceSpec) -> PlaceSpec:
    """Only the place fields sent change; coordinates come in pairs."""
    def pick(key: str, default: Any) -> Any:
        return raw[key] if key in raw else default

    latitude = _coordinate(pick("latitude", current.latitude), "place latitude", 90.0)
    longitude = _coordinate(pick("longitude", current.longitude), "place longitude", 180.0)
    if (latitude is None) != (longitude is None):
        raise CommandError("place latitude and longitude go together")
    commune = pick("commune", current.commune_insee)
    commune = str(commune).strip().upper() if isinstance(commune, str | int) and str(commune).strip() else None
    if commune is not None and not INSEE_RE.match(commune):
        raise CommandError("commune must be an INSEE code (5 characters, such as 35257)")
    return PlaceSpec(
        name=_text(pick("name", current.name), "place name", MAX_PLACE_TEXT),
        street=_text(pick("street", current.street), "place street", MAX_PLACE_TEXT),
        postal_code=_text(pick("postal_code", current.postal_code), "place postal_code", 16),
        locality=_text(pick("locality", current.locality), "place locality", MAX_PLACE_TEXT),
        commune_insee=commune, latitude=latitude, longitude=longitude)


def event_spec(raw: Mapping[str, Any], current: EventSpec | None = None) -> EventSpec:
    """Validate what a client sent (`raw`: title, description, start, end, timezone, category, capacity,
    join_mode, external_url, online_url, status, language, and `place` with name, street, postal_code,
    locality, commune, latitude, longitude). With `current` (an edit) only the fields sent change.
    Every refusal is a CommandError naming the field."""
    def pick(key: str, default: Any) -> Any:
        return raw[key] if key in raw else default

    zone_name = pick("timezone", current.timezone if current else None) or DEFAULT_TIMEZONE
    if not isinstance(zone_name, str) or zone_named(zone_name.strip()) is None:
        raise CommandError(f"unknown time zone {str(zone_name)[:64]!r} (an IANA name such as Europe/Paris)")
    zone_name = zone_name.strip()
    title = _text(pick("title", current.title if current else None), "title", MAX_TITLE)
    if not title:
        raise CommandError("title is required")
    starts_at = _moment(raw["start"], "start", zone_name) if "start" in raw \
        else (current.starts_at if current else None)
    if starts_at is None:
        raise CommandError("start is required")
    ends_at = _moment(raw["end"], "end", zone_name) if "end" in raw else (current.ends_at if current else None)
    if ends_at is not None and ends_at < starts_at:
        raise CommandError("end must not be before start")
    category = pick("category", current.category if current else None)
    category = str(category).strip().upper() if isinstance(category, str) and category.strip() else "MEETING"
    join_mode = _choice(pick("join_mode", current.join_mode if current else None), "join_mode", EVENT_JOIN_MODES,
                        "free", upper=False)
    external_url = _url(pick("external_url", current.external_url if current else None), "external_url")
    if join_mode == "external" and external_url is None:
        raise CommandError("join_mode external needs an external_url")
    language = pick("language", current.language if current else None) or "fr"
    if not isinstance(language, str) or not _LANGUAGE.match(language.strip().lower()):
        raise CommandError("language must be a language code such as fr")
    place_raw = raw.get("place")
    if place_raw is not None and not isinstance(place_raw, Mapping):
        raise CommandError("place must be an object (place[name], place[street], ...)")
    place_fields = dict(place_raw or {})
    if "commune" in raw:
        place_fields["commune"] = raw["commune"]
    return EventSpec(
        title=title,
        description_html=_description(raw["description"]) if "description" in raw
        else (current.description_html if current else ""),
        starts_at=starts_at, ends_at=ends_at, timezone=zone_name,
        place=_place(place_fields, current.place if current else PlaceSpec()),
        category=category if category in EVENT_CATEGORIES else "MEETING",
        capacity=_capacity(pick("capacity", current.capacity if current else None)),
        join_mode=join_mode, external_url=external_url,
        online_url=_url(pick("online_url", current.online_url if current else None), "online_url"),
        event_status=_choice(pick("status", current.event_status if current else None), "status", EVENT_STATUSES,
                             "CONFIRMED", upper=True),
        language=language.strip().lower(),
    )


def spec_of(event: Event, status: Status) -> EventSpec:
    """An event as it is now (the starting point of an edit)."""
    extra = json.loads(status.extra_json) if status.extra_json else {}
    description = extra.get("content") if isinstance(extra.get("content"), str) else status.content
    return EventSpec(
        title=event.title, description_html=description, starts_at=event.starts_at, ends_at=event.ends_at,
        timezone=event.timezone, place=PlaceSpec(event.place_name, event.street, event.postal_code, event.locality,
                                                 event.commune_insee, event.latitude, event.longitude),
        category=event.category, capacity=event.capacity, join_mode=event.join_mode,
        external_url=event.external_url, online_url=event.online_url, event_status=event.event_status,
        language=status.language or "fr")


# -- the wire -----------------------------------------------------------------------------------------

def event_place(event: Event) -> dict[str, Any] | None:
    """The event's `location`: one Place with a PostalAddress and float coordinates (Mobilizon's shape)."""
    if not (event.place_name or event.street or event.locality or event.latitude is not None):
        return None
    name = event.place_name or event.locality or ""
    if event.latitude is not None and event.longitude is not None:
        place = place_to_as(name, event.latitude, event.longitude, insee=event.commune_insee,
                            postal_code=event.postal_code, locality=event.locality, street=event.street)
        if not event.locality:
            place["address"].pop("addressLocality", None)
        return place
    address = {k: v for k, v in (("type", "PostalAddress"), ("streetAddress", event.street),
                                 ("postalCode", event.postal_code), ("addressLocality", event.locality),
                                 ("addressCountry", "FR")) if v}
    place = {"type": "Place", "name": name, "address": address}
    if event.commune_insee:
        place["identifier"] = {"type": "PropertyValue", "propertyID": "INSEE", "name": "INSEE",
                               "value": event.commune_insee}
    return place


def event_attachments(event: Event, media: Sequence[Attachment]) -> list[dict[str, Any]]:
    """The banner (first picture) first, named "Banner" as Mobilizon reads it, the other pictures, then
    the online address as Mobilizon's `Link` named "Website"."""
    items: list[dict[str, Any]] = []
    for position, item in enumerate(media):
        doc: dict[str, Any] = {"type": "Document", "mediaType": item.media_type, "url": item.url,
                               "name": "Banner" if position == 0 else item.description}
        if item.width and item.height:
            doc.update(width=item.width, height=item.height)
        if item.blurhash:
            doc["blurhash"] = item.blurhash
        items.append(doc)
    if event.online_url:
        items.append({"type": "Link", "href": event.online_url, "mediaType": "text/html", "name": "Website"})
    return items


def event_wire_fields(event: Event, description_html: str, language: str, organizer: Actor,
                      attributed: Actor | None, media: Sequence[Attachment]) -> dict[str, Any]:
    """What Mobilizon's converter writes on an `Event`, merged into the status's object."""
    zone = event_zone(event)
    remaining = max(event.capacity - event.participant_count, 0) if event.capacity else None
    fields: dict[str, Any] = {
        "uuid": event.uuid,
        "name": event.title,
        "content": description_html,
        "contentMap": {language: description_html},
        "mediaType": "text/html",
        "summary": summary_line(event),
        "startTime": iso_in_zone(event.starts_at, zone),
        "endTime": iso_in_zone(event.ends_at, zone),
        "timezone": zone.key,
        "category": event.category,
        "joinMode": event.join_mode,
        "externalParticipationUrl": event.external_url,
        "maximumAttendeeCapacity": event.capacity,
        "remainingAttendeeCapacity": remaining,
        "participantCount": event.participant_count,
        "ical:status": event.event_status,
        "status": event.event_status,
        "isOnline": bool(event.online_url),
        "anonymousParticipationEnabled": False,
        "commentsEnabled": True,
        "repliesModerationOption": "allow_all",
        "draft": False,
        "inLanguage": language,
        "attributedTo": (attributed or organizer).uri,
        "actor": organizer.uri,
        "attachment": event_attachments(event, media),
    }
    place = event_place(event)
    if place is not None:
        fields["location"] = place
    return fields  # unset values stay, as null, as Mobilizon writes them


# -- commands -----------------------------------------------------------------------------------------

@dataclass
class PendingEvent:
    """The event being written by the status command running now in this task (see `prepare_event`)."""

    spec: EventSpec
    attributed_to_id: int | None
    event_id: int | None = None
    status_id: int | None = None
    # When the status was last written: an edit's `updated` must be a later second than it (receivers
    # compare whole seconds and drop an Update that is not newer, e.g. a cancel right after a change).
    previous_update: datetime | None = None


# The event an EventCommands call is publishing or editing: read by `prepare_event` inside that command.
PENDING_EVENT: ContextVar[PendingEvent | None] = ContextVar("pending_event", default=None)


async def prepare_event(cmd: CommandBase, session: AsyncSession, author: Actor, status: Status) -> None:
    """Inside `publish`/`edit` (outbox/fanout.py), after the status is placed: the Event row, the status's
    location at the event's place, and the Mobilizon wire fields, so they commit (or not) with it."""
    pending = PENDING_EVENT.get()
    if pending is not None and pending.status_id in (None, status.id):
        pending.status_id = status.id
        await _write_event(session, status, pending)


async def _write_event(session: AsyncSession, status: Status, pending: PendingEvent) -> None:
    spec = pending.spec
    place = spec.place
    commune = await session.get(Commune, place.commune_insee) if place.commune_insee else None
    event = await session.get(Event, pending.event_id) if pending.event_id is not None else None
    if event is None:
        event = Event(status_id=status.id, actor_id=status.actor_id, local=True, uuid=str(uuid.uuid4()),
                      attributed_to_id=pending.attributed_to_id, participant_count=0)
    latitude, longitude = place.latitude, place.longitude
    if latitude is None and commune is not None:
        latitude, longitude = float(commune.latitude), float(commune.longitude)
    event.title = spec.title
    event.starts_at, event.ends_at, event.timezone = spec.starts_at, spec.ends_at, spec.timezone
    event.place_name, event.street = place.name, place.street
    event.postal_code = place.postal_code or (commune.postal_code_list[0] if commune and
                                              commune.postal_code_list else None)
    event.locality = place.locality or (commune.name if commune is not None else None)
    event.commune_insee, event.latitude, event.longitude = place.commune_insee, latitude, longitude
    event.category, event.capacity, event.join_mode = spec.category, spec.capacity, spec.join_mode
    event.external_url, event.online_url, event.event_status = spec.external_url, spec.online_url, \
        spec.event_status
    session.add(event)
    await session.flush()
    pending.event_id = event.id
    organizer = await session.get(Actor, event.actor_id)
    attributed = await session.get(Actor, event.attributed_to_id) if event.attributed_to_id else None
    assert organizer is not None
    media = list((await session.scalars(select(Attachment).where(Attachment.status_id == status.id)
                                        .order_by(Attachment.position, Attachment.id))).all())
    status.name = spec.title
    status.language = spec.language
    if pending.previous_update is not None and status.updated is not None:
        floor = pending.previous_update.replace(microsecond=0) + timedelta(seconds=1)
        status.updated = max(status.updated, floor)
    status.extra_json = json.dumps(event_wire_fields(event, spec.description_html, spec.language, organizer,
                                                     attributed, media))
    status.content = header_html(event) + spec.description_html
    # After outbox.locations placed it at a commune: the event's own place wins.
    _place_status(status, event)


def _place_status(status: Status, event: Event) -> None:
    place = event_place(event)
    status.commune_insee = event.commune_insee
    status.latitude, status.longitude = event.latitude, event.longitude
    status.location_json = json.dumps(place) if place is not None else None
