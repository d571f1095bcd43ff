"""Institutional messages of the collectivity: road works, water cuts, youth activities, alerts.

An institutional message is a public status of the collectivity's account (kind "collectivity")
with an `Announcement` row that highlights it for local residents: Mastodon apps show it above the
home timeline (`GET /api/v1/announcements`), the web home page shows it at the top, urgent ones
first, until it ends. The status itself federates like any post (outbox.institutional writes it
and links the row; deleting the status deletes the row by the foreign key's cascade). Each
reader may dismiss one (`AnnouncementRead`), which apps show as read.

A message has at most one theme (THEMES, from its first theme hashtag); `alerte` means urgent.
Rows without a status (`create_announcement` without `status_id`) are notices of the instance
that nothing federates; apps show them the same way.

Dates typed by an administrator are read in the territory's time zone: "until 2025-06-01"
means until the end of that day in France, not in UTC.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.accounts import find_local_actor
from fediverse.db import insert_ignoring_conflicts, utcnow
from fediverse.ids import new_id
from fediverse.models import Actor, Announcement, AnnouncementRead, Status
from fediverse.sanitize import text_to_html

# The communes this server is made for are in metropolitan France.
TERRITORY_TIMEZONE = ZoneInfo("Europe/Paris")
MAX_TEXT = 5000
LAST_SECOND = time(23, 59, 59)
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")

# The themes of institutional messages, written as hashtags without accents (#travaux, #sante).
THEMES = ("jeunesse", "emploi", "logement", "travaux", "alerte", "culture", "environnement", "mobilite", "sante",
          "securite")
URGENT_THEME = "alerte"
# Other hashtags that mean the same as a theme (#urgent is an alert).
THEME_ALIASES = {"urgent": URGENT_THEME, "urgence": URGENT_THEME}
# Without an explicit end (posted from an app), an alert is highlighted for 3 days, other messages
# for 30 days; both end earlier when the status is deleted.
URGENT_DURATION = timedelta(hours=72)
DEFAULT_DURATION = timedelta(days=30)
INSTITUTIONAL_KIND = "collectivity"


class AnnouncementError(ValueError):
    """An announcement that cannot be made as asked; the message says why (shown to the admin)."""


@dataclass(frozen=True)
class Moment:
    """A point in time typed by an administrator, and whether it was a whole day (no time given)."""

    at: datetime
    whole_day: bool


def parse_moment(text: str, *, end_of_day: bool, tz: ZoneInfo = TERRITORY_TIMEZONE) -> Moment:
    """`YYYY-MM-DD` or an ISO datetime. A bare date means the start of that day, or with
    `end_of_day` its last second; a datetime without offset is read in the territory's zone."""
    value = (text or "").strip()
    if not value:
        raise AnnouncementError("a date is required (YYYY-MM-DD or an ISO date and time)")
    if _DATE_ONLY.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise AnnouncementError(f"invalid date {value!r}: no such day") from None
        local = datetime.combine(day, LAST_SECOND if end_of_day else time.min, tz)
        return Moment(local.astimezone(UTC), True)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise AnnouncementError(
            f"invalid date {value!r}: expected YYYY-MM-DD or an ISO date and time (2025-06-01T18:00)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return Moment(parsed.astimezone(UTC), False)


def _fold(name: str) -> str:
    """A hashtag compared the way residents type it: #Santé, #sante and #SANTE are one theme."""
    decomposed = unicodedata.normalize("NFKD", name.strip().lstrip("#"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def theme_named(name: str) -> str | None:
    """The theme a hashtag (or a --theme value) stands for, or None."""
    folded = _fold(name)
    folded = THEME_ALIASES.get(folded, folded)
    return folded if folded in THEMES else None


def parse_theme(name: str) -> str:
    """A theme given by an administrator; an unknown one is refused with the list of themes."""
    theme = theme_named(name)
    if theme is None:
        raise AnnouncementError(f"unknown theme {name!r}: one of {', '.join(THEMES)}")
    return theme


@dataclass(frozen=True)
class Themed:
    """What the hashtags of a status say: its theme (the first theme hashtag) and whether it is urgent."""

    theme: str | None
    urgent: bool


def themes_of(tags: Iterable[str]) -> Themed:
    """Theme of a status from its hashtags in order of appearance; #alerte (or #urgent) anywhere is urgent."""
    found = [t for t in (theme_named(tag) for tag in tags) if t is not None]
    return Themed(found[0] if found else None, URGENT_THEME in found)


def default_end(urgent: bool, now: datetime) -> datetime:
    return now + (URGENT_DURATION if urgent else DEFAULT_DURATION)


async def institutional_author(session: AsyncSession, username: str) -> Actor:
    """The collectivity account that signs institutional messages; any other account is refused."""
    actor = await find_local_actor(session, username.strip().removeprefix("@"))
    if actor is None or actor.suspended_at is not None or actor.deleted_at is not None:
        raise AnnouncementError(f"no local account named {username!r}")
    if actor.kind != INSTITUTIONAL_KIND:
        raise AnnouncementError(f"{actor.username} is a {actor.kind} account: institutional messages are posted "
                                f"by a {INSTITUTIONAL_KIND} account")
    return actor


def check_text(text: str) -> str:
    body = (text or "").strip()
    if not body:
        raise AnnouncementError("the announcement text is empty")
    if len(body) > MAX_TEXT:
        raise AnnouncementError(f"the announcement text is limited to {MAX_TEXT} characters")
    return body


def check_period(starts_at: Moment | None, ends_at: Moment | None, now: datetime) -> None:
    if ends_at is not None and ends_at.at <= now:
        raise AnnouncementError("the end date is already past")
    if starts_at is not None and ends_at is not None and starts_at.at >= ends_at.at:
        raise AnnouncementError("the announcement must start before it ends")


def set_period(row: Announcement, starts_at: Moment | None, ends_at: Moment | None) -> None:
    """`all_day` is set when the given dates are whole days, so apps show dates without times."""
    given = [m for m in (starts_at, ends_at) if m is not None]
    row.all_day = bool(given) and all(m.whole_day for m in given)
    row.starts_at = starts_at.at if starts_at else None
    row.ends_at = ends_at.at if ends_at else None


async def create_announcement(session: AsyncSession, author: str, text: str, *, urgent: bool = False,
                              starts_at: Moment | None = None, ends_at: Moment | None = None,
                              theme: str | None = None, now: datetime | None = None) -> Announcement:
    """A notice of the collectivity `author` (a username) not tied to a status, published at once."""
    now = now or utcnow()
    body = check_text(text)
    actor = await institutional_author(session, author)
    check_period(starts_at, ends_at, now)
    row = Announcement(actor_id=actor.id, text=body, content=text_to_html(body), theme=theme,
                       urgent=urgent or theme == URGENT_THEME, published_at=now, updated_at=now)
    set_period(row, starts_at, ends_at)
    session.add(row)
    await session.flush()
    return row


async def link_status(session: AsyncSession, author: Actor, status: Status, themed: Themed, *,
                      ends_at: datetime | None) -> Announcement:
    """The announcement that highlights `status` (created, or the existing one returned unchanged)."""
    existing = await session.scalar(select(Announcement).where(Announcement.status_id == status.id))
    if existing is not None:
        return existing
    row = Announcement(actor_id=author.id, status_id=status.id, theme=themed.theme, urgent=themed.urgent,
                       text=status.source_text or "", content=status.content, all_day=False, ends_at=ends_at,
                       published_at=status.published, updated_at=status.published)
    session.add(row)
    await session.flush()
    return row


@dataclass(frozen=True)
class Shown:
    """An announcement as readers see it: the text of its status when it has one (so an edit of the
    status shows at once), its author and, for one reader, whether they dismissed it."""

    row: Announcement
    status: Status | None
    author: Actor | None
    read: bool = False

    @property
    def content(self) -> str:
        return self.status.content if self.status is not None else self.row.content

    @property
    def text(self) -> str:
        if self.status is not None and self.status.source_text is not None:
            return self.status.source_text
        return self.row.text

    @property
    def ends_local(self) -> str | None:
        """The end as French readers write it (31/12/2099, with the time unless it is a whole day)."""
        if self.row.ends_at is None:
            return None
        local = self.row.ends_at.astimezone(TERRITORY_TIMEZONE)
        return local.strftime("%d/%m/%Y" if self.row.all_day else "%d/%m/%Y %H:%M")

    @property
    def updated_at(self) -> datetime:
        if self.status is not None:
            return self.status.updated or self.status.published
        return self.row.updated_at


def _active(now: datetime) -> list[ColumnElement[bool]]:
    """Published and not ended yet (an announcement of a coming event shows before it starts)."""
    return [Announcement.published_at <= now, or_(Announcement.ends_at.is_(None), Announcement.ends_at > now)]


def _display_order() -> list[Any]:
    """Urgent first, then the newest."""
    return [Announcement.urgent.desc(), Announcement.published_at.desc(), Announcement.id.desc()]


def _shown() -> Any:
    return (select(Announcement, Status, Actor).outerjoin(Status, Status.id == Announcement.status_id)
            .outerjoin(Actor, Actor.id == Announcement.actor_id))


async def active_announcements(session: AsyncSession, viewer_id: int | None, *, with_dismissed: bool = True,
                               now: datetime | None = None, limit: int | None = None) -> list[Shown]:
    """The announcements shown now, urgent first, each with whether the reader dismissed it
    (`viewer_id` None: an anonymous visitor of the web home page, nothing dismissed).

    Mastodon returns dismissed ones too (apps show them as read); `with_dismissed=False` leaves
    them out.
    """
    query = _shown().where(*_active(now or utcnow()))
    if viewer_id is not None:
        dismissed = exists().where(AnnouncementRead.announcement_id == Announcement.id,
                                   AnnouncementRead.actor_id == viewer_id)
        query = query.add_columns(dismissed.label("read"))
        if not with_dismissed:
            query = query.where(~dismissed)
    query = query.order_by(*_display_order())
    if limit is not None:
        query = query.limit(limit)
    rows = (await session.execute(query)).all()
    return [Shown(row[0], row[1], row[2], bool(row[3]) if viewer_id is not None else False) for row in rows]


async def all_announcements(session: AsyncSession, *, include_ended: bool = False,
                            now: datetime | None = None) -> list[Shown]:
    """Announcements with their author, for administrators (the ended ones too on request)."""
    query = _shown()
    if not include_ended:
        query = query.where(*_active(now or utcnow()))
    rows = (await session.execute(query.order_by(*_display_order()))).all()
    return [Shown(row, status, actor) for row, status, actor in rows]


async def get_announcement(session: AsyncSession, announcement_id: int) -> Announcement | None:
    return await session.get(Announcement, announcement_id)


async def dismiss_announcement(session: AsyncSession, viewer_id: int, announcement_id: int) -> bool:
    """Mark an announcement read for one reader (again: no error); False when it does not exist."""
    if await get_announcement(session, announcement_id) is None:
        return False
    await session.execute(insert_ignoring_conflicts(session, AnnouncementRead.__table__, [
        {"id": new_id(), "actor_id": viewer_id, "announcement_id": announcement_id}]))
    return True


async def delete_announcement(session: AsyncSession, announcement_id: int) -> bool:
    """Stop highlighting an announcement (a mistake, a cancelled event); its status, if any, stays
    (deleting the status withdraws it everywhere). False when it does not exist."""
    result = await session.execute(delete(Announcement).where(Announcement.id == announcement_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def local_text(value: datetime | None, whole_day: bool, tz: ZoneInfo = TERRITORY_TIMEZONE) -> str:
    """A moment as an administrator reads it: in the territory's time zone, the date alone for whole days."""
    if value is None:
        return "-"
    local = value.astimezone(tz)
    return local.date().isoformat() if whole_day else local.strftime("%Y-%m-%d %H:%M")


def describe_period(row: Announcement) -> str:
    return f"{local_text(row.starts_at, row.all_day)} -> {local_text(row.ends_at, row.all_day)}"
