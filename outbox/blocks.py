"""Outbox commands on blocks: block (which cuts the follows both ways) and unblock."""

from __future__ import annotations

from sqlalchemy import select

from actors.follows import cut_follows
from fediverse.models import Block
from outbox.command_base import CommandBase
from outbox.serializers import wrap


class BlockCommands(CommandBase):
    """Blocks; a remote server is told, so that it hides us from the blocked account."""

    async def block(self, actor_id: int, target_id: int) -> Block:
        """Block: the relation is cut both ways, and a remote server is told (Mastodon hides us)."""
        async with self._transaction() as session:
            actor = await self._actor(session, actor_id, local=True)
            target = await self._actor(session, target_id)
            existing = await session.scalar(select(Block).where(Block.actor_id == actor.id,
                                                                Block.target_id == target.id))
            if existing is not None:
                return existing
            activity_id, activity_uri = self._activity_uri(actor)
            block = Block(id=activity_id, uri=activity_uri, actor_id=actor.id, target_id=target.id)
            session.add(block)
            await cut_follows(session, actor.id, target.id)
            if target.domain is not None:
                body = wrap("Block", activity_uri, actor.uri, target.uri, to=[target.uri])
                await self._emit(session, actor, body, [target.inbox_url], object_uri=target.uri,
                                 activity_id=activity_id)
            await session.flush()
            return block

    async def unblock(self, actor_id: int, target_id: int) -> None:
        async with self._transaction() as session:
            actor = await self._actor(session, actor_id, local=True)
            block = await session.scalar(select(Block).where(Block.actor_id == actor.id, Block.target_id == target_id))
            if block is None:
                return
            target = await self._actor(session, target_id)
            if target.domain is not None:
                await self._emit_undo(session, actor, wrap("Block", block.uri, actor.uri, target.uri),
                                      [target.inbox_url])
            await session.delete(block)
