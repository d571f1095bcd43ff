"""The agenda: finding events, filtering and paging them, and the few words that say when and where.

An event is an `Event` status plus its `Event` row (fediverse/models/agenda.py); both local and remote
events are listed the same way. Times are stored in UTC; each event keeps its IANA zone so it is shown
(and federated, with the offset) in the time of the place it happens. The agenda is ordered by start
time; its cursor is `(starts_at, id)`, written `<unix seconds>_<event id>`, so pages never skip nor
repeat an event whatever is posted meanwhile.

Everything here reads; writing goes through `outbox.events` (local) and `inbox.events` (remote).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.neighbourhood import known_communes
from actors.territory import haversine_km
from actors.timelines.neighbourhood import within_km
from fediverse.db import utcnow
from fediverse.models import Actor, Event, Status

DEFAULT_TIMEZONE = "Europe/Paris"
EARLIEST_YEAR = 2000
# How far ahead an event may start (and end): anything later is a typo or junk.
LATEST_AHEAD = timedelta(days=5 * 366)
MAX_AGENDA_PAGE = 80
CURSOR_RE = re.compile(r"^(\d{1,12})_(\d{1,19})$")


class AgendaError(ValueError):
    """A filter that cannot be applied; the message is shown to the client (HTTP 422)."""


# -- lookups ----------------------------------------------------------------------------------------

async def find_event(session: AsyncSession, event_id: int) -> Event | None:
    return await session.get(Event, event_id)


async def event_for_status(session: AsyncSession, status_id: int) -> Event | None:
    return await session.scalar(select(Event).where(Event.status_id == status_id))


async def event_for_uri(session: AsyncSession, object_uri: str) -> Event | None:
    """The event whose status has this ActivityPub id (what a Join or a Leave names)."""
    return await session.scalar(select(Event).join(Status, Status.id == Event.status_id)
                                .where(Status.uri == object_uri))


# -- time zones and dates -----------------------------------------------------------------------------

def zone_named(name: str | None) -> ZoneInfo | None:
    """The IANA zone with this name, None for anything else (a path, an offset, junk)."""
    if not isinstance(name, str) or not name or len(name) > 64 or ".." in name or name.startswith("/"):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def event_zone(event: Event) -> ZoneInfo:
    return zone_named(event.timezone) or ZoneInfo(DEFAULT_TIMEZONE)


def in_zone(value: datetime, zone: ZoneInfo) -> datetime:
    """A stored (UTC) time as the wall-clock time of the event's zone."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone)


def iso_in_zone(value: datetime | None, zone: ZoneInfo) -> str | None:
    """ISO 8601 with the zone's offset, as Mobilizon writes `startTime` ("2025-06-14T20:00:00+02:00")."""
    return in_zone(value, zone).replace(microsecond=0).isoformat() if value is not None else None


def plausible(value: datetime, now: datetime | None = None) -> bool:
    """Not before 2000, not more than five years ahead: other dates are typos or hostile."""
    now = now or utcnow()
    return value.year >= EARLIEST_YEAR and value <= now + LATEST_AHEAD


# -- what Mastodon shows ------------------------------------------------------------------------------

def _clock(moment: datetime) -> str:
    return f"{moment.hour} h" if moment.minute == 0 else f"{moment.hour} h {moment.minute:02d}"


def when_text(event: Event, now: datetime | None = None) -> str:
    """"sam. 14 juin, 20 h" in the event's zone (French, Babel's abbreviated day and month names); the
    year is added when it is not the current one, the zone when it is not Paris's."""
    zone = event_zone(event)
    start = in_zone(event.starts_at, zone)
    current_year = in_zone(now or utcnow(), zone).year
    day = format_date(start.date(), "EEE d MMMM" if start.year == current_year else "EEE d MMMM y", locale="fr")
    text = f"{day}, {_clock(start)}"
    if event.ends_at is not None:
        end = in_zone(event.ends_at, zone)
        if end.date() == start.date() and end > start:
            text += f" à {_clock(end)}"
    if zone.key != DEFAULT_TIMEZONE:
        text += f" ({zone.key})"
    return text


