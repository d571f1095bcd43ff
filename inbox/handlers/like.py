"""Like (favourite) of a local post; likes of remote posts are not ours to count."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from actors.notify import bump, notify
from fediverse.as2 import id_of
from fediverse.db import insert_ignoring_conflicts
from fediverse.ids import new_id
from fediverse.models import Actor, Favourite, Status
from inbox.context import ActivityIgnored, InboxContext


async def handle(ctx: InboxContext, activity: dict[str, Any]) -> None:
    object_uri = id_of(activity.get("object"))
    if not object_uri or not ctx.runtime.uris.is_local(object_uri):
        raise ActivityIgnored("Like of an object that is not ours")
    async with ctx.transaction() as session:
        status = await session.scalar(select(Status).where(Status.uri == object_uri))
        if status is None or status.visibility == "direct" and not status.local:
            raise ActivityIgnored("Like of an unknown object")
        row = {"id": new_id(), "uri": ctx.activity_uri, "actor_id": ctx.sender.id, "status_id": status.id}
        inserted = (await session.execute(insert_ignoring_conflicts(session, Favourite.__table__, [row])
                                          .returning(Favourite.__table__.c.id))).scalar()
        if inserted is None:
            return
        await bump(session, Status, status.id, "favourites_count", 1)
        author = await session.get(Actor, status.actor_id)
        if author is not None:
            await notify(session, author, "favourite", ctx.sender.id, status.id)
