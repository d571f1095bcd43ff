"""Claiming due rows from a queue table, the same way on SQLite and PostgreSQL.

A claim sets `leased_until`; a worker killed mid-job leaves a lease that expires, so the row is
picked up again (at-least-once), and handlers are written to be idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediverse.db import utcnow

log = logging.getLogger(__name__)


async def claim_due(
    sessions: async_sessionmaker[AsyncSession], model: Any, limit: int, lease_seconds: float
) -> list[int]:
    """Lease up to `limit` due pending rows in one statement and return their ids.

    One UPDATE ... RETURNING is atomic on SQLite; on PostgreSQL the subquery's
    FOR UPDATE SKIP LOCKED lets several workers claim disjoint rows without waiting.
    """
    now = utcnow()
    due = (
        select(model.id)
        .where(model.state == "pending", model.next_attempt_at <= now)
        .where(or_(model.leased_until.is_(None), model.leased_until < now))
        .order_by(model.next_attempt_at, model.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(model)
        .where(model.id.in_(due.scalar_subquery()))
        .values(leased_until=now + timedelta(seconds=lease_seconds))
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    async with sessions() as session, session.begin():
        return list((await session.execute(stmt)).scalars())


async def run_loop(
    name: str,
    step: Callable[[], Awaitable[int]],
    wakeup: asyncio.Event,
    poll_seconds: float,
    stopping: asyncio.Event,
) -> None:
    """Call `step` until it finds nothing, then sleep until woken or the poll interval passes."""
    while not stopping.is_set():
        wakeup.clear()  # before the step: a wake-up during the step is not lost
        try:
            done = await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("worker %s step failed", name)
            done = 0
        if done:
            continue
        try:
            await asyncio.wait_for(wakeup.wait(), timeout=poll_seconds)
        except TimeoutError:
            pass
