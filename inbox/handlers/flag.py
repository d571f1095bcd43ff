"""Flag: a report from another server about local accounts or posts, kept for the moderators."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from fediverse.as2 import ids_of, text_of
from fediverse.models import Actor, Report, Status
from inbox.context import ActivityIgnored, InboxContext


async def handle(ctx: InboxContext, activity: dict[str, Any]) -> None:
    uris = ctx.runtime.uris
    objects = [u for u in ids_of(activity.get("object"), limit=100) if uris.is_local(u)]
    if not objects:
        raise ActivityIgnored("report names nothing of ours")
    async with ctx.transaction() as session:
        if await session.scalar(select(Report.id).where(Report.uri == ctx.activity_uri)):
            return
        targets = (await session.scalars(select(Actor).where(Actor.uri.in_(objects), Actor.domain.is_(None)))).all()
        statuses = (await session.scalars(select(Status).where(Status.uri.in_(objects), Status.local))).all()
        target_ids = {a.id for a in targets} | {s.actor_id for s in statuses}
        if not target_ids:
            raise ActivityIgnored("report names nothing of ours")
        for target_id in target_ids:
            session.add(Report(
                uri=ctx.activity_uri if len(target_ids) == 1 else f"{ctx.activity_uri}#{target_id}",
                reporter_id=ctx.sender.id, target_id=target_id,
                comment=text_of(activity.get("content"), 5000),
                status_uris_json=json.dumps([s.uri for s in statuses if s.actor_id == target_id])))