def where_text(event: Event) -> str:
    """"Salle des fêtes, Maen Roch": place and locality, without repeating one in the other."""
    parts = [p for p in (event.place_name, event.locality) if p]
    if len(parts) == 2 and parts[1].lower() in parts[0].lower():
        parts = parts[:1]
    if not parts and event.online_url:
        return "en ligne"
    return ", ".join(parts)


def summary_line(event: Event, now: datetime | None = None) -> str:
    """The plain-text line other servers show under the title (Mastodon shows only name, summary and
    url of an Event): "sam. 14 juin, 20 h – Salle des fêtes, Maen Roch"; cancelled ones say so first."""
    line = when_text(event, now)
    where = where_text(event)
    if where:
        line += f" – {where}"
    if event.event_status == "CANCELLED":
        line = f"ANNULÉ – {line}"
    elif event.event_status == "TENTATIVE":
        line += " (à confirmer)"
    return line


def header_html(event: Event, link: str | None = None, now: datetime | None = None) -> str:
    """The title and summary line as the first paragraph of the status text our Mastodon API serves,
    so that apps show the date and place, not only the description; `link` to the origin's page."""
    text = f"<p><strong>{html.escape(event.title)}</strong><br>{html.escape(summary_line(event, now))}"
    if link:
        escaped = html.escape(link, quote=True)
        text += f'<br><a href="{escaped}" rel="nofollow noopener" target="_blank">{escaped}</a>'
    return text + "</p>"


# -- the agenda ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cursor:
    """Where a page of the agenda stops: the last event's start (whole seconds) and id."""

    starts_at: datetime
    event_id: int

    @classmethod
    def of(cls, event: Event) -> Cursor:
        return cls(in_zone(event.starts_at, ZoneInfo("UTC")), event.id)

    @classmethod
    def parse(cls, text: str) -> Cursor:
        match = CURSOR_RE.match(text.strip())
        if not match:
            raise AgendaError("cursor must be what a Link header gave (<seconds>_<id>)")
        try:
            moment = datetime.fromtimestamp(int(match.group(1)), UTC)
        except (OverflowError, OSError, ValueError):
            raise AgendaError("cursor is out of range") from None
        return cls(moment, int(match.group(2)))

    def __str__(self) -> str:
        return f"{int(self.starts_at.timestamp())}_{self.event_id}"


@dataclass(frozen=True)
class AgendaFilter:
    """What the agenda is asked for. Without `start`/`end`, upcoming events (not yet ended, or not yet
    started when they have no end); `past` asks for the ended ones instead, latest first."""

    start: datetime | None = None
    end: datetime | None = None
    past: bool = False
    category: str | None = None
    commune: str | None = None
    radius_km: float | None = None
    organizer_id: int | None = None
    q: str | None = None
    viewer_id: int | None = None


def _ends() -> ColumnElement[datetime]:
    return func.coalesce(Event.ends_at, Event.starts_at)


def _not_over(moment: datetime) -> ColumnElement[bool]:
    """Still running or to come at `moment`: `coalesce(ends_at, starts_at) >= moment`, written so that
    the indexes on starts_at and ends_at serve it (an event never ends before it starts)."""
    return or_(Event.starts_at >= moment, Event.ends_at >= moment)


