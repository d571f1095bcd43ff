"""Processes stored incoming activities: one sender's activities in order, senders in parallel."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select, update

from actors.remote import ActorError, ActorResolver
from fediverse.backoff import retry_delay
from fediverse.db import utcnow
from fediverse.http import FetchError
from fediverse.models import IncomingActivity
from fediverse.runtime import Runtime
from fediverse.worker import claim_due, run_loop
from inbox.context import ActivityIgnored, ActivityRejected, InboxContext
from inbox.dispatch import handler_for
from outbox.commands import Outbox

log = logging.getLogger(__name__)
BATCH = 200
PARALLEL_SENDERS = 8
MAX_ATTEMPTS = 8
LEASE_SECONDS = 300


async def _process_one(runtime: Runtime, row: IncomingActivity) -> tuple[str, str | None]:
    """Run the handler; return (final state, error) — or raise to be retried later."""
    try:
        activity = json.loads(row.body)
    except ValueError:
        return "rejected", "body is not JSON"
    handler = handler_for(row.activity_type)
    if handler is None:
        return "ignored", f"no handler for {row.activity_type}"
    resolver = ActorResolver(runtime)
    try:
        sender = await resolver.get(row.actor_uri)
    except ActorError as exc:
        return "rejected", f"sender: {exc}"
    if sender.suspended_at is not None:
        return "ignored", "sender is suspended"
    ctx = InboxContext(runtime, resolver, Outbox(runtime), sender, row.activity_uri, row.inbox_actor_id)
    try:
        await handler(ctx, activity)
    except ActivityRejected as exc:
        log.info("rejected %s %s: %s", row.activity_type, row.activity_uri, exc)
        return "rejected", str(exc)[:2000]
    except ActivityIgnored as exc:
        return "ignored", str(exc)[:2000]
    except FetchError as exc:
        if exc.permanent:
            return "rejected", f"fetch failed: {exc}"[:2000]
        raise
    return "done", None


async def _finish(runtime: Runtime, row_id: int, state: str, error: str | None) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(IncomingActivity).where(IncomingActivity.id == row_id).values(
            state=state, error=error, leased_until=None, processed_at=utcnow()))


async def _retry_later(runtime: Runtime, row: IncomingActivity, error: str) -> None:
    attempts = row.attempts + 1
    values: dict[str, object] = {"attempts": attempts, "error": error[:2000], "leased_until": None}
    if attempts >= MAX_ATTEMPTS:
        values.update(state="failed", processed_at=utcnow())
    else:
        delay = retry_delay(attempts, runtime.settings.delivery_retry_base_seconds)
        values["next_attempt_at"] = utcnow() + timedelta(seconds=delay)
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(IncomingActivity).where(IncomingActivity.id == row.id).values(**values))


async def _process_sender(runtime: Runtime, rows: list[IncomingActivity], limit: asyncio.Semaphore) -> None:
    async with limit:
        for row in rows:
            try:
                state, error = await _process_one(runtime, row)
            except Exception as exc:  # a bug or a passing fault: try again later, never lose it
                log.warning("processing %s failed, will retry: %r", row.activity_uri, exc, exc_info=True)
                await _retry_later(runtime, row, repr(exc))
                continue
            await _finish(runtime, row.id, state, error)


async def process_due_once(runtime: Runtime) -> int:
    """Claim and process one batch; returns how many activities were handled."""
    ids = await claim_due(runtime.sessions, IncomingActivity, BATCH, LEASE_SECONDS)
    if not ids:
        return 0
    async with runtime.sessions() as session:
        rows = list((await session.scalars(
            select(IncomingActivity).where(IncomingActivity.id.in_(ids)).order_by(IncomingActivity.id))).all())
    by_sender: dict[str, list[IncomingActivity]] = defaultdict(list)
    for row in rows:
        by_sender[row.actor_uri].append(row)
    limit = asyncio.Semaphore(PARALLEL_SENDERS)
    await asyncio.gather(*(_process_sender(runtime, group, limit) for group in by_sender.values()))
    return len(rows)


async def run_inbox_worker(runtime: Runtime, stopping: asyncio.Event) -> None:
    await run_loop("inbox", lambda: process_due_once(runtime), runtime.wakeup_event("inbox"),
                   runtime.settings.worker_poll_seconds, stopping)
