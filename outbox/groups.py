"""Interest groups (FEP-1b12): a group re-shares what its members address to it (territory issue)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.models import Actor, Status

if TYPE_CHECKING:
    from outbox.command_base import CommandBase


async def reshare_to_groups(cmd: CommandBase, session: AsyncSession, author: Actor, status: Status) -> None:
    return None
