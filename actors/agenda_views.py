"""The agenda as the website shows it: event cards (what a list, a map marker or the home page needs of
an event), the events of a period, the organisers one may filter by, and the participants an organiser
decides on.

Everything here reads. The agenda holds only events that have not ended (a federated event that is over
is history, not agenda); which events a visitor may see is `actors.events.agenda_query`'s rule (public
ones, from accounts neither suspended nor deleted), the same as the Mastodon API's `/api/v1/events` and
the iCalendar feeds, so the website never lists what those hide or the reverse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel import dates
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.events import AgendaFilter, Cursor, agenda_page, agenda_query, event_zone, in_zone
from actors.neighbourhood import known_communes
from fediverse.db import utcnow
from fediverse.models import Actor, Attachment, Event, Participation, Status

# A period (a month of a busy territory) is listed whole up to this many events, then cut with a notice.
MAX_PERIOD_EVENTS = 300
MAX_MAP_EVENTS = 300
MAX_ORGANISERS = 200
TERRITORY_ZONE = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class EventCard:
    """One event as a card shows it: title, when, where, who, picture and participation figures.

    `path` is its page on this site: the status permalink for a local event, `/events/<id>` for a
    federated one (which links on to `origin_url`, the page on its own server)."""

    event_id: int
    status_id: int
    uuid: str
    title: str
    path: str
    origin_url: str | None
    local: bool
    starts_at: datetime
    ends_at: datetime | None
    timezone: str
    event_status: str
    category: str
    place_name: str | None
    street: str | None
    postal_code: str | None
    locality: str | None
    commune_insee: str | None
    commune_name: str | None
    latitude: float | None
    longitude: float | None
    online_url: str | None
    external_url: str | None
    organiser_name: str
    organiser_handle: str
    organiser_path: str
    organiser_acct: str
    image_url: str | None
    image_full_url: str | None
    image_alt: str
    capacity: int | None
    participant_count: int
    join_mode: str

    # -- figures ------------------------------------------------------------------------------------

    @property
    def remaining(self) -> int | None:
        return max(self.capacity - self.participant_count, 0) if self.capacity is not None else None

    @property
    def full(self) -> bool:
        return self.remaining == 0

    @property
    def cancelled(self) -> bool:
        return self.event_status == "CANCELLED"

    @property
    def tentative(self) -> bool:
        return self.event_status == "TENTATIVE"

    @property
    def has_point(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    @property
    def ics_path(self) -> str:
        return f"/events/{self.event_id}.ics"

    @property
    def origin_host(self) -> str | None:
        if self.local or not self.origin_url:
            return None
        return self.origin_url.split("/")[2] if self.origin_url.count("/") >= 2 else None

    # -- where --------------------------------------------------------------------------------------

    @property
    def place_line(self) -> str:
        """"Salle des fêtes, Maen Roch": the place and its town, without saying the town twice."""
        town = self.commune_name or self.locality
        parts = [part for part in (self.place_name, town) if part]
        if len(parts) == 2 and parts[1].lower() in parts[0].lower():
            parts = parts[:1]
        return ", ".join(parts)

    @property
    def address_line(self) -> str:
        """"2 rue de l'Église, 35460 Maen Roch" from the parts that are known."""
        town = " ".join(part for part in (self.postal_code, self.locality or self.commune_name) if part)
        return ", ".join(part for part in (self.street, town) if part)

    @property
    def osm_url(self) -> str | None:
        if not self.has_point:
            return None
        return (f"https://www.openstreetmap.org/?mlat={self.latitude:.5f}&mlon={self.longitude:.5f}"
                f"#map=17/{self.latitude:.5f}/{self.longitude:.5f}")

    # -- when, in the page's language and the event's own time zone ---------------------------------

    @property
    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ValueError, KeyError):
            return TERRITORY_ZONE

    @property
    def local_start(self) -> datetime:
        return in_zone(self.starts_at, self.zone)

    @property
    def local_end(self) -> datetime | None:
        return in_zone(self.ends_at, self.zone) if self.ends_at is not None and self.ends_at > self.starts_at \
            else None

    @property
    def start_day(self) -> date:
        """The day it starts, in the territory's time (what groups the agenda by day)."""
        return in_zone(self.starts_at, TERRITORY_ZONE).date()

    def short_when(self, language: str) -> str:
        """"sam. 14 juin 2027, 20:00" (a card's line), with the end when it is the same day."""
        start = self.local_start
        text = f"{dates.format_skeleton('yMMMEd', start, locale=language)}, " \
               f"{dates.format_time(start, 'short', tzinfo=self.zone, locale=language)}"
        end = self.local_end
        if end is not None and end.date() == start.date():
            text += f" – {dates.format_time(end, 'short', tzinfo=self.zone, locale=language)}"
        elif end is not None:
            text += f" – {dates.format_skeleton('yMMMEd', end, locale=language)}, " \
                    f"{dates.format_time(end, 'short', tzinfo=self.zone, locale=language)}"
        return text

    def zone_name(self, language: str) -> str:
        """The zone's name at the start ("heure d’été d’Europe centrale"), as the page says it."""
        return dates.get_timezone_name(self.local_start, "long", locale=language)

    def start_date_text(self, language: str) -> str:
        return dates.format_date(self.local_start.date(), "full", locale=language)

    def start_time_text(self, language: str) -> str:
        return dates.format_time(self.local_start, "short", tzinfo=self.zone, locale=language)

    def end_date_text(self, language: str) -> str:
        end = self.local_end
        return dates.format_date(end.date(), "full", locale=language) if end is not None else ""

    def end_time_text(self, language: str) -> str:
        end = self.local_end
        return dates.format_time(end, "short", tzinfo=self.zone, locale=language) if end is not None else ""

    @property
    def same_day(self) -> bool:
        end = self.local_end
        return end is None or end.date() == self.local_start.date()


