"""Join (Mobilizon's participation) of one of our events, and the answers to the Joins we sent.

A remote `Join {id, actor, object: <event>, participationMessage}` becomes a participation answered as
Mobilizon would (outbox/participation.py): `Accept` at once for a free event with places left, pending
for a restricted one until the organiser decides, `Reject` when full, cancelled, over or not joinable.
`answer_to_our_join` is asked first by the Accept and Reject handlers: an answer whose object is one of
our Joins (embedded or by id) settles that participation; anything else is left to the Follow logic.
"""

from __future__ import annotations

from typing import Any

from fediverse.as2 import id_of, type_of
from inbox.context import ActivityIgnored, ActivityRejected, InboxContext
from outbox.errors import CommandError
from outbox.participation import ParticipationCommands, event_named


def joined_event_uri(ctx: InboxContext, activity: dict[str, Any], kind: str) -> str:
    """The one event a Join or Leave names (an id, or an object with one); arrays are refused."""
    obj = activity.get("object")
    if isinstance(obj, list):
        raise ActivityRejected(f"{kind} must name one event, not a list")
    uri = id_of(obj)
    if uri is None:
        raise ActivityRejected(f"{kind} without an event")
    if not ctx.runtime.uris.is_local(uri):
        raise ActivityIgnored(f"{kind} of {uri[:200]}, which is not on this server")
    return uri


async def handle(ctx: InboxContext, activity: dict[str, Any]) -> None:
    uri = joined_event_uri(ctx, activity, "Join")
    async with ctx.runtime.sessions() as session:
        named = await event_named(session, uri)
    if named is None:
        raise ActivityRejected(f"Join of {uri[:200]}, which is not one of our events")
    event, _ = named
    try:
        state = await ParticipationCommands(ctx.runtime).answer_remote_join(
            ctx.sender.id, event.id, join_uri=ctx.activity_uri, message=activity.get("participationMessage"),
            received=activity)
    except CommandError as exc:
        raise ActivityRejected(str(exc)) from None
    if state == "rejected":
        raise ActivityIgnored("Join refused (Reject sent)")


async def answer_to_our_join(ctx: InboxContext, activity: dict[str, Any], *, accepted: bool) -> bool:
    """Whether this Accept/Reject answered one of our Joins (and was recorded)."""
    obj = activity.get("object")
    if isinstance(obj, list):
        return False
    if isinstance(obj, dict) and type_of(obj) not in ("Join", ""):
        return False
    join_uri = id_of(obj)
    actor_uri = id_of(obj.get("actor")) if isinstance(obj, dict) else None
    event_uri = id_of(obj.get("object")) if isinstance(obj, dict) else None
    if isinstance(obj, dict) and actor_uri is not None and not ctx.runtime.uris.is_local(actor_uri):
        return False
    try:
        return await ParticipationCommands(ctx.runtime).record_answer(
            ctx.sender.id, join_uri=join_uri, actor_uri=actor_uri, event_uri=event_uri, accepted=accepted)
    except CommandError as exc:
        raise ActivityRejected(str(exc)) from None
