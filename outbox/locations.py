"""Where a local status is: its `location` Place (helper-owned: see the territory issue)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.models import Actor, Status


async def locate_status(session: AsyncSession, status: Status, author: Actor, *, commune: str | None = None) -> None:
    return None
