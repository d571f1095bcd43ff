"""The agenda as iCalendar (RFC 5545): one event, the whole agenda, one commune, one account, and a
resident's "I'm going" list, for calendar apps that subscribe to a URL (webcal) and refresh it.

Every output is deterministic for the same data (DTSTAMP is the event's last change, not the time of
the request), so the HTTP edge can answer a refresh with an ETag and a 304 instead of the whole file.
Times are written in the event's own zone with a VTIMEZONE generated from the system's zoneinfo,
so a calendar app shows 20:00 at the salle des fêtes whatever zone the phone is in.
The "I'm going" list is personal: its URL carries an HMAC of the user id derived from the instance's
secret key, so it can be pasted into a calendar app that cannot sign in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar, vDuration
from icalendar import Event as VEvent
from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.events import AgendaFilter, agenda_query
from actors.events import event_zone as zone_of
from actors.neighbourhood import KnownCommune, known_communes
from actors.territory import get_territory
from fediverse.config import Settings
from fediverse.db import utcnow
from fediverse.models import Actor, Attachment, Event, Participation, Status, StatusEdit, User
from fediverse.models.agenda import EVENT_STATUSES
from fediverse.sanitize import html_to_text

DEFAULT_ZONE = "Europe/Paris"
# Feeds keep the events of the last 30 days, so a subscriber still sees what happened last week.
AGENDA_HISTORY = timedelta(days=30)
MAX_FEED_EVENTS = 1000
MAX_TEXT = 10_000  # a huge description is cut: calendar apps choke on megabyte-long properties
PRODID = "-//fediverse-territoire//Agenda//FR"
REFRESH = timedelta(hours=1)
# Control characters (forbidden in iCalendar TEXT and XML), lone surrogates a JSON body may smuggle in
# (they cannot be encoded), and the two XML non-characters.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class AgendaItem:
    """One event with what its calendar entry and feed entry show: status, organiser, group, picture."""

    event: Event
    status: Status
    organiser: Actor
    group: Actor | None
    image: Attachment | None
    edits: int

    @property
    def modified(self) -> datetime:
        """The latest change of the event or its status (an edit of either changes the entry)."""
        times = [self.event.updated_at, self.event.created_at, self.status.updated, self.status.published]
        return max(moment for moment in times if moment is not None)

    @property
    def page_url(self) -> str:
        return self.status.url or self.status.uri

    @property
    def organiser_name(self) -> str:
        """The association it is attributed to when there is one (what Mobilizon shows), else the person."""
        actor = self.group or self.organiser
        return clean_text(actor.display_name) or actor.username


def clean_text(value: str | None, limit: int = MAX_TEXT) -> str:
    """Plain text without control characters (forbidden in iCalendar TEXT), cut at `limit`."""
    text = _CONTROL.sub("", value or "").strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def description_html(status: Status) -> str:
    """The event's own description: the wire `content` kept in extra_json (the status text our Mastodon API
    serves starts with the title and the date line, which SUMMARY and DTSTART already say)."""
    try:
        extra = json.loads(status.extra_json) if status.extra_json else {}
    except ValueError:
        extra = {}
    content = extra.get("content") if isinstance(extra, dict) else None
    return content if isinstance(content, str) else status.content


def description_of(item: AgendaItem) -> str:
    return clean_text(html_to_text(description_html(item.status)))


def place_text(event: Event) -> str:
    """"Salle des fêtes, 2 rue de l'Église, 35460 Maen Roch" from the parts that are known."""
    town = " ".join(part for part in (clean_text(event.postal_code, 16), clean_text(event.locality, 255)) if part)
    parts = [clean_text(event.place_name, 255), clean_text(event.street, 255), town]
    text = ", ".join(dict.fromkeys(part for part in parts if part))
    return text or clean_text(event.online_url, 2048)


def _ical_status(value: str | None) -> str:
    upper = (value or "").upper()
    return upper if upper in EVENT_STATUSES else "CONFIRMED"


def _geo(event: Event) -> tuple[float, float] | None:
    lat, lon = event.latitude, event.longitude
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return (lat, lon)


def _vevent(item: AgendaItem) -> VEvent:
    event, zone = item.event, zone_of(item.event)
    entry = VEvent()
    entry.add("uid", item.status.uri)
    entry.add("dtstamp", item.modified.astimezone(UTC))
    entry.add("created", item.status.published.astimezone(UTC))
    entry.add("last-modified", item.modified.astimezone(UTC))
    entry.add("sequence", item.edits)
    entry.add("dtstart", event.starts_at.astimezone(zone))
    if event.ends_at is not None and event.ends_at > event.starts_at:
        entry.add("dtend", event.ends_at.astimezone(zone))
    entry.add("summary", clean_text(event.title, 300) or clean_text(item.status.name, 300))
    description = description_of(item)
    if description:
        entry.add("description", description)
    location = place_text(event)
    if location:
        entry.add("location", location)
    geo = _geo(event)
    if geo is not None:
        entry.add("geo", geo)
    entry.add("url", item.page_url)
    entry.add("status", _ical_status(event.event_status))
    if event.category:
        entry.add("categories", [clean_text(event.category, 40)])
    organiser = item.group or item.organiser
    entry.add("organizer", organiser.url or organiser.uri, parameters={"CN": item.organiser_name})
    if item.image is not None:
        entry.add("image", item.image.url, parameters={"VALUE": "URI", "DISPLAY": "BADGE"})
    return entry


def _zone_range(items: Sequence[AgendaItem]) -> tuple[date, date]:
    """Years covering every event, so each VTIMEZONE holds the offsets its events need (and no more)."""
    moments = [item.event.starts_at for item in items] + [item.event.ends_at for item in items if item.event.ends_at]
    first = min(max(min(moments).year - 1, 1970), 2099)  # junk dates far off still get a valid range
    last = min(max(max(moments).year + 1, first + 1), 2100)
    return date(first, 1, 1), date(last, 12, 31)


def build_calendar(items: Sequence[AgendaItem], name: str, *, description: str | None = None) -> bytes:
    """A VCALENDAR to publish (METHOD:PUBLISH) with one VEVENT per item and the VTIMEZONEs they use."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", clean_text(name, 255))
    calendar.add("name", clean_text(name, 255))
    calendar.add("x-wr-timezone", DEFAULT_ZONE)
    if description:
        calendar.add("x-wr-caldesc", clean_text(description, 1000))
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(REFRESH))
    for item in items:
        calendar.add_component(_vevent(item))
    if items:
        first, last = _zone_range(items)
        calendar.add_missing_timezones(first_date=first, last_date=last)
    return calendar.to_ical()


