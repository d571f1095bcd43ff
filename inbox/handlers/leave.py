"""Leave (Mobilizon's way to stop taking part: `Leave {actor, object: <event>}`, never `Undo(Join)`):
the sender's participation in one of our events is removed and, if it was accepted, its place freed."""

from __future__ import annotations

from typing import Any

from inbox.context import ActivityIgnored, InboxContext
from inbox.handlers.join import joined_event_uri
from outbox.participation import ParticipationCommands, event_named


async def handle(ctx: InboxContext, activity: dict[str, Any]) -> None:
    uri = joined_event_uri(ctx, activity, "Leave")
    async with ctx.runtime.sessions() as session:
        named = await event_named(session, uri)
    if named is None:
        raise ActivityIgnored(f"Leave of {uri[:200]}, which is not one of our events")
    if not await ParticipationCommands(ctx.runtime).remote_leave(ctx.sender.id, named[0].id):
        raise ActivityIgnored("the sender was not taking part in this event")
