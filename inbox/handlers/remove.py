"""Remove: a remote actor unpinned one of its posts (featured collection)."""

from __future__ import annotations

from typing import Any

from inbox.context import InboxContext
from inbox.handlers._featured import change_featured


async def handle(ctx: InboxContext, activity: dict[str, Any]) -> None:
    await change_featured(ctx, activity, add=False)