# ---------------------------------------------------------------------------------------------
# Which events
# ---------------------------------------------------------------------------------------------


def _shown(query: Select[tuple[Event, Status, Actor]]) -> Select[tuple[Event, Status, Actor]]:
    """Events whose organiser may still be shown (not suspended or deleted)."""
    return query.where(Actor.suspended_at.is_(None), Actor.deleted_at.is_(None), Status.reblog_of_id.is_(None))


def _base() -> Select[tuple[Event, Status, Actor]]:
    return _shown(select(Event, Status, Actor).join(Status, Status.id == Event.status_id)
                  .join(Actor, Actor.id == Event.actor_id))


def agenda_since(now: datetime | None = None) -> datetime:
    return (now or utcnow()) - AGENDA_HISTORY


async def agenda_items(session: AsyncSession, *, since: datetime, commune_insee: str | None = None,
                       account_id: int | None = None, limit: int = MAX_FEED_EVENTS) -> list[AgendaItem]:
    """The agenda as GET /api/v1/events lists it (public events, local and remote, not yet ended), from
    `since` instead of now (an event without an end ends when it starts), soonest first; narrowed to
    one commune or to one account (organiser, or the association it is attributed to)."""
    query = await agenda_query(session, AgendaFilter(start=since, commune=commune_insee, organizer_id=account_id))
    rows = (await session.execute(query.add_columns(Status).where(Status.reblog_of_id.is_(None))
                                  .order_by(Event.starts_at, Event.id).limit(limit))).all()
    organiser_ids = {event.actor_id for event, _ in rows}
    organisers = await _actors(session, organiser_ids)
    return await _complete(session, [(event, status, organisers[event.actor_id]) for event, status in rows
                                     if event.actor_id in organisers])


async def going_items(session: AsyncSession, actor_id: int, *, since: datetime,
                      limit: int = MAX_FEED_EVENTS) -> list[AgendaItem]:
    """What one account is going to (participation accepted), from `since`: its followers-only events too,
    since the list is the participant's alone."""
    query = (_base().join(Participation, Participation.event_id == Event.id)
             .where(Participation.actor_id == actor_id, Participation.state == "accepted",
                    Status.visibility.in_(("public", "unlisted", "private")),
                    func.coalesce(Event.ends_at, Event.starts_at) >= since))
    rows = (await session.execute(query.order_by(Event.starts_at, Event.id).limit(limit))).all()
    return await _complete(session, rows)