def _organiser_path(actor: Actor) -> str:
    """A local account's profile page here; a remote one's own page (or its id)."""
    if actor.domain is None:
        return f"/@{actor.username}"
    return actor.url or actor.uri


async def event_cards(session: AsyncSession, events: Sequence[Event], local_domain: str) -> list[EventCard]:
    """Cards for `events` (kept in their order), in four queries whatever their number."""
    if not events:
        return []
    status_ids = [event.status_id for event in events]
    statuses = {s.id: s for s in await session.scalars(select(Status).where(Status.id.in_(status_ids)))}
    actor_ids = {e.actor_id for e in events} | {e.attributed_to_id for e in events if e.attributed_to_id}
    actors = {a.id: a for a in await session.scalars(select(Actor).where(Actor.id.in_(actor_ids)))}
    images: dict[int, Attachment] = {}
    for attachment in await session.scalars(
            select(Attachment).where(Attachment.status_id.in_(status_ids), Attachment.kind == "image")
            .order_by(Attachment.position, Attachment.id)):
        images.setdefault(attachment.status_id or 0, attachment)
    communes = await known_communes(session) if any(e.commune_insee for e in events) else {}
    cards = []
    for event in events:
        status = statuses.get(event.status_id)
        organiser = actors.get(event.attributed_to_id or 0) or actors.get(event.actor_id)
        poster = actors.get(event.actor_id)
        if status is None or organiser is None or poster is None:
            continue
        image = images.get(status.id)
        commune = communes.get(event.commune_insee or "")
        path = f"/@{poster.username}/{status.id}" if event.local else f"/events/{event.id}"
        cards.append(EventCard(
            event_id=event.id, status_id=status.id, uuid=event.uuid, title=event.title or status.name or "",
            path=path, origin_url=None if event.local else (status.url or status.uri), local=event.local,
            starts_at=event.starts_at, ends_at=event.ends_at, timezone=event_zone(event).key,
            event_status=event.event_status, category=event.category, place_name=event.place_name,
            street=event.street, postal_code=event.postal_code, locality=event.locality,
            commune_insee=event.commune_insee, commune_name=commune.name if commune else None,
            latitude=event.latitude if event.longitude is not None else None,
            longitude=event.longitude if event.latitude is not None else None, online_url=event.online_url,
            external_url=event.external_url,
            organiser_name=organiser.display_name or organiser.username,
            organiser_handle=organiser.handle(local_domain), organiser_path=_organiser_path(organiser),
            organiser_acct=organiser.username if organiser.domain is None
            else f"{organiser.username}@{organiser.domain}",
            image_url=(image.preview_url or image.url) if image is not None else None,
            image_full_url=image.url if image is not None else None,
            image_alt=(image.description or "") if image is not None else "",
            capacity=event.capacity, participant_count=event.participant_count, join_mode=event.join_mode))
    return cards


