"""Read markers of the home timeline and notifications; each save increments a version."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from actors.timelines.errors import TimelineError
from fediverse.db import insert_ignoring_conflicts, utcnow
from fediverse.ids import new_id
from fediverse.models import Marker

MARKER_TIMELINES = ("home", "notifications")


async def get_markers(session: AsyncSession, viewer_id: int, timelines: Iterable[str]) -> dict[str, Marker]:
    wanted = [t for t in timelines if t in MARKER_TIMELINES]
    if not wanted:
        return {}
    rows = await session.scalars(select(Marker).where(Marker.actor_id == viewer_id, Marker.timeline.in_(wanted)))
    return {m.timeline: m for m in rows}


async def set_markers(session: AsyncSession, viewer_id: int, positions: dict[str, str]) -> dict[str, Marker]:
    """Move markers; each save increments `version` (atomically, whatever the concurrency)."""
    for timeline, last_read_id in positions.items():
        if timeline not in MARKER_TIMELINES:
            continue
        if not last_read_id or not str(last_read_id).isdigit() or len(str(last_read_id)) > 19:
            raise TimelineError("Last read id can't be blank")
        now = utcnow()
        inserted = await session.execute(insert_ignoring_conflicts(session, Marker.__table__, [{
            "id": new_id(), "actor_id": viewer_id, "timeline": timeline, "last_read_id": str(last_read_id),
            "version": 0, "updated_at": now}], "actor_id", "timeline").returning(Marker.__table__.c.id))
        if inserted.scalar() is None:
            await session.execute(update(Marker).where(Marker.actor_id == viewer_id, Marker.timeline == timeline)
                                  .values(last_read_id=str(last_read_id), version=Marker.version + 1, updated_at=now)
                                  .execution_options(synchronize_session=False))
    session.expire_all()
    return await get_markers(session, viewer_id, [t for t in positions if t in MARKER_TIMELINES])
