"""Apply Alembic migrations programmatically (used by `fediverse db upgrade` and `serve`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


async def upgrade_database(engine: AsyncEngine, revision: str = "head") -> None:
    """Run pending migrations on an existing async engine (inside the running event loop)."""

    def _upgrade(connection: object) -> None:
        config = alembic_config(str(engine.url.render_as_string(hide_password=False)))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


def upgrade_database_sync(database_url: str, revision: str = "head") -> None:
    from fediverse.db import create_engine

    async def _main() -> None:
        engine = create_engine(database_url)
        try:
            await upgrade_database(engine, revision)
        finally:
            await engine.dispose()

    asyncio.run(_main())
