"""Hashtags a user follows: their public posts join the user's home timeline.

A followed tag is stored by name, in the form statuses store their tags (lower case, without
`#`), so the home timeline can match `status_tags` directly; nothing needs a hashtag table.
Following a tag is a personal reading choice: it is never federated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.db import insert_ignoring_conflicts, utcnow
from fediverse.ids import new_id
from fediverse.models import TagFollow

# The hashtags outbox.compose links: a letter first, or digits followed by a letter; 100 characters at most.
TAG_NAME = re.compile(r"(?:[^\W\d_]\w{0,99}|\d+[^\W\d_]\w{0,98})")


class TagError(ValueError):
    """Not a hashtag name (the API answers 404, as Mastodon does)."""


def normalize_tag(name: str) -> str:
    """The stored form of a hashtag typed by a user (`#Brocante` -> `brocante`)."""
    text = (name or "").strip().removeprefix("#")
    if not TAG_NAME.fullmatch(text):
        raise TagError(f"{name!r} is not a hashtag")
    return text.lower()


async def follow_tag(session: AsyncSession, actor_id: int, name: str) -> str:
    """Follow a hashtag (following it again changes nothing); returns the stored name."""
    tag = normalize_tag(name)
    await session.execute(insert_ignoring_conflicts(session, TagFollow.__table__, [
        {"id": new_id(), "actor_id": actor_id, "name": tag, "created_at": utcnow()}]))
    return tag


async def unfollow_tag(session: AsyncSession, actor_id: int, name: str) -> str:
    tag = normalize_tag(name)
    await session.execute(delete(TagFollow).where(TagFollow.actor_id == actor_id, TagFollow.name == tag))
    return tag


async def followed_among(session: AsyncSession, actor_id: int | None, names: Iterable[str]) -> set[str]:
    """Which of these (stored-form) tag names the actor follows, in one query."""
    wanted = sorted({n for n in names if n})
    if actor_id is None or not wanted:
        return set()
    return set(await session.scalars(select(TagFollow.name).where(
        TagFollow.actor_id == actor_id, TagFollow.name.in_(wanted))))


def followed_tags_query(actor_id: int) -> Select[Any]:
    """The actor's followed tags as `(TagFollow.id, name)` rows; callers page on `TagFollow.id`."""
    return select(TagFollow.id, TagFollow.name).where(TagFollow.actor_id == actor_id)
