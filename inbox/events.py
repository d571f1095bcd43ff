"""Remote events (issue 5): placeholder with the final hook signature."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.models import Status
from inbox.context import InboxContext


async def recognise_event(ctx: InboxContext, session: AsyncSession, status: Status, obj: dict[str, Any]) -> None:
    return None
