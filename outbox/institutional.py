"""Institutional messages of the collectivity (territory issue)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.models import Actor, Status

if TYPE_CHECKING:
    from outbox.command_base import CommandBase


async def record_institutional_message(cmd: CommandBase, session: AsyncSession, author: Actor,
                                       status: Status) -> None:
    return None
