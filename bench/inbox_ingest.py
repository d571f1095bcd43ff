"""Inbox ingest benchmark: signed POST -> verify -> deduplicate -> grouped durable commit -> 202.

    python bench/inbox_ingest.py [--activities N] [--senders S] [--concurrency C] [--db sqlite|URL]
                                 [--workers off|on] [--inbox shared|personal] [--loop auto|asyncio|uvloop]
                                 [--http auto|h11|httptools]

One instance of our app runs under uvicorn on 127.0.0.1 (plain HTTP, domain "127.0.0.1:PORT", so
the Host header the senders sign is the one the inbox expects) in its own process, on a fresh
temporary SQLite database unless --db gives a URL (an empty database of its own: it is migrated
and filled, and rows are counted by this run's activity ids). S remote sender actors (one host each, RSA
keys) are written directly to the `actors` table, so the key cache fills from the database on
first use: no network. N distinct Create(Note) activities are signed (Digest included) before the
clock starts, then a load generator in another process fires them over C keep-alive aiohttp
connections. A tenth of them are then sent again: they must be answered 202 and not stored twice.

Prints activities/s end to end, p50/p95/p99 latency, rows stored (must equal N), the duplicate
check, and which event loop / HTTP implementation uvicorn used. With --workers on, the inbox
worker runs too (it turns every Create into a status) and the time to drain the queue is shown.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _server import wait_ready  # noqa: E402  (bench/ is on sys.path when run as a script)

from fediverse.config import Settings, ensure_secret_key, load_settings  # noqa: E402

Request = tuple[str, dict[str, str], bytes]  # path, headers, body
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


# ------------------------------------------------------------------------------------------ set-up


def _keypair(_: int) -> tuple[str, str]:
    from fediverse.keys import generate_rsa_keypair

    return generate_rsa_keypair()


_SENDER_KEYS: list[tuple[str, str]] = []  # (actor uri, private PEM), set in each signing process


def _init_signer(keys: list[tuple[str, str]]) -> None:
    _SENDER_KEYS[:] = keys


def _sign(job: tuple[int, str, str, str, str]) -> Request:
    from fediverse.signatures import sign_request

    index, run, base_url, path, local_actor = job
    actor, private_pem = _SENDER_KEYS[index % len(_SENDER_KEYS)]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    note = {"id": f"{actor}/statuses/{run}-{index}", "type": "Note", "attributedTo": actor,
            "content": f"<p>Conseil municipal jeudi 20h, salle des fêtes (message {index})</p>",
            "published": now, "to": [PUBLIC], "cc": [f"{actor}/followers", local_actor]}
    activity = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{actor}/activities/{run}-{index}",
                "type": "Create", "actor": actor, "published": now, "to": note["to"], "cc": note["cc"],
                "object": note}
    body = json.dumps(activity).encode()
    headers = sign_request("POST", base_url + path, key_id=f"{actor}#main-key", private_key_pem=private_pem,
                           body=body)
    return path, headers, body


async def _prepare_database(settings: Settings, senders: list[tuple[str, str, str]], local: str | None) -> None:
    """Migrate, then write the remote senders (uri, host, public PEM) and the local account."""
    from sqlalchemy import select

    from fediverse.db import create_engine, session_factory, utcnow
    from fediverse.migrate import upgrade_database
    from fediverse.models import Actor

    engine = create_engine(settings.database_url)
    await upgrade_database(engine)
    async with session_factory(engine)() as session, session.begin():
        for uri, host, public_pem in senders:
            name = uri.rsplit("/", 1)[-1]
            session.add(Actor(uri=uri, username=name, username_lower=name, domain=host, domain_key=host,
                              public_key_id=f"{uri}#main-key", public_key_pem=public_pem,
                              inbox_url=f"{uri}/inbox", shared_inbox_url=f"https://{host}/inbox",
                              followers_url=f"{uri}/followers", fetched_at=utcnow()))
        if local is not None:
            from actors.accounts import local_actor_row
            from fediverse.uris import Uris

            if await session.scalar(select(Actor.id).where(Actor.domain_key == "", Actor.username_lower == local)) \
                    is None:
                session.add(local_actor_row(Uris(settings), local, kind="resident"))
    await engine.dispose()


async def _states(settings: Settings, run: str) -> dict[str, int]:
    """Stored rows of this run by state (pending until the inbox worker has processed them)."""
    from sqlalchemy import func, select

    from fediverse.db import create_engine
    from fediverse.models import IncomingActivity

    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(IncomingActivity.state, func.count()).where(
                    IncomingActivity.activity_uri.like(f"%/activities/{run}-%")).group_by(IncomingActivity.state))
            return {state: int(count) for state, count in rows.all()}
    finally:
        await engine.dispose()


def _count(settings: Settings, run: str) -> tuple[int, int]:
    """Stored rows of this run, and how many of them the inbox worker has not processed yet."""
    states = asyncio.run(_states(settings, run))
    return sum(states.values()), states.get("pending", 0)


# ------------------------------------------------------------------------------------------ server


def _serve(settings: Settings, port: int, loop: str, http: str, info: Any) -> None:
    import logging

    import uvicorn

    from fediverse.app import create_app

    logging.basicConfig(level=logging.WARNING, format="server: %(message)s")
    logging.getLogger("inbox.ingest").setLevel(logging.INFO)  # batch statistics at shutdown

    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, loop=loop, http=http,
                            lifespan="on", log_level="warning", access_log=False, backlog=4096)
    server = uvicorn.Server(config)

    async def serve() -> None:
        config.load()
        running = asyncio.get_running_loop()
        info.put({"loop": f"{type(running).__module__}.{type(running).__name__}",
                  "http": f"{config.http_protocol_class.__module__}.{config.http_protocol_class.__name__}",
                  "pid": os.getpid()})
        await server.serve()

    if loop == "uvloop" or (loop == "auto" and importlib.util.find_spec("uvloop") is not None):
        import uvloop

        uvloop.run(serve())
    else:
        asyncio.run(serve())


# ------------------------------------------------------------------------------------------ load


async def _fire(base_url: str, requests: list[Request], concurrency: int) -> dict[str, Any]:
    import aiohttp

    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    position = 0
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, ttl_dns_cache=None)
    async with aiohttp.ClientSession(base_url, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=120)) as session:

        async def worker() -> None:
            nonlocal position
            while position < len(requests):
                path, headers, body = requests[position]
                position += 1
                started = time.perf_counter()
                try:
                    async with session.post(path, data=body, headers=headers) as response:
                        answer = await response.read()
                    status = response.status
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    status, answer = 0, repr(exc).encode()
                latencies.append(time.perf_counter() - started)
                statuses[status] += 1
                if status != 202 and len(errors) < 5:
                    errors[answer.decode(errors="replace")[:200]] += 1

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"elapsed": elapsed, "latencies": latencies, "statuses": dict(statuses), "errors": dict(errors),
            "cpu": cpu}


def _load(base_url: str, phases: list[list[Request]], concurrency: int, results: Any, go: Any) -> None:
    run: Any = asyncio.run
    if importlib.util.find_spec("uvloop") is not None:  # the cheapest client loop: leave the CPU to the server
        import uvloop

        run = uvloop.run
    for phase in phases:
        go.get()
        results.put(run(_fire(base_url, phase, concurrency)))


# ------------------------------------------------------------------------------------------ report


def _thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds used so far by a process: its main thread, and all its other threads (Linux /proc).

    The process total includes threads that have exited (aiosqlite runs one thread per connection)."""
    ticks = os.sysconf("SC_CLK_TCK")

    def used(path: str) -> float:
        with open(path) as fh:
            fields = fh.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    try:
        total, main = used(f"/proc/{pid}/stat"), used(f"/proc/{pid}/task/{pid}/stat")
    except OSError:
        return {}
    return {"main": main, "other threads": total - main}


