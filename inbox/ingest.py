"""Durable, grouped storage of verified inbox POSTs.

Each request awaits its row being committed before answering 202 (a crash after 202 loses
nothing), but rows from concurrent requests share one INSERT and one commit: one commit per
request caps SQLite at a few hundred per second, grouped commits reach thousands.

One writer task owns the writes. While it commits a batch, new submissions pile up and become the
next batch, so batches grow with the load by themselves (group commit) without delaying a lone
request. A batch is one statement, INSERT ... ON CONFLICT DO NOTHING ... RETURNING activity_uri
(an executemany of a statement compiled once), and one commit; each statement costs several
round trips to the aiosqlite thread, so their number per batch matters more than the rows in
it. Duplicates inside a batch are removed before the INSERT; duplicates of stored rows are
skipped by the database, so a race between two deliveries of the same activity can never store
it twice. Each future answers True for the one submission that stored its activity and False for
every other copy.

"This host is alive" (fediverse.hosts.record_host_seen) is written at most once per host every
HOST_SEEN_REFRESH_SECONDS rather than once per batch: three statements per host per batch were
most of the cost of a batch with many senders. Nothing is lost by it: recording a host resets
its failure streak, and a host can only be marked unavailable by a streak spanning an hour
(hosts.UNAVAILABLE_MIN_SPAN_SECONDS), far longer than the refresh period.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from fediverse.db import utcnow
from fediverse.hosts import record_host_seen
from fediverse.ids import new_id
from fediverse.models import IncomingActivity
from fediverse.runtime import Runtime

log = logging.getLogger(__name__)

MAX_BATCH = 500
"""Rows per INSERT/commit at most (ten parameters a row; SQLAlchemy pages larger executemany batches)."""

LINGER_SECONDS = 0.0
"""How long the writer waits for more rows before writing a batch smaller than MAX_BATCH.
Batches already grow with the load while the previous one commits; measured with
bench/inbox_ingest.py, waiting longer only adds latency."""

HOST_SEEN_REFRESH_SECONDS = 30.0
"""A host's last_seen_at (and failure-streak reset) is written at most this often."""

HOST_SEEN_MEMORY = 50_000
"""Hosts remembered as recently recorded; beyond that the oldest entries are forgotten."""

REQUIRED_KEYS = ("activity_uri", "actor_uri", "activity_type", "body")

Pending = tuple[dict[str, Any], "asyncio.Future[bool]"]


class IngestUnavailable(RuntimeError):
    """The database did not take the batch; the sender should retry (503)."""


