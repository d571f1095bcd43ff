"""Website page-render benchmark: the pages people open most, over real HTTP, on a filled database.

    python bench/web_pages.py [--events 10000] [--ads 10000] [--notes 5000] [--accounts 300]
                              [--requests 200] [--db sqlite|URL] [--postgres] [--analyze]

A fresh database (temporary SQLite by default; --db URL for an existing empty database; --postgres
starts a throw-away PostgreSQL 15 server, as bench/timelines.py does) gets the Couesnon Marches de
Bretagne and Fougères Agglomération communes, ACCOUNTS local accounts (residents, associations, shops,
a town hall) and one resident with a password (the signed-in visitor).

A few real events, ads and posts are first published through the domain commands (EventCommands,
outbox.ad_commands.post_ad, Outbox.post), so their rows are exactly what the website and the API write;
then EVENTS events, ADS ads and NOTES posts are bulk-inserted as copies of them, directly through the
models' tables (new ids, authors, titles, communes, dates: events from a month ago to six months ahead,
ads published over two months with expiry dates ahead, a tenth of them closed or expired). PostgreSQL
is ANALYZEd after the load; SQLite only with --analyze (a fresh SQLite database has no statistics, as
on a new instance).

The app then runs under uvicorn on 127.0.0.1 in its own process (plain HTTP, no workers) and one client
sends REQUESTS sequential keep-alive GETs per page (after ten warm-up ones): the home page (anonymous
and signed in), the agenda, the ads list, and their filtered variants when the pages take those
filters. Prints p50/p99/max latency and the server's CPU time per request (on SQLite it includes the
queries, which run in the server process; PostgreSQL's own CPU time is not counted). A page that does
not exist (yet) is reported as such and skipped; any other answer than 200 stops the run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _server import wait_ready  # noqa: E402  (bench/ is on sys.path when run as a script)
from timelines import BATCH, Postgres, _cpu_seconds, _free_port, _make_id, _percentile, _serve  # noqa: E402

from fediverse.config import Settings, ensure_secret_key, load_settings  # noqa: E402

TERRITORY_DIR = Path(__file__).resolve().parents[1] / "fediverse" / "territories"
TERRITORIES = ("couesnon-marches-de-bretagne.csv", "fougeres-agglomeration.csv")
KINDS = ["resident"] * 6 + ["association", "association", "shop", "official"]
EVENT_TITLES = ("Fest-noz", "Tournoi de pétanque", "Conseil municipal", "Marché de producteurs", "Vide-greniers",
                "Concert à l’église", "Randonnée des chemins creux", "Atelier vélo", "Loto de l’école",
                "Repas des aînés", "Heure du conte", "Ciné plein air", "Collecte de sang", "Fête de la musique")
AD_TITLES = ("Vélo enfant 16 pouces", "Table de jardin", "Poussette", "Bois de chauffage", "Covoiturage Rennes",
             "Cours de guitare", "Tondeuse", "Lot de livres", "Cherche garde d’enfants", "Chaton à donner",
             "Armoire normande", "Plants de tomates", "Prête remorque", "Baby-sitting")
AD_CATEGORIES = ("bon_plan", "pret", "don", "vente", "service", "covoiturage", "emploi", "logement", "recherche")
WORDS = ("marché dimanche mairie école conseil fête vélo route travaux bibliothèque concert piscine randonnée "
         "jardin boulangerie association réunion parking bus").split()
VISITOR = "visiteur"
VISITOR_PASSWORD = "bench visitor password"


# ------------------------------------------------------------------------------------------ data


def _copy(row: Any) -> dict[str, Any]:
    """A model instance as the plain dict its table's insert takes."""
    return {column.name: getattr(row, column.key) for column in row.__mapper__.columns}


