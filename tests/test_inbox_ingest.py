"""The grouped inbox writer (inbox.ingest.IngestWriter) on a real SQLite database, without HTTP.

Every submission must get exactly one answer: True when its row was stored by it, False when the
activity was already stored (or stored by another copy in the same batch), IngestUnavailable when
the database refused the batch, and nothing may be stored twice or lost at shutdown.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from fediverse.models import IncomingActivity
from fediverse.models.queues import Host
from fediverse.runtime import Runtime
from inbox.ingest import IngestUnavailable, IngestWriter


def row(n: int | str, host: str = "remote.example", body: dict[str, Any] | None = None) -> dict[str, Any]:
    actor = f"https://{host}/users/alice"
    uri = f"https://{host}/activities/{n}"
    return {"activity_uri": uri, "actor_uri": actor, "activity_type": "Create",
            "body": json.dumps(body or {"id": uri, "type": "Create", "actor": actor}), "inbox_actor_id": None}


async def stored(runtime: Runtime) -> dict[str, IncomingActivity]:
    async with runtime.sessions() as session:
        rows = (await session.scalars(select(IncomingActivity))).all()
    return {r.activity_uri: r for r in rows}


@pytest.fixture
async def writer(runtime: Runtime) -> AsyncIterator[IngestWriter]:
    ingest = IngestWriter(runtime, max_batch=64)
    ingest.start()
    yield ingest
    await ingest.stop()


async def test_many_concurrent_submits_are_all_stored_in_few_batches(runtime: Runtime, writer: IngestWriter) -> None:
    hosts = [f"h{i}.example" for i in range(7)]
    results = await asyncio.gather(*(writer.submit(row(i, hosts[i % 7]), hosts[i % 7]) for i in range(500)))

    assert results == [True] * 500  # each future answered once, True: its row is new
    rows = await stored(runtime)
    assert len(rows) == 500
    assert all(r.state == "pending" and r.received_at is not None and r.next_attempt_at is not None
               for r in rows.values())
    assert writer.rows_written == 500
    assert 500 / 64 <= writer.batches < 500  # grouped, and never more than max_batch rows at once
    assert writer.largest_batch <= 64
    async with runtime.sessions() as session:
        seen = (await session.scalars(select(Host.domain).where(Host.last_seen_at.is_not(None)))).all()
    assert sorted(seen) == hosts


async def test_duplicates_in_one_batch_answer_false_and_store_once(runtime: Runtime, writer: IngestWriter) -> None:
    copies = [row("dup", body={"copy": i}) for i in range(5)]
    results = await asyncio.gather(*(writer.submit(c, "remote.example") for c in copies),
                                   writer.submit(row("other"), "remote.example"))

    assert results[:5].count(True) == 1 and results[:5].count(False) == 4
    assert results[5] is True
    rows = await stored(runtime)
    assert len(rows) == 2
    winner = results.index(True)
    assert json.loads(rows["https://remote.example/activities/dup"].body) == {"copy": winner}


async def test_duplicates_across_batches_answer_false_and_store_once(runtime: Runtime, writer: IngestWriter) -> None:
    assert await writer.submit(row(1), "remote.example") is True
    batches = writer.batches

    again = await asyncio.gather(*(writer.submit(row(1), "remote.example") for _ in range(3)),
                                 writer.submit(row(2), "remote.example"))

    assert again == [False, False, False, True]
    assert writer.batches > batches
    assert await writer.submit(row(2), "remote.example") is False
    assert sorted(await stored(runtime)) == ["https://remote.example/activities/1",
                                             "https://remote.example/activities/2"]


async def refuse_inserts(conn: AsyncConnection, table: str, message: str) -> None:
    """A trigger that makes every INSERT into `table` fail with `message` (SQLite or PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS "
                                f"$$ BEGIN RAISE EXCEPTION '{message}'; END $$"))
        await conn.execute(text(f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
                                f"FOR EACH ROW EXECUTE FUNCTION refuse_{table}()"))
    else:
        await conn.execute(text(f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
                                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"))


async def allow_inserts(conn: AsyncConnection, table: str) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"DROP TRIGGER refuse_{table} ON {table}"))
        await conn.execute(text(f"DROP FUNCTION refuse_{table}()"))
    else:
        await conn.execute(text(f"DROP TRIGGER refuse_{table}"))


async def test_database_failure_answers_every_waiter_and_the_writer_recovers(
    runtime: Runtime, writer: IngestWriter
) -> None:
    async with runtime.engine.begin() as conn:
        await refuse_inserts(conn, "incoming_activities", "disk is on fire")

    results = await asyncio.gather(*(writer.submit(row(i), "remote.example") for i in range(150)),
                                   return_exceptions=True)

    assert len(results) == 150
    assert all(isinstance(r, IngestUnavailable) and "disk is on fire" in str(r) for r in results)
    assert writer.failed_batches >= 150 // 64
    assert await stored(runtime) == {}

    async with runtime.engine.begin() as conn:
        await allow_inserts(conn, "incoming_activities")
    retried = await asyncio.gather(*(writer.submit(row(i), "remote.example") for i in range(150)))
    assert retried == [True] * 150  # what was refused was not stored: the retry stores it
    assert len(await stored(runtime)) == 150


async def test_failure_after_the_insert_stores_nothing_of_the_batch(runtime: Runtime, writer: IngestWriter) -> None:
    """The rows and the host bookkeeping share one transaction: a refused batch leaves nothing."""
    async with runtime.engine.begin() as conn:
        await refuse_inserts(conn, "hosts", "hosts table broken")

    results = await asyncio.gather(*(writer.submit(row(i, "new-host.example"), "new-host.example")
                                     for i in range(10)), return_exceptions=True)

    assert all(isinstance(r, IngestUnavailable) for r in results)
    assert await stored(runtime) == {}
    async with runtime.engine.begin() as conn:
        await allow_inserts(conn, "hosts")
    assert await writer.submit(row(0, "new-host.example"), "new-host.example") is True
    async with runtime.sessions() as session:  # the host refused earlier is recorded with a later batch
        assert await session.scalar(select(Host.last_seen_at).where(Host.domain == "new-host.example"))


async def test_submission_from_an_unavailable_host_recovers_it(runtime: Runtime, writer: IngestWriter) -> None:
    async with runtime.sessions() as session, session.begin():
        session.add(Host(domain="down.example", failure_count=9, unavailable=True))
    delivery = runtime.wakeup_event("delivery")
    delivery.clear()

    assert await writer.submit(row(1, "down.example"), "down.example") is True

    async with runtime.sessions() as session:
        host = await session.get(Host, "down.example")
    assert host is not None and not host.unavailable and host.failure_count == 0 and host.last_seen_at
    assert delivery.is_set()


async def test_stop_writes_pending_submissions_before_returning(runtime: Runtime) -> None:
    ingest = IngestWriter(runtime, max_batch=16, linger=0.05)
    ingest.start()
    tasks = [asyncio.create_task(ingest.submit(row(i), "remote.example")) for i in range(100)]
    await asyncio.sleep(0)  # every submission is queued, none written yet

    await ingest.stop()

    assert all(task.done() for task in tasks)
    assert [task.result() for task in tasks] == [True] * 100
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(IncomingActivity)) == 100
    with pytest.raises(IngestUnavailable):
        await ingest.submit(row(101), "remote.example")


async def test_submit_before_start_is_refused(runtime: Runtime) -> None:
    with pytest.raises(IngestUnavailable):
        await IngestWriter(runtime).submit(row(1), "remote.example")
