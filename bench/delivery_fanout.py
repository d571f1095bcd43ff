"""Fan-out benchmark: one activity delivered to N inboxes spread over ~20 remote host names.

    python bench/delivery_fanout.py [N] [--hosts 20] [--delay-ms 0] [--database-url URL]

Everything runs in one process on loopback: a TLS aiohttp inbox server (trustme CA) answers for
every host name (a fake resolver maps peerNN.bench.test to 127.0.0.1), so the per-host limit
applies per name exactly as in production. It verifies nothing but counts requests and the peak
concurrency per host; the real delivery worker (`run_delivery_worker`) does the sending.

Prints the enqueue time (enqueue_deliveries + commit), deliveries per second from commit to the
last delivery, and p50/p95 latencies: end-to-end (commit -> inbox received it) and per POST.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import ssl
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import trustme
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fediverse.config import Settings, ensure_secret_key, load_settings  # noqa: E402
from fediverse.db import create_engine, session_factory  # noqa: E402
from fediverse.http import HttpClient  # noqa: E402
from fediverse.keys import generate_rsa_keypair  # noqa: E402
from fediverse.migrate import upgrade_database  # noqa: E402
from fediverse.models.actor import Actor  # noqa: E402
from fediverse.models.queues import Delivery, OutgoingActivity  # noqa: E402
from fediverse.runtime import Runtime  # noqa: E402
from fediverse.uris import Uris  # noqa: E402
from outbox.delivery import enqueue_deliveries, run_delivery_worker  # noqa: E402


class LoopbackResolver(AbstractResolver):
    """Every bench host name is served by the one local server."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [ResolveResult(hostname=host, host="127.0.0.1", port=port, family=socket.AF_INET,
                              proto=0, flags=socket.AI_NUMERICHOST)]

    async def close(self) -> None:
        return None


class Inbox:
    """Counts deliveries, records when each arrived and the peak concurrency per host."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.arrivals: list[float] = []
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.done = asyncio.Event()
        self.expected = 0

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        host = request.headers.get("Host", "")
        self.in_flight[host] += 1
        self.peak[host] = max(self.peak[host], self.in_flight[host])
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight[host] -= 1
        self.arrivals.append(time.perf_counter())
        if len(self.arrivals) >= self.expected:
            self.done.set()
        return web.Response(status=202)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


async def bench(n: int, host_count: int, delay: float, database_url: str, data_dir: Path) -> None:
    names = [f"peer{i:02d}.bench.test" for i in range(1, host_count + 1)]
    settings: Settings = ensure_secret_key(load_settings(
        environ={}, domain="bench.local", data_dir=data_dir, database_url=database_url,
        allowed_private_hosts=names, worker_poll_seconds=0.05,
    ))
    ca = trustme.CA()
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(server_ssl)
    client_ssl = ssl.create_default_context()
    ca.configure_trust(client_ssl)

    inbox = Inbox(delay)
    inbox.expected = n
    app = web.Application()
    app.router.add_post("/{tail:.*}", inbox.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    await web.SockSite(runner, sock, ssl_context=server_ssl, backlog=1024).start()

    engine = create_engine(settings.database_url)
    await upgrade_database(engine)
    runtime = Runtime(settings=settings, engine=engine, sessions=session_factory(engine), uris=Uris(settings))
    runtime.http = HttpClient(settings, "delivery-bench", ssl_context=client_ssl, resolver=LoopbackResolver())
    await runtime.http.start()
    post_times: list[float] = []
    real_post = runtime.http.post_signed

    async def timed_post(url: str, body: bytes, **kwargs: str) -> int:
        started = time.perf_counter()
        try:
            return await real_post(url, body, **kwargs)
        finally:
            post_times.append(time.perf_counter() - started)

    runtime.http.post_signed = timed_post  # type: ignore[method-assign]

    private_pem, public_pem = generate_rsa_keypair()
    actor_uri = f"{settings.base_url}/users/bench"
    inboxes = [f"https://{names[i % host_count]}:{port}/users/u{i}/inbox" for i in range(n)]
    stopping = asyncio.Event()
    worker = asyncio.create_task(run_delivery_worker(runtime, stopping))
    try:
        async with runtime.sessions() as session, session.begin():
            actor = Actor(uri=actor_uri, username="bench", username_lower="bench", domain_key="",
                          public_key_id=f"{actor_uri}#main-key", public_key_pem=public_pem,
                          private_key_pem=private_pem)
            session.add(actor)
        started = time.perf_counter()
        async with runtime.sessions() as session, session.begin():
            body = json.dumps({"id": f"{actor_uri}/activities/1", "type": "Create", "actor": actor_uri,
                               "object": {"type": "Note", "content": "Conseil municipal jeudi 20h"}})
            activity = OutgoingActivity(uri=f"{actor_uri}/activities/1", actor_id=actor.id,
                                        activity_type="Create", body=body, public=True)
            session.add(activity)
            queued = await enqueue_deliveries(session, activity, inboxes, settings.domain)
        committed = time.perf_counter()
        runtime.wake("delivery")
        await asyncio.wait_for(inbox.done.wait(), timeout=max(120.0, n / 10))
        received = time.perf_counter()
        while True:  # the last batch's outcomes are written after the last request
            async with runtime.sessions() as session:
                delivered = await session.scalar(
                    select(func.count()).select_from(Delivery).where(Delivery.state == "delivered")
                )
            if delivered == n:
                break
            await asyncio.sleep(0.01)
        recorded = time.perf_counter()
    finally:
        stopping.set()
        runtime.wake("delivery")
        await worker
        await runtime.http.close()
        await engine.dispose()
        await runner.cleanup()

    latencies = [arrival - committed for arrival in inbox.arrivals]
    print(f"deliveries           {queued} to {host_count} hosts "
          f"(concurrency {settings.delivery_concurrency}, per host {settings.delivery_per_host}, "
          f"server delay {delay * 1000:.0f} ms, {engine.dialect.name})")
    print(f"enqueue + commit     {(committed - started) * 1000:.1f} ms")
    print(f"all received         {received - committed:.2f} s  -> {n / (received - committed):.0f} deliveries/s")
    print(f"all marked delivered {recorded - committed:.2f} s  -> {n / (recorded - committed):.0f} deliveries/s")
    print(f"end-to-end latency   p50 {percentile(latencies, 50) * 1000:.0f} ms, "
          f"p95 {percentile(latencies, 95) * 1000:.0f} ms")
    print(f"POST latency         p50 {percentile(post_times, 50) * 1000:.1f} ms, "
          f"p95 {percentile(post_times, 95) * 1000:.1f} ms")
    print(f"peak per host        {max(inbox.peak.values())} (limit {settings.delivery_per_host})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", nargs="?", type=int, default=2000, help="number of inboxes (default 2000)")
    parser.add_argument("--hosts", type=int, default=20, help="distinct host names (default 20)")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="inbox processing time per request")
    parser.add_argument("--database-url", default="", help="default: SQLite in a temporary directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="delivery-bench-") as tmp:
        asyncio.run(bench(args.n, args.hosts, args.delay_ms / 1000, args.database_url, Path(tmp)))


if __name__ == "__main__":
    main()
