"""The agenda: the next events, or a day, a week or a month of them, with filters; the map; and (from
fediverse/web/agenda_events.py and fediverse/web/event_forms.py) the event pages and forms.

Local events and federated ones (neighbour instances, Mobilizon, Gancio) are listed together, soonest
first; an event that is over is history and leaves the agenda. Every listing offers the feeds a calendar
app or a feed reader subscribes to (iCalendar as https and webcal, RSS, Atom), for the same commune or
organiser when the agenda is narrowed to one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from babel import dates
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from actors import calendar
from actors.agenda_views import (
    EventCard,
    event_cards,
    mapped_events,
    period_events,
    upcoming_events,
    upcoming_organisers,
)
from actors.events import AgendaFilter, Cursor
from actors.neighbourhood import KnownCommune, known_communes
from fediverse.models.agenda import EVENT_CATEGORIES
from fediverse.runtime import Runtime
from fediverse.templating import translations
from fediverse.web import agenda_events, event_forms
from fediverse.web.agenda_events import event_page
from fediverse.web.agenda_query import AgendaRequest, read_agenda_request, today
from fediverse.web.auth import SignedIn, language_of, page, signed_in

__all__ = ["event_page", "routes", "upcoming_event_cards"]

PAGE_SIZE = 20


async def upcoming_event_cards(runtime: Runtime, limit: int, *, commune: str | None = None,
                               category: str | None = None) -> list[EventCard]:
    """The next `limit` public events (local and federated, not yet ended), soonest first, as cards for
    `templates/agenda/_macros.html` `event_card(card)`; optionally of one commune (INSEE) or category."""
    async with runtime.sessions() as session:
        events = await upcoming_events(session, AgendaFilter(commune=commune, category=category),
                                       limit=max(1, min(limit, 80)))
        return await event_cards(session, events, runtime.settings.domain)


@dataclass(frozen=True)
class DayGroup:
    """The events of one day of a listing, under its heading."""

    day: date
    label: str
    cards: list[EventCard]


def by_day(cards: list[EventCard], first: date, language: str) -> list[DayGroup]:
    """Cards under the day they start, an event that started earlier and still runs under `first`."""
    groups: dict[date, list[EventCard]] = {}
    for card in cards:
        groups.setdefault(max(card.start_day, first), []).append(card)
    return [DayGroup(day, dates.format_date(day, "full", locale=language), items)
            for day, items in sorted(groups.items())]


@dataclass(frozen=True)
class Feeds:
    """The subscription links of a listing."""

    ics: str
    webcal: str
    rss: str
    atom: str
    going_https: str | None
    going_webcal: str | None

    def alternates(self, gettext: Callable[[str], str]) -> list[tuple[str, str, str]]:
        return [("text/calendar", self.ics, gettext("Agenda (iCalendar)")),
                ("application/rss+xml", self.rss, gettext("Agenda (RSS)")),
                ("application/atom+xml", self.atom, gettext("Agenda (Atom)"))]


def feeds_of(runtime: Runtime, ask: AgendaRequest, viewer: SignedIn | None) -> Feeds:
    settings = runtime.settings
    organiser = ask.organizer_actor
    if organiser is not None and organiser.domain is None:
        ics_path = f"/@{organiser.username}/agenda.ics"
    elif ask.commune:
        ics_path = f"/communes/{ask.commune}/agenda.ics"
    else:
        ics_path = "/agenda.ics"
    query = "?" + urlencode({"commune": ask.commune}) if ask.commune else ""
    going_https = going_webcal = None
    if viewer is not None:
        path = calendar.going_path(viewer.person.username, calendar.going_token(settings, viewer.user.id))
        going_https, going_webcal = f"{settings.base_url}{path}", f"webcal://{settings.domain}{path}"
    return Feeds(ics=f"{settings.base_url}{ics_path}", webcal=f"webcal://{settings.domain}{ics_path}",
                 rss=f"{settings.base_url}/agenda.rss{query}", atom=f"{settings.base_url}/agenda.atom{query}",
                 going_https=going_https, going_webcal=going_webcal)


def _filter(ask: AgendaRequest) -> AgendaFilter:
    return AgendaFilter(category=ask.category or None, commune=ask.commune or None, q=ask.q or None,
                        organizer_id=ask.organizer_actor.id if ask.organizer_actor is not None else None)


def _commune_choices(known: dict[str, KnownCommune]) -> list[KnownCommune]:
    """Ours first, then the neighbours', each by name."""
    return sorted(known.values(), key=lambda c: (c.domain is not None, c.domain or "", c.name.casefold()))


