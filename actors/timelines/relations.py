"""The viewer's relations that decide what a timeline shows (follows, mutes, blocks, reblog
settings, exclusive lists, followed tags, languages), read in one round trip."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Text, bindparam, cast, func, literal_column, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.db import UTCDateTime, utcnow
from fediverse.models import (
    Actor,
    Block,
    ConversationMute,
    Follow,
    FollowOptions,
    ListMember,
    Mute,
    TagFollow,
    UserList,
)


@dataclass(frozen=True)
class Relations:
    """Everything about the viewer that decides what a timeline shows, as id sets."""

    viewer_id: int
    followed: frozenset[int] = frozenset()  # accepted follows of live accounts
    hidden: frozenset[int] = frozenset()  # muted, blocked, or blocking the viewer: never shown
    notification_hidden: frozenset[int] = frozenset()  # blocked either way, or muted with notifications
    no_reblogs: frozenset[int] = frozenset()  # followed accounts whose boosts the viewer turned off
    exclusive: frozenset[int] = frozenset()  # members of exclusive lists: shown in their list, not home
    mutes_conversations: bool = False
    followed_tags: frozenset[str] = frozenset()  # hashtags whose public posts join the home timeline
    # Followed accounts read only in some languages (Mastodon's per-follow `languages`).
    languages: dict[int, frozenset[str]] = field(default_factory=dict)


def _relations_statement() -> Any:
    """The UNION ALL behind `load_relations`, built once (bound `viewer` and `now` parameters)."""
    viewer = bindparam("viewer", type_=BigInteger)
    now = bindparam("now", type_=UTCDateTime)
    no_text = cast(literal_column("NULL"), Text).label("text")
    live_mute = or_(Mute.expires_at.is_(None), Mute.expires_at > now)

    def kind(number: int) -> Any:
        return literal_column(str(number)).label("kind")

    return union_all(
        select(kind(1), Follow.followee_id.label("id"), no_text).join(Actor, Actor.id == Follow.followee_id).where(
            Follow.follower_id == viewer, Follow.state == "accepted", Actor.suspended_at.is_(None),
            Actor.deleted_at.is_(None)),
        select(kind(2), Block.target_id, no_text).where(Block.actor_id == viewer),
        select(kind(2), Block.actor_id, no_text).where(Block.target_id == viewer),
        select(kind(3), Mute.target_id, no_text).where(Mute.actor_id == viewer, live_mute,
                                                       Mute.notifications.is_(False)),
        select(kind(4), Mute.target_id, no_text).where(Mute.actor_id == viewer, live_mute,
                                                       Mute.notifications.is_(True)),
        select(kind(5), FollowOptions.target_id, no_text).where(FollowOptions.actor_id == viewer,
                                                                FollowOptions.show_reblogs.is_(False)),
        select(kind(6), ListMember.actor_id, no_text).join(UserList, UserList.id == ListMember.list_id).where(
            UserList.actor_id == viewer, UserList.exclusive.is_(True)),
        select(kind(7), func.count(ConversationMute.id), no_text).where(ConversationMute.actor_id == viewer),
        select(kind(8), TagFollow.id, cast(TagFollow.name, Text)).where(TagFollow.actor_id == viewer),
        select(kind(9), FollowOptions.target_id, FollowOptions.languages_json).where(
            FollowOptions.actor_id == viewer, FollowOptions.languages_json.is_not(None)),
    )


RELATIONS = _relations_statement()


async def load_relations(session: AsyncSession, viewer_id: int) -> Relations:
    """All of the viewer's relations in one round trip (a UNION ALL of small indexed lookups)."""
    sets: dict[int, set[int]] = defaultdict(set)
    mutes_conversations = False
    tags: set[str] = set()
    languages: dict[int, frozenset[str]] = {}
    for number, value, text in (await session.execute(RELATIONS, {"viewer": viewer_id, "now": utcnow()})).all():
        if number == 7:
            mutes_conversations = bool(value)
        elif number == 8:
            tags.add(text)
        elif number == 9:
            chosen = _languages(text)
            if chosen:
                languages[value] = chosen
        else:
            sets[number].add(value)
    blocked, muted, muted_notifications = sets[2], sets[3] | sets[4], sets[4]
    return Relations(viewer_id, frozenset(sets[1]), frozenset(blocked | muted),
                     frozenset(blocked | muted_notifications), frozenset(sets[5]), frozenset(sets[6]),
                     mutes_conversations, frozenset(tags), languages)


def _languages(value: str | None) -> frozenset[str]:
    try:
        chosen = json.loads(value or "null")
    except ValueError:
        return frozenset()
    return frozenset(c for c in chosen if isinstance(c, str) and c) if isinstance(chosen, list) else frozenset()
