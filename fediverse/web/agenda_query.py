"""What an agenda URL asks for (`/agenda?view=week&date=2027-06-14&commune=35257&category=MUSIC`), read and
checked, and the period it covers in the territory's time.

Views: `list` (the next events, page after page), `day`, `week` (Monday to Sunday) and `month`. Filters:
`commune` (an INSEE code of ours or of a neighbour instance), `category` (Mobilizon's), `organizer` (a
local username or user@domain) and `q` (words of the title or place). A bad value is reported by field
(the page answers 400 and lists the agenda without that filter), never ignored silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel import dates
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams

from actors.events import EARLIEST_YEAR, LATEST_AHEAD, AgendaError, Cursor, find_organizer
from actors.neighbourhood import KnownCommune
from fediverse.db import utcnow
from fediverse.models import Actor
from fediverse.models.agenda import EVENT_CATEGORIES

VIEWS = ("list", "day", "week", "month")
ZONE = ZoneInfo("Europe/Paris")
MAX_QUERY = 100
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def today() -> date:
    return utcnow().astimezone(ZONE).date()


def latest_day() -> date:
    return (utcnow() + LATEST_AHEAD).astimezone(ZONE).date()


@dataclass(frozen=True)
class Period:
    """The days a day/week/month view covers: [first, after) in local dates."""

    view: str
    first: date
    after: date

    @classmethod
    def around(cls, view: str, day: date) -> Period:
        if view == "day":
            return cls(view, day, day + timedelta(days=1))
        if view == "week":
            monday = day - timedelta(days=day.weekday())
            return cls(view, monday, monday + timedelta(days=7))
        first = day.replace(day=1)
        return cls(view, first, (first + timedelta(days=32)).replace(day=1))

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, ZONE)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.after, time.min, ZONE)

    @property
    def previous(self) -> date | None:
        """The day the previous period starts; None when it is over already (the agenda holds no past)."""
        if self.first <= today():
            return None
        return Period.around(self.view, self.first - timedelta(days=1)).first

    @property
    def next(self) -> date | None:
        return self.after if self.after <= latest_day() else None

    @property
    def is_past(self) -> bool:
        return self.after <= today()

    def title(self, language: str) -> str:
        """"samedi 14 juin 2027", "7 – 13 juin 2027", "juin 2027" in the page's language."""
        if self.view == "day":
            return dates.format_date(self.first, "full", locale=language)
        if self.view == "week":
            return dates.format_interval(self.first, self.after - timedelta(days=1), "yMMMd", locale=language)
        return dates.format_skeleton("yMMMM", self.first, locale=language)


@dataclass
class AgendaRequest:
    """The agenda URL's parameters as given (to refill the filters) and as understood."""

    view: str = "list"
    day: date = field(default_factory=today)
    commune: str = ""
    category: str = ""
    organizer: str = ""
    organizer_actor: Actor | None = None
    q: str = ""
    cursor: Cursor | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def period(self) -> Period | None:
        return Period.around(self.view, self.day) if self.view != "list" else None

    def filter_params(self) -> list[tuple[str, str]]:
        pairs = [("commune", self.commune), ("category", self.category), ("organizer", self.organizer),
                 ("q", self.q)]
        return [(key, value) for key, value in pairs if value]

    def url(self, path: str = "/agenda", *, view: str | None = None, day: date | None = None,
            **extra: str) -> str:
        """This agenda with another view, day or extra parameters, the filters kept."""
        view = view or self.view
        params: list[tuple[str, str]] = []
        if view != "list":
            params += [("view", view), ("date", (day or self.day).isoformat())]
        params += self.filter_params()
        params += [(key, value) for key, value in extra.items() if value]
        return path + ("?" + urlencode(params) if params else "")


async def read_agenda_request(session: AsyncSession, params: QueryParams, known: dict[str, KnownCommune],
                              local_domain: str, gettext: Callable[[str], str]) -> AgendaRequest:
    """The request as understood; each bad value leaves its filter off and an error (translated)."""
    result = AgendaRequest()
    view = params.get("view", "list")
    if view in VIEWS:
        result.view = view
    else:
        result.errors["view"] = gettext("Choose a view: list, day, week or month.")
    text = params.get("date", "").strip()
    if text:
        parsed = _date(text)
        if parsed is None:
            result.errors["date"] = gettext("The date must be written as YYYY-MM-DD.")
        elif not date(EARLIEST_YEAR, 1, 1) <= parsed <= latest_day():
            result.errors["date"] = gettext("This date is too far away.")
        else:
            result.day = parsed
    commune = params.get("commune", "").strip().upper()
    if commune:
        if commune in known:
            result.commune = commune
        else:
            result.errors["commune"] = gettext("This commune is not in the agenda.")
    category = params.get("category", "").strip().upper()
    if category:
        if category in EVENT_CATEGORIES:
            result.category = category
        else:
            result.errors["category"] = gettext("This category does not exist.")
    organizer = params.get("organizer", "").strip()[:300]
    if organizer:
        actor = await find_organizer(session, organizer, local_domain)
        if actor is not None and actor.deleted_at is None and actor.suspended_at is None:
            result.organizer, result.organizer_actor = organizer.lstrip("@"), actor
        else:
            result.errors["organizer"] = gettext("There is no such organiser.")
    result.q = " ".join(params.get("q", "").split())[:MAX_QUERY]
    cursor = params.get("cursor", "")
    if cursor and result.view == "list":
        try:
            result.cursor = Cursor.parse(cursor)
        except AgendaError:
            result.errors["cursor"] = gettext("This page of the agenda does not exist.")
    return result


def _date(text: str) -> date | None:
    if not _DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
