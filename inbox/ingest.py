"""Durable, grouped storage of verified inbox POSTs.

Each request awaits its row being committed before answering 202 (a crash after 202 loses
nothing), but rows from concurrent requests share one INSERT and one commit: one commit per
request caps SQLite at a few hundred per second, grouped commits reach thousands.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fediverse.db import insert_ignoring_conflicts
from fediverse.hosts import record_host_seen
from fediverse.models import IncomingActivity
from fediverse.runtime import Runtime

log = logging.getLogger(__name__)
MAX_BATCH = 500


class IngestUnavailable(RuntimeError):
    """The database did not take the batch; the sender should retry (503)."""


class IngestWriter:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.queue: asyncio.Queue[tuple[dict[str, Any], asyncio.Future[bool]]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.seen_hosts: set[str] = set()

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="inbox-ingest")

    async def stop(self) -> None:
        if self.task is None:
            return
        await self.queue.join()
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        self.task = None

    async def submit(self, row: dict[str, Any], host: str) -> bool:
        """Store one activity; True if new, False if we already had this activity id."""
        if self.task is None or self.task.done():
            raise IngestUnavailable("inbox is not accepting activities right now")
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.seen_hosts.add(host)
        await self.queue.put((row, future))
        return await future

    async def _run(self) -> None:
        while True:
            first = await self.queue.get()
            batch = [first]
            while len(batch) < MAX_BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                await self._write(batch)
            except Exception as exc:  # every waiting request must get an answer
                log.exception("inbox batch of %d failed", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(IngestUnavailable(str(exc)))
            finally:
                for _ in batch:
                    self.queue.task_done()

    async def _write(self, batch: list[tuple[dict[str, Any], asyncio.Future[bool]]]) -> None:
        hosts, self.seen_hosts = self.seen_hosts, set()
        async with self.runtime.sessions() as session, session.begin():
            stmt = insert_ignoring_conflicts(session, IncomingActivity.__table__, [row for row, _ in batch],
                                             "activity_uri").returning(IncomingActivity.__table__.c.activity_uri)
            inserted = set((await session.execute(stmt)).scalars())
            recovered = [host for host in hosts if await record_host_seen(session, host)]
        claimed: set[str] = set()
        for row, future in batch:
            uri = row["activity_uri"]
            is_new = uri in inserted and uri not in claimed
            claimed.add(uri)
            if not future.done():
                future.set_result(is_new)
        if inserted:
            self.runtime.wake("inbox")
        if recovered:
            self.runtime.wake("delivery")