# -- listings -----------------------------------------------------------------------------------------

async def upcoming_events(session: AsyncSession, f: AgendaFilter, *, after: Cursor | None = None,
                          limit: int = 20) -> list[Event]:
    """The next events (not yet ended), soonest first, a page at a time."""
    return await agenda_page(session, replace(f, start=None, end=None, past=False),
                             after=after, limit=limit)


async def period_events(session: AsyncSession, f: AgendaFilter, start: datetime, end: datetime, *,
                        now: datetime | None = None, limit: int = MAX_PERIOD_EVENTS) -> list[Event]:
    """The events of [start, end) that have not ended: those starting in it, and those that started
    before and still run (an exhibition over several weeks shows in each of them); soonest first."""
    now = now or utcnow()
    since = max(start, now)
    if since >= end:
        return []
    query = await agenda_query(session, replace(f, start=since, end=None, past=False))
    query = query.where(Event.starts_at < end).order_by(Event.starts_at, Event.id).limit(limit)
    return list((await session.scalars(query)).all())


async def mapped_events(session: AsyncSession, f: AgendaFilter, *, limit: int = MAX_MAP_EVENTS) -> list[Event]:
    """The upcoming events of the map page (with or without coordinates: the list beside it shows all)."""
    return await upcoming_events(session, f, limit=limit)


async def upcoming_organisers(session: AsyncSession, *, now: datetime | None = None) -> list[Actor]:
    """Accounts (people, associations, remote organisers) with an event still to come, by name: the
    choices of the agenda's organiser filter."""
    now = now or utcnow()
    query = await agenda_query(session, AgendaFilter(start=now))
    owner = func.coalesce(Event.attributed_to_id, Event.actor_id)
    ids = set((await session.scalars(query.with_only_columns(owner).distinct().limit(MAX_ORGANISERS))).all())
    if not ids:
        return []
    actors = (await session.scalars(select(Actor).where(Actor.id.in_(ids), Actor.suspended_at.is_(None),
                                                        Actor.deleted_at.is_(None)))).all()
    return sorted(actors, key=lambda actor: (actor.display_name or actor.username).casefold())


# -- one event -------------------------------------------------------------------------------------

async def shown_event(session: AsyncSession, event_id: int) -> tuple[Event, Status] | None:
    """An event whose page may be shown: its status public or unlisted, its organiser not suspended
    or deleted (the rule of `/events/<id>.ics`)."""
    row = (await session.execute(
        select(Event, Status).join(Status, Status.id == Event.status_id).join(Actor, Actor.id == Event.actor_id)
        .where(Event.id == event_id, Status.visibility.in_(("public", "unlisted")), Status.reblog_of_id.is_(None),
               Actor.suspended_at.is_(None), Actor.deleted_at.is_(None)))).first()
    return (row[0], row[1]) if row is not None else None


async def event_of_status(session: AsyncSession, status_id: int) -> Event | None:
    return await session.scalar(select(Event).where(Event.status_id == status_id))


@dataclass(frozen=True)
class ParticipantRow:
    """Someone taking part (or asking to), as the organiser's list shows them."""

    actor_id: int
    name: str
    handle: str
    path: str
    state: str
    message: str | None
    since: datetime


async def participants(session: AsyncSession, event_id: int, local_domain: str, *,
                       states: Sequence[str] = ("pending", "accepted")) -> list[ParticipantRow]:
    """The event's participants in `states`, oldest request first (who asked first is answered first)."""
    rows = (await session.execute(
        select(Participation, Actor).join(Actor, Actor.id == Participation.actor_id)
        .where(Participation.event_id == event_id, Participation.state.in_(list(states)))
        .order_by(Participation.created_at, Participation.id))).all()
    return [ParticipantRow(actor.id, actor.display_name or actor.username, actor.handle(local_domain),
                           _organiser_path(actor), row.state, row.message, row.created_at) for row, actor in rows]


async def participation_state(session: AsyncSession, event_id: int, actor_id: int) -> str | None:
    """"pending", "accepted", "rejected" or None: where this account stands with the event."""
    return await session.scalar(select(Participation.state).where(Participation.event_id == event_id,
                                                                  Participation.actor_id == actor_id))

