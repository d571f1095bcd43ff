"""Outgoing delivery against a real TLS inbox server on loopback (trustme CA).

The server's behaviour is chosen by the request path, so one module-scoped server serves every
test: `/inbox/...` answers 202, `/status/<code>/...` answers that code, `/retry-after/<s>/...` answers
503 with Retry-After, `/flaky/<n>/...` fails n times with 500 then accepts, `/gated/...` waits for
the test to open the gate, and `/hang/...` never answers. Host names other than 127.0.0.1 are
resolved to 127.0.0.1 by a fake resolver, so per-host limits can be observed on one server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
import trustme
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from sqlalchemy import make_url, select, text, update

from fediverse import hosts
from fediverse.backoff import (
    JITTER_MIN,
    RETRY_AFTER_CAP_SECONDS,
    nominal_delay,
    retry_delay,
    schedule_total,
)
from fediverse.config import Settings
from fediverse.db import create_engine, session_factory, utcnow
from fediverse.http import HttpClient
from fediverse.ids import new_id
from fediverse.keys import generate_rsa_keypair
from fediverse.models.actor import Actor
from fediverse.models.queues import Delivery, Host, OutgoingActivity
from fediverse.runtime import Runtime
from fediverse.signatures import SignatureError, parse_signature_header, verify_request
from fediverse.uris import Uris
from outbox import delivery
from outbox.delivery import deliver_due_once, enqueue_deliveries, run_delivery_worker
from tests.conftest import make_settings

PEERS = ("peer-a.test", "peer-b.test")
ALLOWED = ["127.0.0.1", "localhost", *PEERS]
LOCAL = "commune-a.test"
ACTOR_URI = f"https://{LOCAL}/users/alice"
KEY_ID = f"{ACTOR_URI}#main-key"
POST_REQUIRED = ("(request-target)", "host", "date", "digest")


# ------------------------------------------------------------------------------ inbox server


class LoopbackResolver(AbstractResolver):
    """Every name resolves to 127.0.0.1: several "hosts" on one local server."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host="127.0.0.1", port=port, family=socket.AF_INET,
                          proto=0, flags=socket.AI_NUMERICHOST)
        ]

    async def close(self) -> None:
        return None


@dataclass
class Received:
    host: str
    path: str
    body: bytes
    signature_ok: bool
    signature_error: str
    at: float