async def _listing(request: Request) -> tuple[SignedIn | None, Runtime, str, AgendaRequest, dict[str, Any]]:
    """What the list and the map pages share: the visitor, the request understood, the filters' choices."""
    viewer = await signed_in(request)
    runtime: Runtime = request.app.state.runtime
    language = language_of(request, viewer)
    gettext = translations(language).gettext
    async with runtime.sessions() as session:
        known = await known_communes(session)
        ask = await read_agenda_request(session, request.query_params, known, runtime.settings.domain, gettext)
        organisers = await upcoming_organisers(session)
    feeds = feeds_of(runtime, ask, viewer)
    context: dict[str, Any] = {
        "ask": ask, "communes": _commune_choices(known), "categories": EVENT_CATEGORIES,
        "organisers": [(a.username if a.domain is None else f"{a.username}@{a.domain}",
                        a.display_name or a.username) for a in organisers],
        "feeds": feeds, "alternates": feeds.alternates(gettext),
        "commune_name": known[ask.commune].name if ask.commune else None,
        "organiser_name": (ask.organizer_actor.display_name or ask.organizer_actor.username)
        if ask.organizer_actor is not None else None,
    }
    return viewer, runtime, language, ask, context


async def agenda(request: Request) -> Response:
    viewer, runtime, language, ask, context = await _listing(request)
    period = ask.period
    async with runtime.sessions() as session:
        if period is not None:
            events = await period_events(session, _filter(ask), period.start, period.end)
            more = None
        else:
            events = await upcoming_events(session, _filter(ask), after=ask.cursor, limit=PAGE_SIZE)
            more = ask.url(cursor=str(Cursor.of(events[-1]))) if len(events) == PAGE_SIZE else None
        cards = await event_cards(session, events, runtime.settings.domain)
    first = max(period.first, today()) if period is not None else today()
    gettext = translations(language).gettext
    return page(request, "agenda/index.html", viewer, status_code=400 if ask.errors else 200,
                period=period, period_title=period.title(language) if period else None,
                groups=by_day(cards, first, language), more=more, count=len(cards), today=today(),
                done="deleted" if request.query_params.get("done") == "deleted" else None,
                og={"title": gettext("Agenda"), "description": gettext(
                    "Upcoming events: concerts, markets, meetings, sports and more, from the territory's "
                    "associations, residents and town halls.")},
                **context)


async def agenda_map(request: Request) -> Response:
    """The upcoming events on a map (Leaflet, from /static), and as a list of places that works without
    JavaScript or map tiles."""
    viewer, runtime, language, ask, context = await _listing(request)
    async with runtime.sessions() as session:
        events = await mapped_events(session, _filter(ask))
        cards = await event_cards(session, events, runtime.settings.domain)
    gettext = translations(language).gettext
    return page(request, "agenda/map.html", viewer, status_code=400 if ask.errors else 200, cards=cards,
                mapped=[card for card in cards if card.has_point],
                unmapped=[card for card in cards if not card.has_point],
                og={"title": gettext("Map of the agenda"),
                    "description": gettext("Where the upcoming events of the territory take place.")},
                **context)


routes: list[BaseRoute] = [
    Route("/agenda", agenda, methods=["GET"]),
    Route("/agenda/map", agenda_map, methods=["GET"]),
    *event_forms.routes,
    *agenda_events.routes,
]