async def _accounts(runtime: Any, count: int) -> tuple[list[dict[str, Any]], int]:
    """Communes, the visitor (a real account with a password) and COUNT bulk accounts; the communes' rows and
    the visitor's actor id."""
    from actors.accounts import create_account
    from actors.territory import import_communes, init_territory, read_communes_file
    from fediverse.db import Base
    from fediverse.models import Actor
    from fediverse.models.actor import KIND_TO_TYPE

    async with runtime.transaction() as session:
        await init_territory(session, "Couesnon Marches de Bretagne", "intercommunality")
        communes = [row for name in TERRITORIES for row in read_communes_file(TERRITORY_DIR / name)]
        await import_communes(session, communes)
        visitor, _ = await create_account(session, runtime.uris, VISITOR, email="visitor@bench.invalid",
                                          password=VISITOR_PASSWORD, display_name="Visiteur",
                                          commune_insee=communes[0].insee)
    async with runtime.sessions() as session:
        template = _copy(await session.get(Actor, visitor.id))
    uris, start = runtime.uris, datetime.now(UTC) - timedelta(days=400)
    rows = []
    for n in range(count):  # copies of the visitor's row (same keys: nothing is signed or delivered here)
        username, commune, kind = f"compte{n}", communes[n % len(communes)], KINDS[n % len(KINDS)]
        uri = uris.actor(username)
        rows.append({**template, "id": _make_id(start + timedelta(seconds=n), n), "uri": uri,
                     "url": uris.profile_page(username), "username": username, "username_lower": username,
                     "kind": kind, "actor_type": KIND_TO_TYPE[kind], "display_name": f"Compte {n} de {commune.name}",
                     "inbox_url": uris.inbox(username), "outbox_url": uris.outbox(username),
                     "followers_url": uris.followers(username), "following_url": uris.following(username),
                     "featured_url": uris.featured(username), "public_key_id": uris.key_id(uri),
                     "commune_insee": commune.insee, "published": start})
    async with runtime.engine.begin() as conn:
        await conn.execute(Base.metadata.tables["actors"].insert(), rows)
    return [{"insee": c.insee, "name": c.name, "latitude": c.latitude, "longitude": c.longitude}
            for c in communes], visitor.id


async def _templates(runtime: Any, author_id: int) -> tuple[list[Any], list[Any], list[Any]]:
    """Real events, ads and posts published through the commands: (status, event), (status, ad), status."""
    from sqlalchemy import select

    from fediverse.models import Ad, Event, Status
    from outbox.ad_commands import post_ad
    from outbox.ads import AdSpec
    from outbox.commands import Outbox, StatusDraft
    from outbox.event_wire import event_spec
    from outbox.events import EventCommands

    outbox = Outbox(runtime)
    day = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    events = [await EventCommands(runtime).create_event(author_id, event_spec({
        "title": "Fest-noz", "description": "<p>Avec les sonneurs du pays. Buvette et crêpes.</p>",
        "start": f"{day}T20:30", "end": f"{day}T23:59", "category": category, "capacity": capacity,
        "place": {"name": "Salle des fêtes", "street": "2 rue de la Mairie", "commune": "35257"}}))
        for category, capacity in (("PARTY", "150"), ("SPORTS", None), ("MEETING", None))]
    ads = [await post_ad(outbox, author_id, AdSpec(
        title="Vélo enfant", description="Bon état, à venir chercher.", category=category, purpose=purpose,
        price_cents=price, free=price is None and category == "don", expires_at=None, commune="35257"))
        for category, purpose, price in (("vente", "offer", 3500), ("don", "offer", None),
                                         ("covoiturage", "request", None))]
    notes = [await outbox.post(author_id, StatusDraft(text="Le marché de dimanche est déplacé place de l’église.",
                                                      commune="35257"))]
    async with runtime.sessions() as session:
        event_rows = [(await session.get(Status, e.status_id),
                       await session.scalar(select(Event).where(Event.id == e.id))) for e in events]
        ad_rows = [(await session.get(Status, a.status_id), await session.scalar(select(Ad).where(Ad.id == a.id)))
                   for a in ads]
        note_rows = [await session.get(Status, n.id) for n in notes]
    return event_rows, ad_rows, note_rows


def _status_copy(template: Any, status_id: int, author: int, moment: datetime, commune: dict[str, Any],
                 name: str | None, text: str) -> dict[str, Any]:
    row = _copy(template)
    base = template.uri.rsplit("/", 1)[0]
    row.update(id=status_id, uri=f"{base}/{status_id}", url=f"{(template.url or base).rsplit('/', 1)[0]}/{status_id}",
               actor_id=author, published=moment, updated=None, name=name, content=f"<p>{text}</p>",
               source_text=text, commune_insee=commune["insee"], latitude=commune["latitude"],
               longitude=commune["longitude"], activity_uri=None,
               conversation_uri=f"{base}/{status_id}#context" if row.get("conversation_uri") else None)
    return row