def _cpu_line(before: dict[str, float], after: dict[str, float], elapsed: float, count: int, loader: float) -> str:
    parts = [f"{name} {after.get(name, 0) - before.get(name, 0):.2f} s "
             f"({(after.get(name, 0) - before.get(name, 0)) / elapsed * 100:.0f}%)" for name in sorted(after)]
    total = sum(after.values()) - sum(before.values())
    return (f"server CPU             {', '.join(parts)}; {total / count * 1e6:.0f} µs per activity; "
            f"load generator {loader:.2f} s ({loader / elapsed * 100:.0f}%)")


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def _report(label: str, count: int, result: dict[str, Any]) -> None:
    lat = result["latencies"]
    print(f"{label:<22} {count} in {result['elapsed']:.2f} s -> {count / result['elapsed']:,.0f} activities/s;"
          f" latency p50 {_percentile(lat, 50) * 1000:.1f} ms, p95 {_percentile(lat, 95) * 1000:.1f} ms,"
          f" p99 {_percentile(lat, 99) * 1000:.1f} ms; statuses {result['statuses']}")
    for message, times in result["errors"].items():
        print(f"  {times} x {message}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--activities", type=int, default=10_000, help="distinct activities (default 10000)")
    parser.add_argument("--senders", type=int, default=50, help="remote sender actors, one host each (default 50)")
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent connections (default 64)")
    parser.add_argument("--db", default="sqlite", help="'sqlite' (a temporary file) or a database URL")
    parser.add_argument("--workers", choices=("off", "on"), default="off", help="run the inbox/delivery workers")
    parser.add_argument("--inbox", choices=("shared", "personal"), default="shared", help="POST to /inbox or "
                        "to a local actor's /users/bench/inbox")
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    parser.add_argument("--http", choices=("auto", "h11", "httptools"), default="auto")
    parser.add_argument("--duplicates", type=float, default=0.10, help="share re-sent after the run (default 0.1)")
    parser.add_argument("--py-spy", metavar="FILE", help="profile the server with py-spy during the main run "
                        "(collapsed stacks written to FILE; py-spy must be on PATH)")
    args = parser.parse_args()
    n, senders = args.activities, max(1, args.senders)

    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="inbox-bench-") as tmp:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        domain = f"127.0.0.1:{port}"
        database_url = "" if args.db == "sqlite" else args.db
        settings = ensure_secret_key(load_settings(
            environ={}, domain=domain, data_dir=Path(tmp), database_url=database_url, insecure_http=True,
            run_workers=args.workers == "on", worker_poll_seconds=0.2))
        base_url = settings.base_url
        run = uuid.uuid4().hex[:8]
        local = "bench"
        local_actor = f"{base_url}/users/{local}"
        path = "/inbox" if args.inbox == "shared" else f"/users/{local}/inbox"

        started = time.perf_counter()
        with spawn.Pool(os.cpu_count() or 1) as pool:
            keys = pool.map(_keypair, range(senders))
            uris = [(f"https://s{j:03d}-{run}.bench.test/users/alice{j}", f"s{j:03d}-{run}.bench.test")
                    for j in range(senders)]
            asyncio.run(_prepare_database(settings, [(uri, host, public) for (uri, host), (_, public)
                                                     in zip(uris, keys, strict=True)], local))
        with spawn.Pool(os.cpu_count() or 1, initializer=_init_signer,
                        initargs=([(uri, private) for (uri, _), (private, _) in zip(uris, keys, strict=True)],)) \
                as pool:
            requests = pool.map(_sign, [(i, run, base_url, path, local_actor) for i in range(n)], chunksize=256)
        duplicates = requests[:: max(1, round(1 / args.duplicates))] if args.duplicates > 0 else []
        print(f"prepared {senders} senders and signed {n} activities in {time.perf_counter() - started:.1f} s "
              f"(mean body {sum(len(r[2]) for r in requests) / n:.0f} bytes)")

        info, results, go = spawn.Queue(), spawn.Queue(), spawn.Queue()
        server = spawn.Process(target=_serve, args=(settings, port, args.loop, args.http, info), daemon=True)
        server.start()
        loader: multiprocessing.process.BaseProcess | None = None
        try:
            wait_ready(base_url, server)
            details = info.get(timeout=10)
            print(f"server pid {details['pid']}: loop {details['loop']}, http {details['http']}; "
                  f"database {settings.database_url.split('://')[0]}; workers {args.workers}; inbox {path}; "
                  f"{n} activities from {senders} senders over {args.concurrency} connections")
            phases = [requests, duplicates] if duplicates else [requests]
            loader = spawn.Process(target=_load, args=(base_url, phases, args.concurrency, results, go), daemon=True)
            loader.start()

            profiler = None
            if args.py_spy:
                profiler = subprocess.Popen(["py-spy", "record", "--pid", str(details["pid"]), "--format", "raw",
                                             "--rate", "200", "--output", args.py_spy, "--nonblocking"],
                                            stdout=subprocess.DEVNULL)
                time.sleep(1.0)
            cpu_before = _thread_cpu(details["pid"])
            go.put(True)
            first = results.get(timeout=3600)
            cpu_after = _thread_cpu(details["pid"])
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(timeout=30)
            _report("activities", n, first)
            print(_cpu_line(cpu_before, cpu_after, first["elapsed"], n, first["cpu"]))
            stored, pending = _count(settings, run)
            ok = stored == n and first["statuses"] == {202: n}
            print(f"rows stored            {stored} (expected {n}) {'OK' if stored == n else 'MISMATCH'}")

            if duplicates:
                go.put(True)
                second = results.get(timeout=3600)
                _report("re-sent duplicates", len(duplicates), second)
                again, pending = _count(settings, run)
                dup_ok = again == stored and second["statuses"] == {202: len(duplicates)}
                ok = ok and dup_ok
                print(f"duplicates rejected    {len(duplicates) - (again - stored)} of {len(duplicates)}, all 202:"
                      f" {second['statuses'] == {202: len(duplicates)}}; rows now {again} "
                      f"{'OK' if dup_ok else 'MISMATCH'}")
            if args.workers == "on":
                drain_started = time.perf_counter()
                while pending and time.perf_counter() - drain_started < 600:
                    time.sleep(0.25)
                    _, pending = _count(settings, run)
                print(f"inbox worker           {pending} still pending "
                      f"{time.perf_counter() - drain_started:.1f} s after the last POST; rows by state "
                      f"{asyncio.run(_states(settings, run))}")
        finally:
            if loader is not None:
                loader.join(timeout=10)
                if loader.is_alive():
                    loader.terminate()
            if server.pid is not None and server.is_alive():
                os.kill(server.pid, signal.SIGTERM)
                server.join(timeout=30)
                if server.is_alive():
                    server.terminate()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
