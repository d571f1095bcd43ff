"""Sharing the territory's public content with neighbour instances and relays (territory issue)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.models import Actor, Status

if TYPE_CHECKING:
    from outbox.command_base import CommandBase


async def share_with_neighbours(cmd: CommandBase, session: AsyncSession, author: Actor, status: Status,
                                note: dict[str, Any]) -> None:
    return None


async def neighbour_inboxes_for(session: AsyncSession, status: Status) -> list[str]:
    return []
