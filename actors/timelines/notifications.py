"""The viewer's notifications, without those of muted or blocked accounts and muted conversations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.timelines.errors import Missing
from actors.timelines.filters import FilterSet
from actors.timelines.paging import Window, paginate
from actors.timelines.relations import Relations, load_relations
from fediverse.models import Actor, ConversationMute, Marker, Notification, Status

NOTIFICATION_TYPES = ("mention", "status", "reblog", "follow", "follow_request", "favourite", "poll", "update",
                      "admin.sign_up", "admin.report")


def notification_query(rel: Relations, *, types: Sequence[str] | None = None, exclude_types: Sequence[str] = (),
                       account_id: int | None = None) -> Select[Any]:
    """The viewer's notifications, without those of muted/blocked accounts or muted conversations."""
    query = (select(Notification).join(Actor, Actor.id == Notification.from_actor_id)
             .where(Notification.recipient_id == rel.viewer_id, Actor.suspended_at.is_(None),
                    Actor.deleted_at.is_(None)))
    if types is not None:  # only unknown types asked for: nothing matches
        query = query.where(Notification.kind.in_(list(types)))
    if exclude_types:
        query = query.where(Notification.kind.not_in(list(exclude_types)))
    if account_id is not None:
        query = query.where(Notification.from_actor_id == account_id)
    if rel.notification_hidden:
        query = query.where(Notification.from_actor_id.not_in(sorted(rel.notification_hidden)))
    if rel.mutes_conversations:
        muted = (select(Status.id).join(ConversationMute, ConversationMute.conversation_uri == Status.conversation_uri)
                 .where(ConversationMute.actor_id == rel.viewer_id, Status.id == Notification.status_id))
        query = query.where(or_(Notification.status_id.is_(None), ~muted.exists()))
    return query


async def notifications_page(session: AsyncSession, viewer_id: int, window: Window, *,
                             types: Sequence[str] | None = None, exclude_types: Sequence[str] = (),
                             account_id: int | None = None, filters: FilterSet | None = None) -> list[Notification]:
    rel = await load_relations(session, viewer_id)
    query = notification_query(rel, types=types, exclude_types=exclude_types, account_id=account_id)
    keep = None
    if filters:
        async def keep(rows: list[Notification]) -> list[Notification]:
            ids = [n.status_id for n in rows if n.status_id]
            statuses = list(await session.scalars(select(Status).where(Status.id.in_(ids)))) if ids else []
            visible = {s.id for s in await filters.keep(statuses)}
            return [n for n in rows if n.status_id is None or n.status_id in visible]
    return await paginate(session, query, Notification.id, window, lambda n: n.id, keep)


async def get_notification(session: AsyncSession, viewer_id: int, notification_id: int) -> Notification:
    rel = await load_relations(session, viewer_id)
    row = await session.scalar(notification_query(rel).where(Notification.id == notification_id))
    if row is None:
        raise Missing("Record not found")
    return row


async def dismiss_notification(session: AsyncSession, viewer_id: int, notification_id: int) -> None:
    result = await session.execute(delete(Notification).where(Notification.id == notification_id,
                                                              Notification.recipient_id == viewer_id))
    if not result.rowcount:
        raise Missing("Record not found")


async def clear_notifications(session: AsyncSession, viewer_id: int) -> None:
    await session.execute(delete(Notification).where(Notification.recipient_id == viewer_id))


async def unread_notifications(session: AsyncSession, viewer_id: int, *, limit: int = 100,
                               types: Sequence[str] | None = None, exclude_types: Sequence[str] = (),
                               account_id: int | None = None) -> int:
    """Notifications newer than the `notifications` marker, counted up to `limit` (Mastodon caps it)."""
    rel = await load_relations(session, viewer_id)
    query = notification_query(rel, types=types, exclude_types=exclude_types, account_id=account_id)
    marker = await session.scalar(select(Marker.last_read_id).where(Marker.actor_id == viewer_id,
                                                                    Marker.timeline == "notifications"))
    if marker and marker.isdigit():
        query = query.where(Notification.id > int(marker))
    limited = query.with_only_columns(Notification.id).limit(limit).subquery()
    return await session.scalar(select(func.count()).select_from(limited)) or 0
