"""Follow rows and the counters they drive, shared by the inbox (remote answers, blocks, undos) and
the outbox (local follows, answers, blocks): a follow counts on both accounts only once accepted,
so every change of state goes through here and the counters never drift from the rows.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.notify import bump
from fediverse.models import Actor, Follow


async def count_follow(session: AsyncSession, follower_id: int, followee_id: int, delta: int) -> None:
    """Move followers_count of the followee and following_count of the follower together."""
    await bump(session, Actor, followee_id, "followers_count", delta)
    await bump(session, Actor, follower_id, "following_count", delta)


async def accept_follow(session: AsyncSession, follow: Follow) -> None:
    """A pending follow becomes active (the caller checks it was not accepted already)."""
    follow.state = "accepted"
    await count_follow(session, follow.follower_id, follow.followee_id, 1)


async def drop_follow(session: AsyncSession, follow: Follow) -> None:
    """Remove a follow, uncounting it when it was active."""
    if follow.state == "accepted":
        await count_follow(session, follow.follower_id, follow.followee_id, -1)
    await session.delete(follow)


async def cut_follows(session: AsyncSession, a_id: int, b_id: int) -> None:
    """Remove the follows between two actors, both ways (a block cuts the relation)."""
    for follower_id, followee_id in ((a_id, b_id), (b_id, a_id)):
        follow = await session.scalar(select(Follow).where(Follow.follower_id == follower_id,
                                                           Follow.followee_id == followee_id))
        if follow is not None:
            await drop_follow(session, follow)