async def _area(session: AsyncSession, f: AgendaFilter) -> ColumnElement[bool] | None:
    """The place filter: one commune, or everything within `radius_km` of a commune (ours or a
    neighbour's) or of the viewer's home commune; by commune code or, for events located only by a
    point (Mobilizon's addresses), by distance."""
    if f.radius_km is None:
        return Event.commune_insee == f.commune if f.commune else None
    known = await known_communes(session)
    centre_code = f.commune
    if centre_code is None:
        viewer = await session.get(Actor, f.viewer_id) if f.viewer_id is not None else None
        centre_code = viewer.commune_insee if viewer is not None and viewer.domain is None else None
        if centre_code is None:
            raise AgendaError("radius_km needs a commune, or a signed-in resident with a home commune")
    centre = known.get(centre_code)
    if centre is None:
        raise AgendaError(f"unknown commune {centre_code!r}: radius_km needs one of the known communes")
    codes = sorted(c.insee for c in known.values()
                   if haversine_km(centre.latitude, centre.longitude, c.latitude, c.longitude) <= f.radius_km)
    return or_(Event.commune_insee.in_(codes), within_km(centre.latitude, centre.longitude, f.radius_km))


async def agenda_query(session: AsyncSession, f: AgendaFilter, *, now: datetime | None = None) -> Select[tuple[Event]]:
    """The events matching `f` among public ones (the viewer also sees their own), by start time."""
    now = now or utcnow()
    readable = Status.visibility == "public"
    if f.viewer_id is not None:
        readable = or_(readable, Status.actor_id == f.viewer_id)
    query = (select(Event).join(Status, Status.id == Event.status_id).join(Actor, Actor.id == Status.actor_id)
             .where(readable, Actor.suspended_at.is_(None), Actor.deleted_at.is_(None)))
    if f.start is not None or f.end is not None:
        if f.start is not None:
            query = query.where(_not_over(f.start))
        if f.end is not None:
            query = query.where(Event.starts_at <= f.end)
    elif f.past:
        query = query.where(_ends() < now)
    else:
        query = query.where(_not_over(now))
    if f.category:
        query = query.where(Event.category == f.category)
    area = await _area(session, f)
    if area is not None:
        query = query.where(area)
    if f.organizer_id is not None:
        query = query.where(or_(Event.actor_id == f.organizer_id, Event.attributed_to_id == f.organizer_id))
    if f.q:
        needle = "%" + re.sub(r"[\\%_]", " ", f.q.lower()).strip() + "%"
        query = query.where(or_(func.lower(Event.title).like(needle), func.lower(Event.place_name).like(needle),
                                func.lower(Event.locality).like(needle)))
    return query


async def agenda_page(session: AsyncSession, f: AgendaFilter, *, after: Cursor | None = None,
                      limit: int = 20, now: datetime | None = None) -> list[Event]:
    """One page of the agenda: by start time (then id), latest first for `past`; `after` is the cursor
    of the last event of the previous page."""
    query = await agenda_query(session, f, now=now)
    descending = f.past and f.start is None and f.end is None
    if after is not None:
        if descending:
            query = query.where(or_(Event.starts_at < after.starts_at,
                                    and_(Event.starts_at == after.starts_at, Event.id < after.event_id)))
        else:
            query = query.where(or_(Event.starts_at > after.starts_at,
                                    and_(Event.starts_at == after.starts_at, Event.id > after.event_id)))
    order = (Event.starts_at.desc(), Event.id.desc()) if descending else (Event.starts_at.asc(), Event.id.asc())
    limit = max(1, min(limit, MAX_AGENDA_PAGE))
    return list((await session.scalars(query.order_by(*order).limit(limit))).all())


async def find_organizer(session: AsyncSession, value: str, local_domain: str) -> Actor | None:
    """An account by id, `username` (local) or `user@domain`, for the `organizer` filter."""
    text = value.strip().lstrip("@")
    if text.isascii() and text.isdigit() and len(text) <= 19:
        return await session.get(Actor, int(text))
    user, _, domain = text.partition("@")
    domain_key = "" if not domain or domain.lower() == local_domain.lower() else domain.lower()
    return await session.scalar(select(Actor).where(Actor.username_lower == user.lower(),
                                                    Actor.domain_key == domain_key))