@dataclass
class InboxServer:
    port: int
    ca: trustme.CA
    keys: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    delay: float = 0.0
    host_status: dict[str, int] = field(default_factory=dict)  # force a status per Host header
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: Counter[str] = field(default_factory=Counter)
    max_per_host: Counter[str] = field(default_factory=Counter)
    max_total: int = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}{path}"

    def host(self, name: str = "127.0.0.1") -> str:
        return f"{name}:{self.port}"

    def reset(self) -> None:
        self.keys.clear()
        self.received.clear()
        self.host_status.clear()
        self.in_flight.clear()
        self.max_per_host.clear()
        self.delay, self.max_total = 0.0, 0
        self.gate = asyncio.Event()

    def paths(self) -> list[str]:
        return [r.path for r in self.received]

    def client_ssl(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def _verify(self, request: web.Request, body: bytes) -> str:
        try:
            params = parse_signature_header(request.headers.get("Signature", ""))
            pem = self.keys.get(params.key_id)
            if pem is None:
                return f"unknown key {params.key_id}"
            verify_request("POST", request.raw_path, request.headers, params, pem,
                           body=body, required_headers=POST_REQUIRED)
        except SignatureError as exc:
            return str(exc)
        return ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        host, path = request.headers.get("Host", ""), request.raw_path
        error = self._verify(request, body)
        self.received.append(Received(host, path, body, not error, error, asyncio.get_running_loop().time()))
        self.in_flight[host] += 1
        self.max_per_host[host] = max(self.max_per_host[host], self.in_flight[host])
        self.max_total = max(self.max_total, sum(self.in_flight.values()))
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            return await self._answer(host, path)
        finally:
            self.in_flight[host] -= 1

    async def _answer(self, host: str, path: str) -> web.Response:
        parts = path.strip("/").split("/")
        if host in self.host_status:
            return web.Response(status=self.host_status[host], text="forced")
        if parts[0] == "status":
            return web.Response(status=int(parts[1]), text="status")
        if parts[0] == "retry-after":
            return web.Response(status=503, text="busy", headers={"Retry-After": parts[1]})
        if parts[0] == "flaky" and sum(r.path == path for r in self.received) <= int(parts[1]):
            return web.Response(status=500, text="flaky")
        if parts[0] == "gated":
            await self.gate.wait()
        if parts[0] == "hang":
            await asyncio.Event().wait()
        return web.Response(status=202, text="")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def server(ca: trustme.CA) -> AsyncIterator[InboxServer]:
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost", *PEERS).configure_cert(server_ssl)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    state = InboxServer(port=sock.getsockname()[1], ca=ca)
    app = web.Application()
    app.router.add_post("/{tail:.*}", state.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.SockSite(runner, sock, ssl_context=server_ssl).start()
    yield state
    state.gate.set()
    await runner.cleanup()


@pytest.fixture
def inbox(server: InboxServer, keypair: tuple[str, str]) -> InboxServer:
    server.reset()
    server.keys[KEY_ID] = keypair[1]
    return server


@pytest.fixture(scope="module")
def keypair() -> tuple[str, str]:
    return generate_rsa_keypair()


@pytest_asyncio.fixture
async def settings(tmp_path: Path) -> AsyncIterator[Settings]:
    """Overrides conftest: fast polling, millisecond backoff, loopback peers allowed.

    With FEDIVERSE_TEST_POSTGRES_URL (e.g. postgresql+asyncpg://postgres@127.0.0.1/postgres) every
    test gets a fresh PostgreSQL database instead of SQLite, to prove the SQL is portable.
    """
    admin_url = os.environ.get("FEDIVERSE_TEST_POSTGRES_URL", "")
    database_url, name = "", f"delivery_{new_id()}"
    if admin_url:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        database_url = str(make_url(admin_url).set(database=name).render_as_string(hide_password=False))
    yield make_settings(tmp_path, domain=LOCAL, allowed_private_hosts=ALLOWED, worker_poll_seconds=0.05,
                        delivery_retry_base_seconds=0.001, http_timeout_seconds=3.0, database_url=database_url)
    if admin_url:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def start_http(runtime: Runtime, server: InboxServer) -> HttpClient:
    client = HttpClient(runtime.settings, "delivery-tests", ssl_context=server.client_ssl(),
                        resolver=LoopbackResolver())
    await client.start()
    runtime.http = client
    return client


@pytest_asyncio.fixture
async def rt(runtime: Runtime, inbox: InboxServer) -> AsyncIterator[Runtime]:
    """The conftest runtime plus an HttpClient trusting the test CA."""
    client = await start_http(runtime, inbox)
    yield runtime
    await client.close()


# ------------------------------------------------------------------------------ helpers


async def make_actor(runtime: Runtime, keypair: tuple[str, str]) -> int:
    async with runtime.sessions() as session, session.begin():
        actor = Actor(uri=ACTOR_URI, username="alice", username_lower="alice", domain=None, domain_key="",
                      inbox_url=f"{ACTOR_URI}/inbox", public_key_id=KEY_ID, public_key_pem=keypair[1],
                      private_key_pem=keypair[0])
        session.add(actor)
    return actor.id


async def publish(runtime: Runtime, actor_id: int, inboxes: list[str]) -> tuple[int, int]:
    """Store an activity and its deliveries in one transaction, as the outbox does: (id, queued)."""
    async with runtime.sessions() as session, session.begin():
        uri = f"{ACTOR_URI}/activities/{new_id()}"
        body = json.dumps({"id": uri, "type": "Create", "actor": ACTOR_URI, "object": {"content": "Bonjour"}})
        activity = OutgoingActivity(uri=uri, actor_id=actor_id, activity_type="Create", body=body,
                                    public=True)
        session.add(activity)
        queued = await enqueue_deliveries(session, activity, inboxes, runtime.settings.domain)
    runtime.wake("delivery")
    return activity.id, queued


async def all_deliveries(runtime: Runtime) -> list[Delivery]:
    async with runtime.sessions() as session:
        return list((await session.execute(select(Delivery).order_by(Delivery.id))).scalars())


async def host_row(runtime: Runtime, domain: str) -> Host | None:
    async with runtime.sessions() as session:
        return await session.get(Host, domain)


async def eventually(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 5.0) -> None:
    """Poll `check` until true; fail after `seconds` (no fixed sleeps as synchronisation)."""
    try:
        async with asyncio.timeout(seconds):
            while True:  # the state lives in the database: there is no event to wait on
                if await check():
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {seconds}s waiting for {what}") from None


async def states(runtime: Runtime) -> Counter[str]:
    return Counter(d.state for d in await all_deliveries(runtime))


async def all_in_state(runtime: Runtime, state: str, count: int) -> bool:
    return (await states(runtime))[state] == count


@contextlib.asynccontextmanager
async def running_worker(runtime: Runtime) -> AsyncIterator[asyncio.Task[None]]:
    stopping = asyncio.Event()
    task = asyncio.create_task(run_delivery_worker(runtime, stopping))
    try:
        yield task
    finally:
        stopping.set()
        runtime.wake("delivery")
        if not task.done():
            try:
                await asyncio.wait_for(task, 5)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


# ------------------------------------------------------------------------------ tests


async def test_delivered_once_and_signed_correctly(
    rt: Runtime, inbox: InboxServer, keypair: tuple[str, str]
) -> None:
    actor_id = await make_actor(rt, keypair)
    activity_id, queued = await publish(rt, actor_id, [inbox.url("/inbox/bob")])
    assert queued == 1
    async with running_worker(rt):
        await eventually(lambda: all_in_state(rt, "delivered", 1), "delivery")
    assert await deliver_due_once(rt) == 0
    assert len(inbox.received) == 1
    got = inbox.received[0]
    assert got.signature_ok, got.signature_error
    assert got.path == "/inbox/bob" and json.loads(got.body)["type"] == "Create"
    [row] = await all_deliveries(rt)
    assert row.activity_id == activity_id and row.host == inbox.host()
    assert row.attempts == 1 and row.last_status == 202 and row.delivered_at is not None
    assert row.leased_until is None
    health = await host_row(rt, inbox.host())
    assert health is not None and health.last_success_at is not None and not health.unavailable


async def test_shared_inboxes_deduplicated_and_own_domain_inboxes_skipped(
    rt: Runtime, inbox: InboxServer, keypair: tuple[str, str]
) -> None:
    actor_id = await make_actor(rt, keypair)
    shared_a, shared_b = inbox.url("/inbox", PEERS[0]), inbox.url("/inbox", PEERS[1])
    inboxes = [shared_a, shared_a, f" {shared_a} ", shared_b, "", "ftp://peer-a.test/inbox",
               "mailto:bob@peer-a.test", f"https://{LOCAL}/inbox", f"https://{LOCAL}/users/bob/inbox",
               f"https://{LOCAL}:443/inbox", f"https://user:pw@{PEERS[0]}/inbox", "https://"]
    activity_id, queued = await publish(rt, actor_id, inboxes)
    assert queued == 2
    async with rt.sessions() as session, session.begin():
        activity = await session.get(OutgoingActivity, activity_id)
        assert activity is not None
        assert await enqueue_deliveries(session, activity, inboxes, LOCAL) == 0  # re-enqueue is a no-op
    rows = await all_deliveries(rt)
    assert sorted((r.inbox_url, r.host) for r in rows) == [
        (shared_a, inbox.host(PEERS[0])), (shared_b, inbox.host(PEERS[1]))]
    while await deliver_due_once(rt):
        pass
    assert sorted(r.path for r in inbox.received) == ["/inbox", "/inbox"]
    assert {r.host for r in inbox.received} == {inbox.host(PEERS[0]), inbox.host(PEERS[1])}


async def test_server_errors_retried_with_backoff_then_delivered(
    rt: Runtime, inbox: InboxServer, keypair: tuple[str, str]
) -> None:
    rt.settings = replace(rt.settings, delivery_retry_base_seconds=0.05)
    actor_id = await make_actor(rt, keypair)
    await publish(rt, actor_id, [inbox.url("/flaky/2/bob")])
    async with running_worker(rt):
        await eventually(lambda: all_in_state(rt, "delivered", 1), "delivery after two 500s")
    assert inbox.paths() == ["/flaky/2/bob"] * 3
    [row] = await all_deliveries(rt)
    assert row.attempts == 3 and row.last_status == 202
    gaps = [b.at - a.at for a, b in zip(inbox.received, inbox.received[1:], strict=False)]
    for attempt, gap in enumerate(gaps, start=1):
        assert gap >= nominal_delay(attempt, 0.05) * JITTER_MIN - 0.01, (attempt, gap)
    health = await host_row(rt, inbox.host())
    assert health is not None and health.failure_count == 0 and health.last_failure_at is not None


async def test_retry_after_honoured(rt: Runtime, inbox: InboxServer, keypair: tuple[str, str]) -> None:
    actor_id = await make_actor(rt, keypair)
    await publish(rt, actor_id, [inbox.url("/retry-after/120/bob")])
    before = utcnow()
    assert await deliver_due_once(rt) == 1
    [row] = await all_deliveries(rt)
    assert row.state == "pending" and row.attempts == 1 and row.last_status == 503
    assert row.next_attempt_at >= before + timedelta(seconds=120)
    assert row.leased_until is None
    assert await deliver_due_once(rt) == 0  # not due again before the server said so


async def test_not_found_and_gone_not_retried(
    rt: Runtime, inbox: InboxServer, keypair: tuple[str, str]
) -> None:
    actor_id = await make_actor(rt, keypair)
    await publish(rt, actor_id, [inbox.url("/status/404/bob"), inbox.url("/status/410/carol")])
    async with running_worker(rt):
        await eventually(lambda: all_in_state(rt, "failed", 2), "permanent failures")
        assert await deliver_due_once(rt) == 0
    assert sorted(inbox.paths()) == ["/status/404/bob", "/status/410/carol"]
    assert sorted((r.last_status, r.attempts) for r in await all_deliveries(rt)) == [(404, 1), (410, 1)]
    health = await host_row(rt, inbox.host())
    assert health is not None and health.failure_count == 0  # the host answered: it is up


async def test_max_attempts_marks_delivery_failed(
    rt: Runtime, inbox: InboxServer, keypair: tuple[str, str]
) -> None:
    rt.settings = replace(rt.settings, delivery_max_attempts=3)
    actor_id = await make_actor(rt, keypair)
    await publish(rt, actor_id, [inbox.url("/status/500/bob")])
    async with running_worker(rt):
        await eventually(lambda: all_in_state(rt, "failed", 1), "giving up")
    [row] = await all_deliveries(rt)
    assert row.attempts == 3 and row.last_status == 500 and "500" in (row.last_error or "")
    assert inbox.paths() == ["/status/500/bob"] * 3


async def test_timeouts_and_unexpected_errors_are_temporary(
    rt: Runtime, inbox: InboxServer, keypair: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt.settings = replace(rt.settings, http_timeout_seconds=0.3)
    await rt.http.close()  # type: ignore[union-attr]
    await start_http(rt, inbox)  # picks up the short timeout
    actor_id = await make_actor(rt, keypair)
    await publish(rt, actor_id, [inbox.url("/hang/bob"), inbox.url("/inbox/boom"), inbox.url("/inbox/ok")])
    real_post = rt.http.post_signed  # type: ignore[union-attr]

    async def flaky_post(url: str, body: bytes, **kwargs: str) -> int:
        if url.endswith("/boom"):
            raise RuntimeError("bug in one delivery")
        return await real_post(url, body, **kwargs)

    monkeypatch.setattr(rt.http, "post_signed", flaky_post)
    assert await deliver_due_once(rt) == 3
    rows = {r.inbox_url.rsplit("/", 1)[1]: r for r in await all_deliveries(rt)}
    assert rows["ok"].state == "delivered"
    for name in ("bob", "boom"):
        assert rows[name].state == "pending" and rows[name].attempts == 1, name
    assert "timed out" in (rows["bob"].last_error or "")
    assert "RuntimeError" in (rows["boom"].last_error or "")


async def test_per_host_concurrency_limit_respected(
    rt: Runtime, inbox: InboxServer, keypair: tuple[str, str]
) -> None:
    rt.settings = replace(rt.settings, delivery_per_host=3, delivery_concurrency=5)
    inbox.delay = 0.05
    actor_id = await make_actor(rt, keypair)
    inboxes = [inbox.url(f"/inbox/u{i}", host) for i in range(30) for host in PEERS]
    assert (await publish(rt, actor_id, inboxes))[1] == 60
    async with running_worker(rt):
        await eventually(lambda: all_in_state(rt, "delivered", 60), "60 deliveries", seconds=10)
    assert len(inbox.received) == 60
    assert all(r.signature_ok for r in inbox.received)
    assert max(inbox.max_per_host.values()) == 3  # the limit, and really reached: requests overlap
    assert inbox.max_total <= 5


async def test_failing_host_marked_unavailable_probed_hourly_and_recovers_on_success(
    rt: Runtime, inbox: InboxServer, keypair: tuple[str, str]
) -> None:
    host = inbox.host(PEERS[0])
    inbox.host_status[host] = 503
    actor_id = await make_actor(rt, keypair)
    await publish(rt, actor_id, [inbox.url(f"/inbox/u{i}", PEERS[0]) for i in range(6)])
    assert await deliver_due_once(rt) == 6
    health = await host_row(rt, host)
    assert health is not None and health.failure_count == 6 and not health.unavailable  # too short a streak

    async with rt.sessions() as session, session.begin():  # the streak started over an hour ago
        span = timedelta(seconds=hosts.UNAVAILABLE_MIN_SPAN_SECONDS + 1)
        backdate = update(Host).where(Host.domain == host).values(first_failure_at=utcnow() - span)
        await session.execute(backdate)

    async def retried() -> bool:
        return await deliver_due_once(rt) > 0

    await eventually(retried, "the retries to be due")
    async with rt.sessions() as session:
        assert await hosts.unavailable_hosts(session) == {host}
    sent = len(inbox.received)

    # Unavailable, last failure just now: nothing is attempted, everything is parked an hour.
    async with rt.sessions() as session, session.begin():
        await session.execute(update(Delivery).values(next_attempt_at=utcnow()))
    assert await deliver_due_once(rt) == 6
    assert len(inbox.received) == sent
    hour = timedelta(seconds=delivery.UNAVAILABLE_PROBE_INTERVAL_SECONDS)
    assert all(r.next_attempt_at >= utcnow() + hour - timedelta(minutes=1) for r in await all_deliveries(rt))

    # An hour later one probe goes out; it succeeds, so the host is back and the rest are due now.
    del inbox.host_status[host]
    async with rt.sessions() as session, session.begin():
        await session.execute(update(Host).values(last_failure_at=utcnow() - hour))
        await session.execute(update(Delivery).values(next_attempt_at=utcnow()))
    wakeup = rt.wakeup_event("delivery")
    wakeup.clear()
    assert await deliver_due_once(rt) == 6
    assert len(inbox.received) == sent + 1
    assert (await states(rt))["delivered"] == 1
    assert all(r.next_attempt_at <= utcnow() for r in await all_deliveries(rt))
    assert wakeup.is_set()
    assert await deliver_due_once(rt) == 5
    assert await all_in_state(rt, "delivered", 6)
    health = await host_row(rt, host)
    assert health is not None and not health.unavailable and health.failure_count == 0


async def test_record_host_seen_recovers_unavailable_host_and_makes_deliveries_due(
    rt: Runtime, inbox: InboxServer, keypair: tuple[str, str]
) -> None:
    host = inbox.host(PEERS[1])
    now = utcnow()
    async with rt.sessions() as session, session.begin():
        span = timedelta(seconds=hosts.UNAVAILABLE_MIN_SPAN_SECONDS)
        first = hosts.UNAVAILABLE_MIN_FAILURES - 1
        assert not await hosts.record_delivery_failure(session, host, count=first, now=now - span)
        assert await hosts.record_delivery_failure(session, host, now=now)
    actor_id = await make_actor(rt, keypair)
    await publish(rt, actor_id, [inbox.url(f"/inbox/u{i}", PEERS[1]) for i in range(3)])
    # A long poll interval: only the wake-up from the recovery can make the worker act in time.
    rt.settings = replace(rt.settings, worker_poll_seconds=30.0)
    async with running_worker(rt):

        async def parked() -> bool:
            rows = await all_deliveries(rt)
            return all(r.next_attempt_at > utcnow() + timedelta(minutes=30) for r in rows)

        await eventually(parked, "deliveries to the unavailable host to be parked")
        assert inbox.received == []
        async with rt.sessions() as session, session.begin():
            assert await hosts.record_host_seen(session, host)
        rt.wake("delivery")
        await eventually(lambda: all_in_state(rt, "delivered", 3), "deliveries after recovery")
    health = await host_row(rt, host)
    assert health is not None and not health.unavailable and health.last_seen_at is not None


async def test_restarted_worker_finishes_pending_deliveries(
    rt: Runtime, inbox: InboxServer, keypair: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "LEASE_SECONDS", 0.5)  # a crashed worker's rows come back quickly
    rt.settings = replace(rt.settings, delivery_concurrency=2, delivery_per_host=2)
    actor_id = await make_actor(rt, keypair)
    paths = [f"/inbox/u{i}" for i in range(6)] + [f"/gated/u{i}" for i in range(4)]
    await publish(rt, actor_id, [inbox.url(p) for p in paths])

    async def first_part_done() -> bool:
        return (await states(rt))["delivered"] == 6 and any(p.startswith("/gated") for p in inbox.paths())

    async with running_worker(rt) as first:
        await eventually(first_part_done, "the first worker to get stuck mid-way")
        first.cancel()  # the process dies with requests in flight and rows leased
        with contextlib.suppress(asyncio.CancelledError):
            await first

    # A new process: new engine, sessions and HTTP client on the same database.
    engine = create_engine(rt.settings.database_url)
    restarted = Runtime(settings=rt.settings, engine=engine, sessions=session_factory(engine),
                        uris=Uris(rt.settings))
    client = await start_http(restarted, inbox)
    inbox.gate.set()
    try:
        async with running_worker(restarted):
            await eventually(lambda: all_in_state(restarted, "delivered", 10), "the restarted worker")
    finally:
        await client.close()
        await engine.dispose()
    assert set(inbox.paths()) == set(paths)  # every inbox got it (the stuck ones possibly twice)
    assert all(r.leased_until is None for r in await all_deliveries(restarted))


def test_production_backoff_schedule_totals_about_two_days() -> None:
    day = 86400.0
    assert 1.5 * day <= schedule_total(16, 15.0) <= 3 * day
    for _ in range(20):  # with jitter too
        total = sum(retry_delay(attempt, 15.0) for attempt in range(1, 16))
        assert 1.5 * day <= total <= 3 * day
    assert retry_delay(1, 15.0, retry_after=600) >= 600
    assert retry_delay(1, 15.0, retry_after=10 * day) <= RETRY_AFTER_CAP_SECONDS * 1.0
    assert 16 * 0.85 <= retry_delay(1, 15.0) <= 16 * 1.25
