"""Update: a remote actor refreshing its profile, or an author editing a post."""

from __future__ import annotations

from typing import Any

from actors.remote import ActorError, actor_fields_from_document, upsert_remote_actor
from fediverse.as2 import ACTOR_TYPES, OBJECT_TYPES, id_of, type_of
from inbox.context import ActivityIgnored, ActivityRejected, InboxContext
from inbox.objects import update_remote_status


async def handle(ctx: InboxContext, activity: dict[str, Any]) -> None:
    obj = activity.get("object")
    if not isinstance(obj, dict):
        raise ActivityRejected("Update needs an embedded object")
    if type_of(obj) in ACTOR_TYPES:
        if id_of(obj) != ctx.sender.uri:
            raise ActivityRejected("an actor can only update itself")
        try:
            fields = actor_fields_from_document(obj, ctx.runtime.uris, expected_host=ctx.sender_host)
        except ActorError as exc:
            raise ActivityRejected(str(exc)) from exc
        async with ctx.transaction() as session:
            await upsert_remote_actor(session, fields, obj)
        if fields.get("public_key_id"):
            ctx.runtime.key_cache.pop(fields["public_key_id"], None)
        return
    if type_of(obj) in OBJECT_TYPES:
        await update_remote_status(ctx, obj)
        return
    raise ActivityIgnored(f"Update of {type_of(obj) or 'unknown'} is not handled")