def _insert_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (activity_uri) DO NOTHING RETURNING activity_uri, for executemany."""
    table = IncomingActivity.__table__
    module = postgresql if dialect == "postgresql" else sqlite
    return (module.insert(table).on_conflict_do_nothing(index_elements=["activity_uri"])
            .returning(table.c.activity_uri))


class IngestWriter:
    def __init__(
        self,
        runtime: Runtime,
        *,
        max_batch: int = MAX_BATCH,
        linger: float = LINGER_SECONDS,
        host_seen_refresh: float = HOST_SEEN_REFRESH_SECONDS,
    ) -> None:
        self.runtime = runtime
        self.max_batch = max_batch
        self.linger = linger
        self.host_seen_refresh = host_seen_refresh
        self.pending: deque[Pending] = deque()
        self.wakeup = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.stopping = False
        # Hosts to record as seen with the next batch, and when each was last recorded.
        self.seen_hosts: set[str] = set()
        self.hosts_recorded: dict[str, float] = {}
        self._statements: dict[str, Any] = {}
        # Counters, logged at stop and read by tests and the benchmark.
        self.batches = 0
        self.rows_written = 0
        self.largest_batch = 0
        self.failed_batches = 0

    def start(self) -> None:
        self.stopping = False
        self.task = asyncio.create_task(self._run(), name="inbox-ingest")

    async def stop(self) -> None:
        """Write everything already submitted, then end the writer task."""
        if self.task is None:
            return
        self.stopping = True
        self.wakeup.set()
        await asyncio.gather(self.task, return_exceptions=True)
        self.task = None
        for _, future in self.pending:  # only if the task died: nobody must wait forever
            if not future.done():
                future.set_exception(IngestUnavailable("inbox is shutting down"))
        self.pending.clear()
        log.info("inbox ingest: %d rows in %d batches (largest %d, %d failed)",
                 self.rows_written, self.batches, self.largest_batch, self.failed_batches)

    async def submit(self, row: dict[str, Any], host: str) -> bool:
        """Store one activity; True if new, False if we already had this activity id.

        `row` holds the IncomingActivity columns the inbox route fills (activity_uri, actor_uri,
        activity_type, body, and optionally id and inbox_actor_id); `host` is the sender's host.
        Raises IngestUnavailable when the database did not take it (answer 503).
        """
        if self.task is None or self.task.done() or self.stopping:
            raise IngestUnavailable("inbox is not accepting activities right now")
        missing = [key for key in REQUIRED_KEYS if key not in row]
        if missing:
            raise ValueError(f"inbox row lacks {', '.join(missing)}")
        row.setdefault("id", new_id())
        row.setdefault("inbox_actor_id", None)
        recorded = self.hosts_recorded.get(host)
        if recorded is None or time.monotonic() - recorded >= self.host_seen_refresh:
            self.seen_hosts.add(host)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.pending.append((row, future))
        self.wakeup.set()
        return await future

    async def _run(self) -> None:
        while True:
            if not self.pending:
                if self.stopping:
                    return
                self.wakeup.clear()
                await self.wakeup.wait()
                continue
            if self.linger > 0 and len(self.pending) < self.max_batch and not self.stopping:
                await asyncio.sleep(self.linger)
            count = min(len(self.pending), self.max_batch)
            batch = [self.pending.popleft() for _ in range(count)]
            try:
                await self._write(batch)
            except BaseException as exc:  # every waiting request must get an answer
                self.failed_batches += 1
                if not isinstance(exc, asyncio.CancelledError):
                    log.exception("inbox batch of %d failed", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(IngestUnavailable(str(exc) or type(exc).__name__))
                if not isinstance(exc, Exception):
                    raise

    async def _insert(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> set[str]:
        dialect = conn.dialect.name
        statement = self._statements.get(dialect)
        if statement is None:
            statement = self._statements[dialect] = _insert_statement(dialect)
        now = utcnow()
        for row in rows:  # one timestamp per batch instead of two utcnow() calls per row
            row.setdefault("received_at", now)
            row.setdefault("next_attempt_at", now)
        result = await conn.execute(statement, rows)
        return set(result.scalars())

    async def _write(self, batch: list[Pending]) -> None:
        unique: dict[str, dict[str, Any]] = {}
        for row, _ in batch:
            unique.setdefault(row["activity_uri"], row)
        hosts, self.seen_hosts = self.seen_hosts, set()
        try:
            async with self.runtime.sessions() as session, session.begin():
                inserted = await self._insert(await session.connection(), list(unique.values()))
                now = utcnow()
                recovered = [host for host in sorted(hosts) if await record_host_seen(session, host, now=now)]
        except BaseException:
            self.seen_hosts |= hosts  # record them with the next batch that succeeds
            raise
        self._remember_hosts(hosts)
        self.batches += 1
        self.rows_written += len(inserted)
        self.largest_batch = max(self.largest_batch, len(batch))
        for row, future in batch:
            uri = row["activity_uri"]
            is_new = unique.get(uri) is row and uri in inserted
            if not future.done():
                future.set_result(is_new)
        if inserted:
            self.runtime.wake("inbox")
        if recovered:
            self.runtime.wake("delivery")

    def _remember_hosts(self, hosts: set[str]) -> None:
        if not hosts:
            return
        now = time.monotonic()
        if len(self.hosts_recorded) + len(hosts) > HOST_SEEN_MEMORY:
            cutoff = now - self.host_seen_refresh
            self.hosts_recorded = {h: t for h, t in self.hosts_recorded.items() if t >= cutoff}
            while len(self.hosts_recorded) + len(hosts) > HOST_SEEN_MEMORY:
                self.hosts_recorded.pop(next(iter(self.hosts_recorded)))
        for host in hosts:
            self.hosts_recorded.pop(host, None)  # keep insertion order = age order
            self.hosts_recorded[host] = now