def generate(templates: tuple[list[Any], list[Any], list[Any]], communes: list[dict[str, Any]],
             authors: list[int], events: int, ads: int, notes: int, seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    """Copies of the template rows: every row to insert, per table (deterministic for a seed)."""
    rng = random.Random(seed)
    sequence = itertools.count(1)
    now = datetime.now(UTC)
    event_templates, ad_templates, note_templates = templates
    rows: dict[str, list[dict[str, Any]]] = {"statuses": [], "events": [], "ads": []}

    def words(low: int, high: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))

    for n in range(events):
        status, event = event_templates[n % len(event_templates)]
        published = now - timedelta(days=60) + timedelta(seconds=rng.randint(0, 60 * 86400))
        starts = now - timedelta(days=30) + timedelta(minutes=15 * rng.randint(0, 210 * 96))
        commune = rng.choice(communes)
        title, author = f"{rng.choice(EVENT_TITLES)} n° {n}", rng.choice(authors)
        status_id = _make_id(published, next(sequence))
        rows["statuses"].append(_status_copy(status, status_id, author, published, commune, title, words(8, 40)))
        row = _copy(event)
        row.update(id=_make_id(published, next(sequence)), status_id=status_id, actor_id=author,
                   attributed_to_id=None, uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)), title=title,
                   starts_at=starts, ends_at=starts + timedelta(hours=rng.choice((1, 2, 3, 5))),
                   locality=commune["name"], commune_insee=commune["insee"], latitude=commune["latitude"],
                   longitude=commune["longitude"], participant_count=rng.randint(0, 40),
                   event_status="CANCELLED" if rng.random() < 0.03 else "CONFIRMED",
                   created_at=published, updated_at=published)
        rows["events"].append(row)
    for n in range(ads):
        status, ad = ad_templates[n % len(ad_templates)]
        published = now - timedelta(days=60) + timedelta(seconds=rng.randint(0, 60 * 86400))
        commune = rng.choice(communes)
        title, author = f"{rng.choice(AD_TITLES)} n° {n}", rng.choice(authors)
        status_id = _make_id(published, next(sequence))
        rows["statuses"].append(_status_copy(status, status_id, author, published, commune, None,
                                             f"{title} {words(5, 30)}"))
        row = _copy(ad)
        roll = rng.random()
        category = rng.choice(AD_CATEGORIES)
        price = rng.randint(1, 300) * 100 if category == "vente" else None
        row.update(id=_make_id(published, next(sequence)), status_id=status_id, actor_id=author, title=title,
                   category=category, price_cents=price, free=category == "don",
                   purpose="request" if category == "recherche" else "offer",
                   commune_insee=commune["insee"], latitude=commune["latitude"], longitude=commune["longitude"],
                   expires_at=published + timedelta(days=90) if roll > 0.05 else now - timedelta(days=1),
                   state="closed" if roll < 0.1 and roll > 0.05 else "open",
                   closed_reason="donne" if roll < 0.1 and roll > 0.05 else None,
                   expired_at=now - timedelta(days=1) if roll <= 0.05 else None,
                   created_at=published, updated_at=published)
        rows["ads"].append(row)
    for _ in range(notes):
        status = note_templates[0]
        published = now - timedelta(days=60) + timedelta(seconds=rng.randint(0, 60 * 86400))
        rows["statuses"].append(_status_copy(status, _make_id(published, next(sequence)), rng.choice(authors),
                                             published, rng.choice(communes), None, words(5, 40)))
    return rows


async def fill(settings: Settings, accounts: int, events: int, ads: int, notes: int,
               analyze: bool = False) -> tuple[dict[str, int], str]:
    """Fill the database; how many rows of each kind, and the visitor's session cookie."""
    import time as clock

    from sqlalchemy import select, text

    from actors.browser_sessions import open_browser_session
    from fediverse.db import Base, create_engine, session_factory
    from fediverse.migrate import upgrade_database
    from fediverse.models import Actor, User
    from fediverse.runtime import Runtime
    from fediverse.uris import Uris
    from fediverse.web.session import WebSession, sign

    engine = create_engine(settings.database_url)
    runtime = Runtime(settings=settings, engine=engine, sessions=session_factory(engine), uris=Uris(settings))
    try:
        await upgrade_database(engine)
        communes, visitor_id = await _accounts(runtime, accounts)
        templates = await _templates(runtime, visitor_id)
        async with runtime.sessions() as session:
            authors = list((await session.scalars(select(Actor.id).where(Actor.domain.is_(None)))).all())
        rows = generate(templates, communes, authors, events, ads, notes)
        tables = Base.metadata.tables
        async with engine.begin() as conn:
            for name in ("statuses", "events", "ads"):
                for offset in range(0, len(rows[name]), BATCH):
                    await conn.execute(tables[name].insert(), rows[name][offset:offset + BATCH])
        if analyze or not settings.database_url.startswith("sqlite"):
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
        async with runtime.transaction() as session:
            user = await session.scalar(select(User).where(User.actor_id == visitor_id))
            key = await open_browser_session(session, user, user_agent="bench", ip=None)
        web = WebSession()
        web.log_in(user.id, key)
        cookie = sign(settings, {**web.data, "exp": int(clock.time()) + 86400})
    finally:
        await engine.dispose()
    counts = {name: len(value) + 3 for name, value in rows.items()}
    counts["accounts"] = accounts + 1
    return counts, cookie


