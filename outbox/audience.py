"""Who receives what: `to`/`cc` for a visibility, and the deduplicated inboxes behind them."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.models import Actor, Follow
from fediverse.uris import PUBLIC


def addressing(visibility: str, author: Actor, mentioned: Iterable[Actor]) -> tuple[list[str], list[str]]:
    """`to`/`cc` exactly as Mastodon writes them, so Mastodon reads the same visibility back."""
    mention_uris = [a.uri for a in mentioned]
    followers = author.followers_url or f"{author.uri}/followers"
    if visibility == "public":
        return [PUBLIC], [followers, *mention_uris]
    if visibility == "unlisted":
        return [followers], [PUBLIC, *mention_uris]
    if visibility == "private":
        return [followers], mention_uris
    if visibility == "direct":
        return mention_uris, []
    raise ValueError(f"unknown visibility {visibility!r}")


def visibility_of(to: list[str], cc: list[str], followers_url: str | None) -> str:
    """The reverse mapping, for incoming objects (anything unrecognised is treated as direct)."""
    if PUBLIC in to:
        return "public"
    if PUBLIC in cc:
        return "unlisted"
    if followers_url and (followers_url in to or followers_url in cc):
        return "private"
    return "direct"


async def follower_inboxes(session: AsyncSession, actor_id: int) -> list[str]:
    """Remote followers' inboxes, one per shared inbox."""
    rows = await session.scalars(
        select(func.coalesce(Actor.shared_inbox_url, Actor.inbox_url))
        .join(Follow, Follow.follower_id == Actor.id)
        .where(Follow.followee_id == actor_id, Follow.state == "accepted", Actor.domain.is_not(None))
        .distinct()
    )
    return [r for r in rows if r]


def inboxes_of(actors: Iterable[Actor]) -> list[str]:
    return [a.inbox_for_delivery for a in actors if a.domain is not None and a.inbox_for_delivery]
