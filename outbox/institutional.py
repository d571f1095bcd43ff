"""Institutional messages of the collectivity: its public statuses highlighted for local residents.

A message is an ordinary public status of the collectivity account, so it reaches followers (and,
through `outbox.fanout`, neighbour instances) like any post; an `Announcement` row linked to it
makes apps show it in `/api/v1/announcements` and the web home page show it at the top. It is
born two ways:

- from any Mastodon app: a public status of the collectivity with a theme hashtag (#travaux,
  #alerte...) becomes one inside the transaction that publishes it (`record_institutional_message`,
  called by `outbox.fanout.after_publish`); #alerte/#urgent make it urgent. It ends after
  `URGENT_DURATION` (alerts) or `DEFAULT_DURATION` (actors.announcements);
- from `fediverse announcements create` (`publish_institutional_message`): the theme hashtag is
  added to the text when missing, and the administrator chooses the end (none: until deleted;
  urgent: `URGENT_DURATION`).

While active, the status is pinned on the collectivity's profile (featured collection, `Add`
sent to followers) unless `MAX_PINNED` statuses are pinned already; `expire_institutional_messages`
(a clock step) unpins ended ones. Deleting the status deletes its announcement (foreign key
cascade); editing it changes what residents read, since announcements show their status's text.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.announcements import (
    INSTITUTIONAL_KIND,
    URGENT_THEME,
    AnnouncementError,
    Moment,
    Themed,
    check_period,
    check_text,
    default_end,
    institutional_author,
    link_status,
    parse_theme,
    set_period,
    theme_named,
    themes_of,
)
from fediverse.db import utcnow
from fediverse.models import Actor, Announcement, FeaturedStatus, Status, StatusTag
from fediverse.runtime import Runtime
from fediverse.uris import PUBLIC
from fediverse.worker import run_loop
from outbox.audience import follower_inboxes
from outbox.compose import extract
from outbox.errors import CommandError
from outbox.limits import MAX_PINNED
from outbox.serializers import wrap

if TYPE_CHECKING:
    from outbox.command_base import CommandBase
    from outbox.commands import Outbox

log = logging.getLogger(__name__)
# An ended message stays pinned if the collectivity pins it again later than this after its end.
UNPIN_LOOKBACK = timedelta(days=7)
EXPIRY_POLL_SECONDS = 60.0
EXPIRY_BATCH = 50


async def _tags_in_order(session: AsyncSession, status: Status, domain: str) -> list[str]:
    """Hashtags in the order the author wrote them (the stored rows have no order)."""
    if status.source_text:
        return extract(status.source_text, domain)[1]
    return list((await session.scalars(select(StatusTag.name).where(StatusTag.status_id == status.id)
                                       .order_by(StatusTag.name))).all())


def _institutional(author: Actor, status: Status) -> bool:
    """A public post of the collectivity of its own (not a boost, not a reply to someone else)."""
    return (author.kind == INSTITUTIONAL_KIND and author.domain is None and status.visibility == "public"
            and status.reblog_of_id is None and status.in_reply_to_actor_id in (None, author.id))


async def record_institutional_message(cmd: CommandBase, session: AsyncSession, author: Actor,
                                       status: Status) -> None:
    """Inside the posting transaction: a themed public status of the collectivity becomes an
    announcement (ending by default, see the module docstring) and is pinned while active."""
    if not _institutional(author, status):
        return
    themed = themes_of(await _tags_in_order(session, status, cmd.runtime.settings.domain))
    if themed.theme is None:
        return
    await link_status(session, author, status, themed, ends_at=default_end(themed.urgent, status.published))
    await _feature(cmd, session, author, status)


async def _feature(cmd: CommandBase, session: AsyncSession, author: Actor, status: Status) -> bool:
    """Pin the status on the profile (as `Outbox.pin` does, in the caller's transaction) and say
    whether it is pinned; not when the profile holds `MAX_PINNED` pins: the limit is never exceeded."""
    pinned = await session.scalar(select(FeaturedStatus.id).where(
        FeaturedStatus.actor_id == author.id, FeaturedStatus.status_id == status.id))
    if pinned is not None:
        return True
    count = await session.scalar(select(func.count()).select_from(FeaturedStatus).where(
        FeaturedStatus.actor_id == author.id)) or 0
    if count >= MAX_PINNED:
        log.info("institutional message %s not pinned: %s already has %s pins", status.id, author.username, count)
        return False
    session.add(FeaturedStatus(actor_id=author.id, status_id=status.id))
    await session.flush()
    _, activity_uri = cmd._activity_uri(author)
    body = wrap("Add", activity_uri, author.uri, status.uri, to=[PUBLIC])
    body["target"] = author.featured_url
    await cmd._emit(session, author, body, await follower_inboxes(session, author.id), object_uri=status.uri)
    return True


@dataclass(frozen=True)
class Published:
    announcement: Announcement
    status: Status
    pinned: bool


def with_theme_hashtag(text: str, theme: str | None, domain: str) -> str:
    """The text with `#Theme` added on its own line, unless a hashtag of that theme is in it already."""
    if theme is None or any(theme_named(tag) == theme for tag in extract(text, domain)[1]):
        return text
    return f"{text}\n\n#{theme.capitalize()}"


async def publish_institutional_message(runtime: Runtime, author: str, text: str, *, theme: str | None = None,
                                        urgent: bool = False, until: Moment | None = None,
                                        now: datetime | None = None) -> Published:
    """Post `text` as a public status of the collectivity `author` (through the outbox, so it
    federates to followers and neighbours) and highlight it until `until`; without `until` an
    urgent message ends after `URGENT_DURATION`, another one when it is deleted.

    The theme is `theme`, else the first theme hashtag of the text, else `alerte` when urgent.
    """
    from outbox.commands import Outbox, StatusDraft  # the facade imports this module through fanout

    now = now or utcnow()
    body = check_text(text)
    check_period(None, until, now)
    domain = runtime.settings.domain
    chosen = parse_theme(theme) if theme else themes_of(extract(body, domain)[1]).theme
    if chosen is None and urgent:
        chosen = URGENT_THEME
    urgent = urgent or chosen == URGENT_THEME
    async with runtime.sessions() as session:
        actor = await institutional_author(session, author)
    outbox = Outbox(runtime)
    try:
        status = await outbox.post(actor.id, StatusDraft(text=with_theme_hashtag(body, chosen, domain),
                                                         visibility="public"))
    except CommandError as exc:
        raise AnnouncementError(str(exc)) from exc
    async with outbox._transaction() as session:
        author_row = await session.get(Actor, actor.id)
        status = await session.get(Status, status.id)
        if author_row is None or status is None:  # deleted in the meantime
            raise AnnouncementError("the status was deleted before it could be highlighted")
        row = await link_status(session, author_row, status, Themed(chosen, urgent), ends_at=None)
        row.theme, row.urgent = chosen, urgent
        set_period(row, None, until)
        if until is None and urgent:
            row.ends_at = default_end(True, status.published)
        pinned = await _feature(outbox, session, author_row, status)
        await session.flush()
    return Published(row, status, pinned)


async def withdraw_announcement(runtime: Runtime, announcement_id: int) -> bool:
    """Stop highlighting a message (its status stays, unpinned); False when there is no such one."""
    from outbox.commands import Outbox

    async with runtime.transaction() as session:
        row = await session.get(Announcement, announcement_id)
        if row is None:
            return False
        status_id, actor_id = row.status_id, row.actor_id
        await session.delete(row)
    if status_id is not None and actor_id is not None:
        await _unpin(Outbox(runtime), actor_id, status_id)
    return True


async def _unpin(outbox: Outbox, actor_id: int, status_id: int) -> bool:
    try:
        await outbox.pin(actor_id, status_id, pinned=False)
    except CommandError as exc:  # the account or the status went away meanwhile
        log.info("ended institutional message %s not unpinned: %s", status_id, exc)
        return False
    return True


async def expire_institutional_messages(runtime: Runtime, now: datetime | None = None) -> int:
    """Clock step: unpin the institutional messages that ended (they already left the
    announcements and the home page, whose queries hide ended ones). Returns how many."""
    from outbox.commands import Outbox

    now = now or utcnow()
    async with runtime.sessions() as session:
        ended = (await session.execute(
            select(FeaturedStatus.actor_id, FeaturedStatus.status_id)
            .join(Announcement, (Announcement.status_id == FeaturedStatus.status_id)
                  & (Announcement.actor_id == FeaturedStatus.actor_id))
            .where(Announcement.ends_at <= now, Announcement.ends_at > now - UNPIN_LOOKBACK)
            .order_by(Announcement.ends_at).limit(EXPIRY_BATCH))).all()
    outbox = Outbox(runtime)
    done = 0
    for actor_id, status_id in ended:
        done += await _unpin(outbox, actor_id, status_id)
    return done


async def run_institutional_expiry(runtime: Runtime, stopping: asyncio.Event) -> None:
    """Unpin ended institutional messages about once a minute (fediverse.app.start_workers runs this)."""

    async def step() -> int:
        return await expire_institutional_messages(runtime)

    await run_loop("institutional", step, runtime.wakeup_event("institutional"),
                   max(runtime.settings.worker_poll_seconds, EXPIRY_POLL_SECONDS), stopping)
