"""Create: a new remote post; the object must be embedded, by the sender, on the sender's host.

Once stored, a post addressed to a local interest group by one of its members is re-shared by the
group (FEP-1b12, outbox/groups.py)."""

from __future__ import annotations

from typing import Any

from fediverse.as2 import id_of
from inbox.context import ActivityRejected, InboxContext
from inbox.objects import store_remote_status
from outbox.groups import reshare_remote_post
from outbox.rsvp import rsvp_from_remote_reply


async def handle(ctx: InboxContext, activity: dict[str, Any]) -> None:
    obj = activity.get("object")
    if isinstance(obj, str):
        # Only a reference: fetch it from its origin (which must be the sender's host).
        ctx.require_same_host(id_of(obj), "object id")
        obj = await ctx.resolver.fetch_document(obj)
    if not isinstance(obj, dict):
        raise ActivityRejected("Create without an object")
    status = await store_remote_status(ctx, obj, activity_uri=ctx.activity_uri)
    await reshare_remote_post(ctx.outbox, status.id)
    await rsvp_from_remote_reply(ctx.runtime, status.id)  # a reply to one of our events may join or leave it