async def _actors(session: AsyncSession, ids: set[int]) -> dict[int, Actor]:
    if not ids:
        return {}
    return {actor.id: actor for actor in await session.scalars(select(Actor).where(Actor.id.in_(ids)))}


def _event_key(key: str) -> object | None:
    """The column to look an event up by: its uuid (Mobilizon's), or a numeric id (event or status)."""
    if _UUID_RE.match(key):
        return Event.uuid.in_({key, key.lower()})
    if key.isdigit() and len(key) <= 19 and int(key) <= _MAX_ID:
        return or_(Event.id == int(key), Event.status_id == int(key))
    return None


async def event_item(session: AsyncSession, key: str) -> AgendaItem | None:
    """One public or unlisted event (what its page shows) by uuid, event id or status id; None otherwise."""
    clause = _event_key(key)
    if clause is None:
        return None
    rows = (await session.execute(_base().where(clause, Status.visibility.in_(("public", "unlisted")))
                                  .limit(1))).all()
    items = await _complete(session, rows)
    return items[0] if items else None


async def _complete(session: AsyncSession, rows: Iterable[tuple[Event, Status, Actor]]) -> list[AgendaItem]:
    """Groups, first pictures and edit counts of a page of events, in three queries whatever its size."""
    rows = list(rows)
    if not rows:
        return []
    status_ids = [status.id for _, status, _ in rows]
    groups = await _actors(session, {event.attributed_to_id for event, _, _ in rows if event.attributed_to_id})
    images: dict[int, Attachment] = {}
    for attachment in await session.scalars(
            select(Attachment).where(Attachment.status_id.in_(status_ids), Attachment.kind == "image")
            .order_by(Attachment.position, Attachment.id)):
        if attachment.status_id is not None:
            images.setdefault(attachment.status_id, attachment)
    edits = dict((await session.execute(
        select(StatusEdit.status_id, func.count()).where(StatusEdit.status_id.in_(status_ids))
        .group_by(StatusEdit.status_id))).all())
    return [AgendaItem(event, status, actor, groups.get(event.attributed_to_id or 0), images.get(status.id),
                       edits.get(status.id, 0)) for event, status, actor in rows]


# ---------------------------------------------------------------------------------------------
# Whose agenda: names and owners
# ---------------------------------------------------------------------------------------------


async def territory_name(session: AsyncSession, settings: Settings) -> str:
    territory = await get_territory(session)
    return (territory.name if territory else "") or settings.instance_name or settings.domain


async def known_commune(session: AsyncSession, insee: str) -> KnownCommune | None:
    """One of our communes or an accepted neighbour's (events there may be in our agenda)."""
    return (await known_communes(session)).get(insee.strip().upper())


async def local_account(session: AsyncSession, username: str) -> Actor | None:
    """A local account that has a public page (not the instance actor, not suspended or deleted)."""
    actor = await session.scalar(select(Actor).where(Actor.domain_key == "",
                                                     Actor.username_lower == username.lower()))
    if actor is None or actor.deleted_at or actor.suspended_at or actor.kind == "instance":
        return None
    return actor


async def user_of(session: AsyncSession, actor: Actor) -> User | None:
    return await session.scalar(select(User).where(User.actor_id == actor.id))


# ---------------------------------------------------------------------------------------------
# The "I'm going" token
# ---------------------------------------------------------------------------------------------


def _going_key(settings: Settings) -> bytes:
    """A key used only for these URLs, so the raw secret key is never an HMAC key elsewhere too."""
    return hashlib.sha256(f"going-feed|{settings.secret_key}".encode()).digest()


def going_token(settings: Settings, user_id: int) -> str:
    digest = hmac.new(_going_key(settings), f"going|{user_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def check_going_token(settings: Settings, user_id: int, token: str | None) -> bool:
    """Constant-time comparison; a missing or malformed token is simply wrong."""
    if not token or len(token) > 128:
        return False
    return hmac.compare_digest(going_token(settings, user_id).encode(), token.encode())


def going_path(username: str, token: str) -> str:
    return f"/@{username}/going.ics?token={token}"
