"""Async engine and session factory; SQLite gets WAL and sane pragmas, PostgreSQL runs unchanged."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, MetaData, TypeDecorator, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

log = logging.getLogger(__name__)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops tzinfo) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# 64-bit ids everywhere; SQLite only auto-aliases INTEGER PRIMARY KEY, and our ids come from Python.
BigId = BigInteger().with_variant(sqlite.INTEGER(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# SQLite plans its queries from table statistics; a new database has none, and without them the
# home page reads every open ad to find the newest (bench/web_pages.py: 114 ms -> 46 ms with them).
# ANALYZE bounded by analysis_limit costs milliseconds, so it runs at start and every few hours.
STATISTICS_EVERY_SECONDS = 6 * 3600


async def refresh_statistics(engine: AsyncEngine) -> None:
    """Refresh SQLite's query planner statistics (PostgreSQL's autovacuum keeps its own)."""
    if engine.dialect.name != "sqlite":
        return
    async with engine.begin() as connection:
        await connection.exec_driver_sql("PRAGMA analysis_limit=1000")
        await connection.exec_driver_sql("ANALYZE")


async def run_statistics_refresh(engine: AsyncEngine, stopping: asyncio.Event,
                                 every: float = STATISTICS_EVERY_SECONDS) -> None:
    while not stopping.is_set():
        try:
            await refresh_statistics(engine)
        except Exception:  # a busy database: next time
            log.warning("ANALYZE failed", exc_info=True)
        try:
            await asyncio.wait_for(stopping.wait(), timeout=every)
        except TimeoutError:
            pass


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, tuple):
        return tuple(_without_nul(item) for item in value)
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {key: _without_nul(item) for key, item in value.items()}
    return value


def _strip_nul_characters(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                          executemany: bool) -> tuple[str, Any]:
    """A NUL character is never part of our text, and PostgreSQL refuses it in every text value (an
    error, hence a 500, for a name typed with %00 in an address or a form). It is dropped from every
    text parameter, on SQLite too, so both databases store and look up the same strings."""
    return statement, _without_nul(parameters)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
        engine = create_async_engine(url, pool_pre_ping=True, **kwargs)
    event.listen(engine.sync_engine, "before_cursor_execute", _strip_nul_characters, retval=True)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def insert_ignoring_conflicts(session: AsyncSession, table: Any, rows: list[dict[str, Any]], *keys: str) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING on whichever dialect we run; dedup without a race."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).values(rows).on_conflict_do_nothing(index_elements=list(keys) or None)
    return stmt
