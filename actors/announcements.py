"""Institutional announcements of the collectivity: road works, water cuts, council meetings.

An administrator posts them from a local account (usually the collectivity's) with the
`fediverse announcements` command; Mastodon apps show them above the home timeline
(`GET /api/v1/announcements`) until they end, urgent ones first. Each reader may dismiss one
(`AnnouncementRead`), which apps show as read. They are local to the instance: nothing here
federates.

Dates typed by an administrator are read in the territory's time zone: "until 2025-06-01"
means until the end of that day in France, not in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.accounts import find_local_actor
from fediverse.db import insert_ignoring_conflicts, utcnow
from fediverse.ids import new_id
from fediverse.models import Actor, Announcement, AnnouncementRead
from fediverse.sanitize import text_to_html

# The communes this server is made for are in metropolitan France.
TERRITORY_TIMEZONE = ZoneInfo("Europe/Paris")
MAX_TEXT = 5000
LAST_SECOND = time(23, 59, 59)
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


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


async def create_announcement(session: AsyncSession, author: str, text: str, *, urgent: bool = False,
                              starts_at: Moment | None = None, ends_at: Moment | None = None,
                              now: datetime | None = None) -> Announcement:
    """A new announcement from the local account `author` (a username), published at once.

    `all_day` is set when the given dates are whole days, so apps show dates without times.
    """
    now = now or utcnow()
    body = (text or "").strip()
    if not body:
        raise AnnouncementError("the announcement text is empty")
    if len(body) > MAX_TEXT:
        raise AnnouncementError(f"the announcement text is limited to {MAX_TEXT} characters")
    actor = await find_local_actor(session, author.strip().removeprefix("@"))
    if actor is None or actor.suspended_at is not None or actor.deleted_at is not None:
        raise AnnouncementError(f"no local account named {author!r}")
    if ends_at is not None and ends_at.at <= now:
        raise AnnouncementError("the end date is already past")
    if starts_at is not None and ends_at is not None and starts_at.at >= ends_at.at:
        raise AnnouncementError("the announcement must start before it ends")
    given = [m for m in (starts_at, ends_at) if m is not None]
    row = Announcement(actor_id=actor.id, text=body, content=text_to_html(body), urgent=urgent,
                       all_day=bool(given) and all(m.whole_day for m in given),
                       starts_at=starts_at.at if starts_at else None, ends_at=ends_at.at if ends_at else None,
                       published_at=now, updated_at=now)
    session.add(row)
    await session.flush()
    return row


def _active(now: datetime) -> list[ColumnElement[bool]]:
    """Published and not ended yet (an announcement of a coming event shows before it starts)."""
    return [Announcement.published_at <= now, or_(Announcement.ends_at.is_(None), Announcement.ends_at > now)]


def _display_order() -> list[Any]:
    """Urgent first, then the newest."""
    return [Announcement.urgent.desc(), Announcement.published_at.desc(), Announcement.id.desc()]


async def active_announcements(session: AsyncSession, viewer_id: int, *, with_dismissed: bool = True,
                               now: datetime | None = None) -> list[tuple[Announcement, bool]]:
    """The announcements a reader sees now, each with whether the reader dismissed it.

    Mastodon returns dismissed ones too (apps show them as read); `with_dismissed=False` leaves
    them out.
    """
    dismissed = exists().where(AnnouncementRead.announcement_id == Announcement.id,
                               AnnouncementRead.actor_id == viewer_id)
    query = select(Announcement, dismissed.label("read")).where(*_active(now or utcnow()))
    if not with_dismissed:
        query = query.where(~dismissed)
    rows = await session.execute(query.order_by(*_display_order()))
    return [(row, bool(read)) for row, read in rows.all()]


async def all_announcements(session: AsyncSession, *, include_ended: bool = False,
                            now: datetime | None = None) -> list[tuple[Announcement, Actor | None]]:
    """Announcements with their author, for administrators (the ended ones too on request)."""
    query = select(Announcement, Actor).outerjoin(Actor, Actor.id == Announcement.actor_id)
    if not include_ended:
        query = query.where(*_active(now or utcnow()))
    rows = await session.execute(query.order_by(*_display_order()))
    return [(row, actor) for row, actor in rows.all()]


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
    """Withdraw an announcement (a mistake, a cancelled event); False when it does not exist."""
    result = await session.execute(delete(Announcement).where(Announcement.id == announcement_id))
    return bool(result.rowcount)


def local_text(value: datetime | None, whole_day: bool, tz: ZoneInfo = TERRITORY_TIMEZONE) -> str:
    """A moment as an administrator reads it: in the territory's time zone, the date alone for whole days."""
    if value is None:
        return "-"
    local = value.astimezone(tz)
    return local.date().isoformat() if whole_day else local.strftime("%Y-%m-%d %H:%M")


def describe_period(row: Announcement) -> str:
    return f"{local_text(row.starts_at, row.all_day)} -> {local_text(row.ends_at, row.all_day)}"
