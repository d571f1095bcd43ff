"""Notifications and counters shared by the inbox (remote events) and the outbox (local ones)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.db import insert_ignoring_conflicts
from fediverse.events import queue_event
from fediverse.ids import new_id
from fediverse.models import Actor, ConversationMute, Notification, Status


async def notify(session: AsyncSession, recipient: Actor, kind: str, from_actor_id: int,
                 status_id: int | None = None) -> None:
    """Notify a local actor once (a replayed activity does not notify twice); nobody notifies themself."""
    if recipient.domain is not None or recipient.id == from_actor_id:
        return
    if status_id is not None and await _in_muted_conversation(session, recipient.id, status_id):
        return
    row = {"id": new_id(), "recipient_id": recipient.id, "kind": kind, "from_actor_id": from_actor_id,
           "status_id": status_id}
    stmt = insert_ignoring_conflicts(session, Notification.__table__, [row]).returning(Notification.__table__.c.id)
    if (await session.execute(stmt)).scalar() is not None:
        queue_event(session, "notification.created", id=row["id"], recipient_id=recipient.id)


async def bump(session: AsyncSession, model: type[Actor] | type[Status], row_id: int, column: str, delta: int) -> None:
    """Atomic counter change that never goes below zero (replays and races stay consistent)."""
    col = getattr(model, column)
    from sqlalchemy import case

    await session.execute(
        update(model).where(model.id == row_id)
        .values({column: case((col + delta < 0, 0), else_=col + delta)})
        .execution_options(synchronize_session=False)
    )


async def _in_muted_conversation(session: AsyncSession, recipient_id: int, status_id: int) -> bool:
    """Mastodon drops notifications from conversations the recipient muted."""
    status = await session.get(Status, status_id)
    if status is None:
        return False
    key = status.conversation_uri or status.uri
    return await session.scalar(select(ConversationMute.id).where(
        ConversationMute.actor_id == recipient_id, ConversationMute.conversation_uri == key).limit(1)) is not None