# ------------------------------------------------------------------------------------------ load


async def measure(base_url: str, pages: dict[str, tuple[str, bool]], cookie: str, requests: int,
                  server_pid: int) -> dict[str, tuple[list[float], float, int] | None]:
    """name -> (latencies in ms, server CPU ms per request, page size) or None when the page does not exist."""
    import aiohttp

    from fediverse.web.session import COOKIE_NAME

    results: dict[str, tuple[list[float], float, int] | None] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        for name, (path, signed) in pages.items():
            headers = {"Accept-Language": "fr-FR,fr;q=0.9"}
            if signed:
                headers["Cookie"] = f"{COOKIE_NAME}={cookie}"
            timings: list[float] = []
            cpu_before, size = 0.0, 0
            for n in range(requests + 10):
                if n == 10:
                    cpu_before = _cpu_seconds(server_pid)
                began = time.perf_counter()
                async with session.get(base_url + path, headers=headers, allow_redirects=False) as response:
                    body = await response.read()
                if response.status == 404 and n == 0:
                    break
                if response.status != 200:
                    raise RuntimeError(f"{path}: HTTP {response.status} {body[:300]!r}")
                if n >= 10:
                    timings.append((time.perf_counter() - began) * 1000)
                size = len(body)
            results[name] = (timings, (_cpu_seconds(server_pid) - cpu_before) * 1000 / requests, size) \
                if timings else None
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--ads", type=int, default=10_000)
    parser.add_argument("--notes", type=int, default=5_000, help="plain posts besides the events' and ads'")
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--db", default="sqlite", help="sqlite (temporary file) or an empty database URL")
    parser.add_argument("--postgres", action="store_true", help="start a temporary PostgreSQL 15 server")
    parser.add_argument("--analyze", action="store_true", help="run ANALYZE on SQLite too (always on PostgreSQL)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-web-pages-"))
    postgres = Postgres() if args.postgres else None
    server = None
    try:
        database_url = postgres.start() if postgres else (
            f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}" if args.db == "sqlite" else args.db)
        port = _free_port()
        settings = ensure_secret_key(load_settings(
            environ={}, domain=f"127.0.0.1:{port}", data_dir=workdir / "data", database_url=database_url,
            insecure_http=True, run_workers=False, api_rate_limit=0))
        began = time.perf_counter()
        counts, cookie = asyncio.run(fill(settings, args.accounts, args.events, args.ads, args.notes,
                                               args.analyze))
        print(f"database: {database_url.split('@')[-1] if postgres else database_url}")
        print(f"filled in {time.perf_counter() - began:.1f}s: {counts['accounts']} accounts, "
              f"{counts['events']} events, {counts['ads']} ads, {counts['statuses']} statuses in all")

        server = multiprocessing.get_context("spawn").Process(target=_serve, args=(settings, port), daemon=True)
        server.start()
        base_url = f"http://127.0.0.1:{port}"
        wait_ready(base_url, server)
        pages = {
            "home (anonymous)": ("/", False),
            "home (signed in)": ("/", True),
            "agenda": ("/agenda", False),
            "agenda, one commune": ("/agenda?commune=35257", False),
            "agenda, month view": ("/agenda?view=month", False),
            "ads list": ("/annonces", False),
            "ads list, one category": ("/annonces?category=vente", False),
        }
        assert server.pid is not None
        results = asyncio.run(measure(base_url, pages, cookie, args.requests, server.pid))
        print(f"{args.requests} sequential requests per page after 10 warm-up ones; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"{'page':26} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'mean ms':>8} {'server CPU ms/req':>18} "
              f"{'kB':>6}")
        for name, result in results.items():
            if result is None:
                print(f"{name:26} (no such page yet: 404)")
                continue
            timings, cpu, size = result
            print(f"{name:26} {_percentile(timings, 0.5):8.1f} {_percentile(timings, 0.99):8.1f} "
                  f"{max(timings):8.1f} {statistics.fmean(timings):8.1f} {cpu:18.1f} {size / 1024:6.0f}")
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
