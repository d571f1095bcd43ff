"""Worker steps on a clock: publishing scheduled statuses when due, and ending polls.

A scheduled status is published through `Outbox.post`, which removes the scheduled row in the
same transaction as it creates the status: two workers cannot both publish it, and a crash in
between leaves it scheduled (published by the next run).
"""

from __future__ import annotations

import asyncio
import json
import logging

from sqlalchemy import delete, select

from fediverse.db import utcnow
from fediverse.models import ScheduledStatus
from fediverse.runtime import Runtime
from fediverse.worker import run_loop
from outbox.commands import AlreadyPublished, CommandError, Outbox, StatusDraft
from outbox.polls import close_ended_polls

log = logging.getLogger(__name__)
BATCH = 50
# Scheduled dates are minutes apart at best: no need to look more often than this.
MIN_POLL_SECONDS = 5.0


async def publish_due_scheduled(runtime: Runtime) -> int:
    """Publish the scheduled statuses whose time has come; returns how many were handled.

    One that cannot be published any more (the replied-to status or the media are gone, the account
    was deleted) is dropped with a log line, as Mastodon does, rather than retried for ever.
    """
    async with runtime.sessions() as session:
        due = (await session.scalars(select(ScheduledStatus).where(ScheduledStatus.scheduled_at <= utcnow())
                                     .order_by(ScheduledStatus.scheduled_at, ScheduledStatus.id)
                                     .limit(BATCH))).all()
    outbox = Outbox(runtime)
    handled = 0
    for row in due:
        draft = StatusDraft.from_params(json.loads(row.params_json))
        draft.media_ids = [int(i) for i in json.loads(row.media_ids_json or "[]")]
        try:
            await outbox.post(row.actor_id, draft, scheduled_id=row.id)
        except AlreadyPublished:
            continue
        except CommandError as exc:
            log.warning("scheduled status %s dropped: %s", row.id, exc)
            async with runtime.transaction() as session:
                await session.execute(delete(ScheduledStatus).where(ScheduledStatus.id == row.id))
        handled += 1
    return handled


async def run_clock_worker(runtime: Runtime, stopping: asyncio.Event) -> None:
    """Scheduled statuses and poll endings (fediverse.app.start_workers runs this)."""

    async def step() -> int:
        return await publish_due_scheduled(runtime) + await close_ended_polls(runtime)

    await run_loop("clock", step, runtime.wakeup_event("clock"),
                   max(runtime.settings.worker_poll_seconds, MIN_POLL_SECONDS), stopping)
