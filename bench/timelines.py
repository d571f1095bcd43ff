"""Timeline read benchmark: home and public pages through the real app, on a filled database.

    python bench/timelines.py [--statuses 100000] [--accounts 1000] [--follows 100] [--requests 200]
                              [--db sqlite|URL] [--postgres] [--analyze]

A fresh database (temporary SQLite by default; --db URL for an existing empty PostgreSQL database;
--postgres starts a throw-away PostgreSQL 15 server as the `postgres` user in a temporary
directory on a free port) is filled directly with bulk inserts: ACCOUNTS actors (a fifth of them
remote), each following about FOLLOWS others, STATUSES statuses spread over 30 days with
replies, boosts, mentions, hashtags, followers-only posts and direct messages sprinkled in the
proportions of a small instance. Fifty local accounts get an access token; half of them follow
two hashtags.

The app then runs under uvicorn on 127.0.0.1 in its own process (plain HTTP, rate limit off,
no workers), and one client sends REQUESTS sequential keep-alive requests per scenario (each
from a random one of the fifty viewers): home first page, home deep page (max_id a fifth of
the way into the data, i.e. weeks back), public first page, public deep page, a hashtag page,
and the neighbourhood ("voisinage") timeline, first and deep page: every account lives in one of
the 43 communes of the two shipped territory files and posts there, and viewers read the default
10 km around their commune. Prints p50/p99/max latency per scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _server import wait_ready  # noqa: E402  (bench/ is on sys.path when run as a script)

from fediverse.config import Settings, ensure_secret_key, load_settings  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")
VIEWERS = 50
TAGS = [f"tag{n}" for n in range(40)] + ["marche", "brocante", "mairie", "ecole", "fete"]
WORDS = ("marché dimanche mairie école conseil fête vélo route travaux bibliothèque concert piscine "
         "randonnée jardin boulangerie association réunion parking bus neige soleil pluie").split()
BATCH = 5000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------------------ data


def _make_id(moment: datetime, sequence: int) -> int:
    """Time-ordered ids like fediverse.ids.new_id, unique by construction (sequence in the low bits)."""
    return (int(moment.timestamp() * 1000) << 16) | (sequence & 0xFFFF)


def generate(accounts: int, follows: int, statuses: int, seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    """Every row to insert, as plain dicts per table (deterministic for a given seed)."""
    from actors.territory import read_communes_file
    from fediverse.api.auth import hash_secret
    from fediverse.places import place_to_as

    rng = random.Random(seed)
    counter = itertools.count(1 << 40)  # ids of relation rows only need to be unique
    start = datetime.now(UTC) - timedelta(days=30)
    territories = Path(__file__).resolve().parents[1] / "fediverse" / "territories"
    communes = [row for name in ("couesnon-marches-de-bretagne.csv", "fougeres-agglomeration.csv")
                for row in read_communes_file(territories / name)]
    commune_rows = [{"insee": c.insee, "name": c.name, "postal_codes": " ".join(c.postal_codes),
                     "latitude": c.latitude, "longitude": c.longitude, "created_at": start, "updated_at": start}
                    for c in communes]
    places = {c.insee: json.dumps(place_to_as(c.name, c.latitude, c.longitude, insee=c.insee)) for c in communes}
    actors = []
    for n in range(accounts):
        remote = n % 5 == 4
        domain = f"remote{n % 37}.example" if remote else None
        base = f"https://{domain or 'bench.invalid'}/users/u{n}"
        actors.append({
            "id": _make_id(start - timedelta(days=30) + timedelta(seconds=n), n), "uri": base, "url": base,
            "username": f"u{n}", "username_lower": f"u{n}", "domain": domain, "domain_key": domain or "",
            "actor_type": "Person", "kind": "resident", "display_name": f"Habitant {n}", "summary": "",
            "inbox_url": base + "/inbox", "followers_url": base + "/followers", "manually_approves_followers": False,
            "discoverable": True, "also_known_as": "[]", "published": start - timedelta(days=30), "bot": False,
            "fields_json": "[]", "followers_count": 0, "following_count": 0, "statuses_count": 0,
            "commune_insee": communes[n % len(communes)].insee,
        })
    ids = [a["id"] for a in actors]
    local_ids = [a["id"] for a in actors if a["domain"] is None]
    follow_rows = []
    for actor in actors:
        if actor["domain"] is not None and rng.random() < 0.7:
            continue  # remote actors follow few people here (only local follows matter for home)
        targets = rng.sample(ids, min(follows, len(ids) - 1))
        for target in targets:
            if target == actor["id"]:
                continue
            follow_rows.append({"id": next(counter),
                                "uri": f"{actor['uri']}#follows/{len(follow_rows)}", "follower_id": actor["id"],
                                "followee_id": target, "state": "accepted", "created_at": start})
    status_rows: list[dict[str, Any]] = []
    mention_rows: list[dict[str, Any]] = []
    tag_rows: list[dict[str, Any]] = []
    public_ids: list[int] = []
    span = timedelta(days=30).total_seconds()
    by_id = {a["id"]: a for a in actors}
    for n in range(statuses):
        moment = start + timedelta(seconds=span * n / statuses)
        status_id = _make_id(moment, n)
        author = by_id[rng.choice(ids)]
        roll = rng.random()
        row: dict[str, Any] = {
            "id": status_id, "uri": f"{author['uri']}/statuses/{status_id}", "url": None, "actor_id": author["id"],
            "local": author["domain"] is None, "object_type": "Note", "visibility": "public", "name": None,
            "summary": "", "content": "", "source_text": None, "language": "fr", "sensitive": False,
            "in_reply_to_uri": None, "in_reply_to_id": None, "in_reply_to_actor_id": None,
            "conversation_uri": f"https://bench.invalid/contexts/{status_id}", "reblog_of_id": None,
            "activity_uri": None, "to_json": "[]", "cc_json": "[]", "extra_json": None, "published": moment,
            "updated": None, "replies_count": 0, "reblogs_count": 0, "favourites_count": 0,
            "commune_insee": None, "latitude": None, "longitude": None, "location_json": None,
        }
        if roll < 0.10 and public_ids:  # a boost
            row["reblog_of_id"] = rng.choice(public_ids[-2000:])
            row["conversation_uri"] = None
            status_rows.append(row)
            continue
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 25)))
        row["content"] = f"<p>{words}</p>"
        if roll < 0.25 and status_rows:  # a reply to a recent status
            parent = status_rows[-rng.randint(1, min(500, len(status_rows)))]
            if parent["reblog_of_id"] is None:
                row.update(in_reply_to_uri=parent["uri"], in_reply_to_id=parent["id"],
                           in_reply_to_actor_id=parent["actor_id"], conversation_uri=parent["conversation_uri"])
        visibility = rng.random()
        row["visibility"] = ("direct" if visibility < 0.04 else "private" if visibility < 0.15
                             else "unlisted" if visibility < 0.25 else "public")
        mentioned: set[int] = set()
        if row["in_reply_to_actor_id"] and row["in_reply_to_actor_id"] != author["id"]:
            mentioned.add(row["in_reply_to_actor_id"])
        if row["visibility"] == "direct" or rng.random() < 0.08:
            mentioned.add(rng.choice(local_ids))
        mentioned.discard(author["id"])
        if row["visibility"] == "direct" and not mentioned:
            row["visibility"] = "private"
        for target in mentioned:
            mention_rows.append({"id": next(counter), "status_id": status_id, "actor_id": target})
        if rng.random() < 0.12:
            for name in {rng.choice(TAGS) for _ in range(rng.randint(1, 2))}:
                tag_rows.append({"id": next(counter), "status_id": status_id, "name": name})
                row["content"] += f'<p><a href="https://bench.invalid/tags/{name}">#{name}</a></p>'
        if row["visibility"] == "public":
            public_ids.append(status_id)
        if row["visibility"] != "direct":
            home = next(c for c in communes if c.insee == author["commune_insee"])
            row.update(commune_insee=home.insee, latitude=home.latitude, longitude=home.longitude,
                       location_json=places[home.insee])
        status_rows.append(row)
    viewers = rng.sample(local_ids, min(VIEWERS, len(local_ids)))
    tokens = [{"id": next(counter), "token_hash": hash_secret(f"bench-token-{i}"), "actor_id": actor_id,
               "user_id": None, "app_id": None, "scopes": "read write", "created_at": start}
              for i, actor_id in enumerate(viewers)]
    # Half of the viewers follow two hashtags (their public posts join the home timeline).
    tag_follows = [{"id": next(counter), "actor_id": actor_id, "name": name, "created_at": start}
                   for actor_id in viewers[::2] for name in rng.sample(TAGS, 2)]
    return {"communes": commune_rows, "actors": actors, "follows": follow_rows, "statuses": status_rows,
            "mentions": mention_rows, "status_tags": tag_rows, "oauth_tokens": tokens, "tag_follows": tag_follows}


async def fill(database_url: str, rows: dict[str, list[dict[str, Any]]], analyze: bool) -> None:
    from sqlalchemy import text

    from fediverse.db import Base, create_engine
    from fediverse.migrate import upgrade_database

    engine = create_engine(database_url)
    await upgrade_database(engine)
    tables = Base.metadata.tables
    try:
        async with engine.begin() as conn:
            for name in ("communes", "actors", "follows", "statuses", "mentions", "status_tags", "oauth_tokens",
                         "tag_follows"):
                table = tables[name]
                for offset in range(0, len(rows[name]), BATCH):
                    await conn.execute(table.insert(), rows[name][offset:offset + BATCH])
        if analyze or not database_url.startswith("sqlite"):
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


# ------------------------------------------------------------------------------------------ server


def _serve(settings: Settings, port: int) -> None:
    import logging

    import uvicorn

    from fediverse.app import create_app

    logging.basicConfig(level=logging.WARNING, format="server: %(message)s")
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, lifespan="on", log_level="warning",
                            access_log=False)
    asyncio.run(uvicorn.Server(config).serve())


class Postgres:
    """A throw-away PostgreSQL 15 cluster owned by the `postgres` user, in a temporary directory."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        self.port = _free_port()
        shutil.chown(self.dir, "postgres", "postgres")

    def _as_postgres(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.STDOUT)

    def start(self) -> str:
        data = self.dir / "data"
        self._as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "log"), "-w", "-o",
                          f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        self._as_postgres(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "bench")
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/bench"

    def stop(self) -> None:
        try:
            self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------------------------------------ load


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc): a per-request cost that machine load does not inflate."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(base_url: str, scenarios: dict[str, str], tokens: list[str], requests: int, server_pid: int,
                  seed: int = 11) -> tuple[dict[str, list[float]], dict[str, float]]:
    import aiohttp

    rng = random.Random(seed)
    results: dict[str, list[float]] = {}
    cpu: dict[str, float] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        for name, path in scenarios.items():
            timings = []
            cpu_before = 0.0
            for n in range(requests + 10):
                if n == 10:
                    cpu_before = _cpu_seconds(server_pid)
                headers = {"Authorization": f"Bearer {rng.choice(tokens)}"}
                began = time.perf_counter()
                async with session.get(base_url + path, headers=headers) as response:
                    body = await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{path}: HTTP {response.status} {body[:200]!r}")
                if n >= 10:  # the first ones warm caches and the connection
                    timings.append((time.perf_counter() - began) * 1000)
            results[name] = timings
            cpu[name] = (_cpu_seconds(server_pid) - cpu_before) * 1000 / requests
    return results, cpu


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--statuses", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--follows", type=int, default=100)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--db", default="sqlite", help="sqlite (temporary file) or an empty database URL")
    parser.add_argument("--postgres", action="store_true", help="start a temporary PostgreSQL 15 server")
    parser.add_argument("--analyze", action="store_true", help="run ANALYZE on SQLite too (always on PostgreSQL)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-timelines-"))
    postgres = Postgres() if args.postgres else None
    server = None
    try:
        database_url = postgres.start() if postgres else (
            f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}" if args.db == "sqlite" else args.db)
        began = time.perf_counter()
        rows = generate(args.accounts, args.follows, args.statuses)
        asyncio.run(fill(database_url, rows, args.analyze))
        print(f"database: {database_url.split('@')[-1] if postgres else database_url}")
        print(f"filled in {time.perf_counter() - began:.1f}s: {len(rows['actors'])} accounts, "
              f"{len(rows['follows'])} follows, {len(rows['statuses'])} statuses, {len(rows['mentions'])} mentions, "
              f"{len(rows['status_tags'])} hashtags")

        port = _free_port()
        settings = ensure_secret_key(load_settings(
            environ={}, domain=f"127.0.0.1:{port}", data_dir=workdir / "data", database_url=database_url,
            insecure_http=True, run_workers=False, api_rate_limit=0))
        server = multiprocessing.get_context("spawn").Process(target=_serve, args=(settings, port), daemon=True)
        server.start()
        base_url = f"http://127.0.0.1:{port}"
        wait_ready(base_url, server)

        ordered = sorted(r["id"] for r in rows["statuses"])
        deep = ordered[len(ordered) // 5]
        scenarios = {
            "home, first page": "/api/v1/timelines/home",
            "home, deep page (max_id)": f"/api/v1/timelines/home?max_id={deep}",
            "public, first page": "/api/v1/timelines/public",
            "public, deep page (max_id)": f"/api/v1/timelines/public?max_id={deep}",
            "hashtag #marche, first page": "/api/v1/timelines/tag/marche",
            "neighbourhood, first page": "/api/v1/timelines/neighbourhood",
            "neighbourhood, deep (max_id)": f"/api/v1/timelines/neighbourhood?max_id={deep}",
        }
        tokens = [f"bench-token-{i}" for i in range(len(rows["oauth_tokens"]))]
        assert server.pid is not None
        results, cpu = asyncio.run(measure(base_url, scenarios, tokens, args.requests, server.pid))
        print(f"{args.requests} sequential requests per scenario, 20 statuses per page, "
              f"random viewer of {len(tokens)}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"{'scenario':32} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'mean ms':>8} {'server CPU ms/req':>18}")
        for name, timings in results.items():
            print(f"{name:32} {_percentile(timings, 0.5):8.1f} {_percentile(timings, 0.99):8.1f} "
                  f"{max(timings):8.1f} {statistics.fmean(timings):8.1f} {cpu[name]:18.1f}")
    finally:
        if server is not None and server.is_alive():
            server.terminate()
            server.join(10)
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
