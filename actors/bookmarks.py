"""Private, local-only marks on statuses: bookmarks and muted conversations.

Nothing here federates (Mastodon tells nobody either), so these are plain transactions rather
than outbox commands. Each is idempotent: bookmarking twice keeps one bookmark.
"""

from __future__ import annotations

from sqlalchemy import delete

from fediverse.db import insert_ignoring_conflicts
from fediverse.ids import new_id
from fediverse.models import Bookmark, ConversationMute, Status
from fediverse.runtime import Runtime


async def bookmark(runtime: Runtime, actor_id: int, status_id: int) -> None:
    async with runtime.transaction() as session:
        row = {"id": new_id(), "actor_id": actor_id, "status_id": status_id}
        await session.execute(insert_ignoring_conflicts(session, Bookmark.__table__, [row]))


async def unbookmark(runtime: Runtime, actor_id: int, status_id: int) -> None:
    async with runtime.transaction() as session:
        await session.execute(delete(Bookmark).where(Bookmark.actor_id == actor_id, Bookmark.status_id == status_id))


def conversation_of(status: Status) -> str:
    """The thread a status belongs to; a status from a server that sends no `conversation` is its own."""
    return status.conversation_uri or status.uri


async def mute_conversation(runtime: Runtime, actor_id: int, status: Status) -> None:
    """No more notifications from this thread (the notification code reads ConversationMute)."""
    async with runtime.transaction() as session:
        row = {"id": new_id(), "actor_id": actor_id, "conversation_uri": conversation_of(status)}
        await session.execute(insert_ignoring_conflicts(session, ConversationMute.__table__, [row]))


async def unmute_conversation(runtime: Runtime, actor_id: int, status: Status) -> None:
    async with runtime.transaction() as session:
        await session.execute(delete(ConversationMute).where(
            ConversationMute.actor_id == actor_id, ConversationMute.conversation_uri == conversation_of(status)))
