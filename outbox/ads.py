"""Petites annonces (issue 5): placeholder with the final hook signatures; the ads engineer fills it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.models import Actor, Status

if TYPE_CHECKING:
    from outbox.command_base import CommandBase


async def prepare_ad(cmd: CommandBase, session: AsyncSession, author: Actor, status: Status) -> None:
    return None
