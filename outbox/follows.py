"""Outbox commands on follows: follow, unfollow, and answers to follow requests."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.follows import accept_follow, drop_follow
from actors.notify import notify
from fediverse.models import Actor, Block, Follow
from outbox.command_base import CommandBase
from outbox.errors import CommandError, NotFound
from outbox.serializers import wrap


class FollowCommands(CommandBase):
    """Follows of and by local accounts; counters move only when a follow is accepted."""

    async def follow(self, actor_id: int, target_id: int) -> Follow:
        """Follow an actor; a local unlocked target accepts at once, a remote one answers Accept."""
        async with self._transaction() as session:
            actor = await self._actor(session, actor_id, local=True)
            target = await self._actor(session, target_id)
            if target.id == actor.id:
                raise CommandError("you cannot follow yourself")
            if await session.scalar(select(Block.id).where(Block.actor_id == target.id, Block.target_id == actor.id)):
                raise CommandError("this account has blocked you")
            existing = await session.scalar(select(Follow).where(
                Follow.follower_id == actor.id, Follow.followee_id == target.id))
            if existing is not None:
                return existing
            activity_id, activity_uri = self._activity_uri(actor)
            follow = Follow(id=activity_id, uri=activity_uri, follower_id=actor.id, followee_id=target.id)
            session.add(follow)
            await session.flush()
            if target.domain is None:
                await self._settle_local_follow(session, follow, actor, target)
            else:
                body = wrap("Follow", activity_uri, actor.uri, target.uri, to=[target.uri])
                await self._emit(session, actor, body, [target.inbox_url], object_uri=target.uri,
                                 activity_id=activity_id)
            return follow

    async def _settle_local_follow(self, session: AsyncSession, follow: Follow, follower: Actor, target: Actor) -> None:
        if target.manually_approves_followers:
            await notify(session, target, "follow_request", follower.id)
            return
        await accept_follow(session, follow)
        await notify(session, target, "follow", follower.id)

    async def unfollow(self, actor_id: int, target_id: int) -> None:
        async with self._transaction() as session:
            actor = await self._actor(session, actor_id, local=True)
            follow = await session.scalar(select(Follow).where(
                Follow.follower_id == actor.id, Follow.followee_id == target_id))
            if follow is None:
                return
            target = await self._actor(session, target_id)
            if target.domain is not None:
                await self._emit_undo(session, actor, wrap("Follow", follow.uri, actor.uri, target.uri),
                                      [target.inbox_url])
            await drop_follow(session, follow)

    async def answer_follow_request(self, actor_id: int, follower_id: int, *, accept: bool) -> None:
        """Accept or reject a pending follower (for accounts that lock followers)."""
        async with self._transaction() as session:
            actor = await self._actor(session, actor_id, local=True)
            follow = await session.scalar(select(Follow).where(
                Follow.follower_id == follower_id, Follow.followee_id == actor.id))
            if follow is None:
                raise NotFound("no such follow request")
            follower = await self._actor(session, follower_id)
            if accept and follow.state == "accepted":
                return
            if follower.domain is not None:
                await self._emit_follow_answer(session, actor, follower, follow.uri, accept)
            if accept:
                await accept_follow(session, follow)
                await notify(session, actor, "follow", follower.id)
            else:
                await drop_follow(session, follow)

    async def _emit_follow_answer(self, session: AsyncSession, actor: Actor, follower: Actor, follow_uri: str,
                                  accept: bool) -> None:
        follow_doc = wrap("Follow", follow_uri, follower.uri, actor.uri)
        _, answer_uri = self._activity_uri(actor)
        body = wrap("Accept" if accept else "Reject", answer_uri, actor.uri, follow_doc, to=[follower.uri])
        await self._emit(session, actor, body, [follower.inbox_url])

    async def send_follow_answer(self, actor_id: int, follower_id: int, follow_uri: str, *, accept: bool) -> None:
        """Answer a Follow without changing any row (a repeated Follow, or one from a blocked actor)."""
        async with self._transaction() as session:
            actor = await self._actor(session, actor_id, local=True)
            follower = await self._actor(session, follower_id)
            if follower.domain is not None:
                await self._emit_follow_answer(session, actor, follower, follow_uri, accept)
