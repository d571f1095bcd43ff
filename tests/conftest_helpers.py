"""Helpers shared by conftest.py and the live-instance harness (importable from both)."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from fediverse.config import Settings, ensure_secret_key, load_settings
from fediverse.db import create_engine

# postgresql+asyncpg://user@host:port/postgres: when set, every test instance gets a fresh PostgreSQL
# database on that server instead of an SQLite file (the same tests prove the SQL is portable).
POSTGRES_ENV = "FEDIVERSE_TEST_POSTGRES_URL"


def fresh_postgres_database(admin_url: str) -> str:
    """CREATE a new empty database on the admin URL's server; its URL. Runs in a thread of its own so
    it works from synchronous fixtures and from inside a running event loop alike."""
    name = f"test_{uuid.uuid4().hex[:16]}"

    async def create() -> None:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as connection:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            await admin.dispose()

    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(create())
        except BaseException as exc:  # noqa: BLE001  (re-raised in the caller's thread)
            failure.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return str(make_url(admin_url).set(database=name).render_as_string(hide_password=False))


def make_settings(tmp_path: Path, domain: str = "commune-a.test", **overrides: object) -> Settings:
    """Settings for a test instance whose data lives in tmp_path (nothing read from os.environ except
    FEDIVERSE_TEST_POSTGRES_URL, which moves the database to a fresh PostgreSQL one)."""
    values: dict[str, object] = {"domain": domain, "data_dir": tmp_path, "worker_poll_seconds": 0.2,
                                 "delivery_retry_base_seconds": 0.05}
    values.update(overrides)
    admin_url = os.environ.get(POSTGRES_ENV, "")
    if admin_url and not values.get("database_url"):
        values["database_url"] = fresh_postgres_database(admin_url)
    return ensure_secret_key(load_settings(environ={}, **values))
