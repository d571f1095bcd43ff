"""Notifications as a page shows them: who did what, on which post, said precisely.

The stored kinds are Mastodon's (the apps read them); a page can say more: a `mention` is a reply to
one's post, a private message, or a request to take part in one's event (outbox.participation
notifies organisers that way); a follow request shows whether it still waits for an answer. Unread
means newer than the `notifications` read marker, the one the Mastodon apps move too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.status_views import StatusView, status_views
from actors.threads import readable_statuses
from actors.timelines import get_markers, set_markers
from fediverse.models import Actor, Event, Follow, Notification, Participation, Status

# Kinds whose notification is about a post: without a post the viewer may read, it is not shown.
STATUS_KINDS = frozenset({"favourite", "reblog", "status", "mention", "poll", "update"})


@dataclass
class NotificationView:
    """`kind` is the stored kind, or for a mention: "reply", "direct" or "participation"."""

    notification: Notification
    kind: str
    account: Actor
    status: StatusView | None = None
    unread: bool = False
    pending_request: bool = False
    event_title: str | None = None


async def last_read(session: AsyncSession, viewer_id: int) -> int:
    marker = (await get_markers(session, viewer_id, ["notifications"])).get("notifications")
    value = marker.last_read_id if marker is not None else ""
    return int(value) if value and value.isdigit() else 0


async def mark_all_read(session: AsyncSession, viewer_id: int) -> None:
    """Move the read marker to the newest notification (apps see them read too)."""
    newest = await session.scalar(select(func.max(Notification.id)).where(Notification.recipient_id == viewer_id))
    if newest:
        await set_markers(session, viewer_id, {"notifications": str(newest)})


async def notification_views(session: AsyncSession, viewer_id: int,
                             rows: Sequence[Notification]) -> list[NotificationView]:
    """Views of the viewer's notification rows, in order, in a fixed number of queries."""
    if not rows:
        return []
    marker = await last_read(session, viewer_id)
    actor_ids = {n.from_actor_id for n in rows}
    actors = {a.id: a for a in await session.scalars(select(Actor).where(Actor.id.in_(actor_ids)))}
    status_ids = {n.status_id for n in rows if n.status_id}
    statuses = list(await session.scalars(select(Status).where(Status.id.in_(status_ids)))) if status_ids else []
    readable = await readable_statuses(session, viewer_id, statuses)
    views = {v.id: v for v in await status_views(session, viewer_id, readable)}
    events = dict((await session.execute(select(Event.status_id, Event.id).where(
        Event.status_id.in_(list(views))))).all()) if views else {}
    titles = {v.id: v.title for v in views.values()}
    participants = set((await session.execute(select(Participation.event_id, Participation.actor_id).where(
        Participation.event_id.in_(list(events.values())), Participation.actor_id.in_(actor_ids)))).all()) \
        if events else set()
    pending = set((await session.scalars(select(Follow.follower_id).where(
        Follow.followee_id == viewer_id, Follow.state == "pending", Follow.follower_id.in_(actor_ids)))).all())
    result = []
    for row in rows:
        account = actors.get(row.from_actor_id)
        if account is None:
            continue
        status = views.get(row.status_id) if row.status_id else None
        if row.kind in STATUS_KINDS and status is None:
            continue
        kind = row.kind
        if kind == "mention" and status is not None:
            event_id = events.get(status.id)
            if event_id is not None and (event_id, account.id) in participants:
                kind = "participation"
            elif status.status.visibility == "direct":
                kind = "direct"
            elif status.status.in_reply_to_actor_id == viewer_id:
                kind = "reply"
        result.append(NotificationView(
            notification=row, kind=kind, account=account, status=status, unread=row.id > marker,
            pending_request=row.kind == "follow_request" and account.id in pending,
            event_title=titles.get(status.id) if status is not None and status.id in events else None))
    return result
