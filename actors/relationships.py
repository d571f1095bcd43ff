"""How one local actor stands towards other actors: follows, blocks, mutes, follow options,
private notes, endorsements and dismissed follow suggestions.

Clients ask for the relationship with many accounts at once (a timeline page, a search result),
so `relationships` answers for a whole batch with a fixed number of queries. Mutes, follow
options, notes, endorsements and dismissed suggestions are personal client settings: they live
only here and are never federated. The
visibility rules of an account's statuses (who may read private and direct posts) depend on
these relations too, and so does account search (`following` filter), which is why they live
in this module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, delete, exists, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.db import insert_ignoring_conflicts, utcnow
from fediverse.ids import new_id
from fediverse.models import (
    AccountNote,
    Actor,
    Block,
    Endorsement,
    Follow,
    FollowOptions,
    Mention,
    Mute,
    Status,
    SuggestionDismissal,
)
from fediverse.runtime import Runtime

SEARCH_MAX_LIMIT = 80
MAX_NOTE = 2000  # Mastodon's limit for a private note on an account
MAX_FOLLOW_LANGUAGES = 30
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")


class RelationshipError(ValueError):
    """The change cannot be made (shown to the client as a validation error)."""


@dataclass
class Relationship:
    """The viewer's relation to one target; field names follow Mastodon's Relationship entity."""

    target_id: int
    following: bool = False
    requested: bool = False
    showing_reblogs: bool = False
    notifying: bool = False
    followed_by: bool = False
    requested_by: bool = False
    blocking: bool = False
    blocked_by: bool = False
    muting: bool = False
    muting_notifications: bool = False
    languages: list[str] | None = None  # a follow read only in these languages (None: all)
    endorsed: bool = False
    note: str = ""


def active_mute(now: datetime | None = None) -> ColumnElement[bool]:
    """Mutes given a duration stop applying once expired, without waiting for a cleanup job."""
    return or_(Mute.expires_at.is_(None), Mute.expires_at > (now or utcnow()))


async def relationships(session: AsyncSession, viewer_id: int, target_ids: list[int]) -> list[Relationship]:
    """Relationships with every target, in the given order, in six queries whatever their number."""
    targets = list(dict.fromkeys(target_ids))
    result = {t: Relationship(t) for t in targets}
    if not targets:
        return []
    follows = await session.execute(select(Follow.follower_id, Follow.followee_id, Follow.state).where(or_(
        and_(Follow.follower_id == viewer_id, Follow.followee_id.in_(targets)),
        and_(Follow.followee_id == viewer_id, Follow.follower_id.in_(targets)))))
    for follower_id, followee_id, state in follows.all():
        accepted = state == "accepted"
        if follower_id == viewer_id and followee_id in result:
            rel = result[followee_id]
            rel.following, rel.requested = accepted, not accepted
        if followee_id == viewer_id and follower_id in result:
            rel = result[follower_id]
            rel.followed_by, rel.requested_by = accepted, not accepted
    for rel in result.values():
        if rel.following or rel.requested:
            rel.showing_reblogs = True  # Mastodon's default until options say otherwise
    options = await session.execute(
        select(FollowOptions.target_id, FollowOptions.show_reblogs, FollowOptions.notify, FollowOptions.languages_json)
        .where(FollowOptions.actor_id == viewer_id, FollowOptions.target_id.in_(targets)))
    for target_id, show_reblogs, notify, languages_json in options.all():
        rel = result[target_id]
        if rel.following or rel.requested:
            rel.showing_reblogs, rel.notifying = show_reblogs, notify
            rel.languages = stored_languages(languages_json)
    blocks = await session.execute(select(Block.actor_id, Block.target_id).where(or_(
        and_(Block.actor_id == viewer_id, Block.target_id.in_(targets)),
        and_(Block.target_id == viewer_id, Block.actor_id.in_(targets)))))
    for actor_id, target_id in blocks.all():
        if actor_id == viewer_id and target_id in result:
            result[target_id].blocking = True
        if target_id == viewer_id and actor_id in result:
            result[actor_id].blocked_by = True
    mutes = await session.execute(select(Mute.target_id, Mute.notifications).where(
        Mute.actor_id == viewer_id, Mute.target_id.in_(targets), active_mute()))
    for target_id, notifications in mutes.all():
        result[target_id].muting = True
        result[target_id].muting_notifications = notifications
    notes = await session.execute(select(AccountNote.target_id, AccountNote.comment).where(
        AccountNote.actor_id == viewer_id, AccountNote.target_id.in_(targets)))
    for target_id, comment in notes.all():
        result[target_id].note = comment or ""
    endorsed = await session.scalars(select(Endorsement.target_id).where(
        Endorsement.actor_id == viewer_id, Endorsement.target_id.in_(targets)))
    for target_id in endorsed:
        result[target_id].endorsed = True
    return [result[t] for t in targets]


async def relationship(session: AsyncSession, viewer_id: int, target_id: int) -> Relationship:
    return (await relationships(session, viewer_id, [target_id]))[0]


async def is_blocked(session: AsyncSession, actor_id: int, target_id: int) -> bool:
    """True when either side blocks the other (a follow is then not allowed)."""
    row = await session.scalar(select(Block.id).where(or_(
        and_(Block.actor_id == actor_id, Block.target_id == target_id),
        and_(Block.actor_id == target_id, Block.target_id == actor_id))).limit(1))
    return row is not None


# -- follow options and mutes (local client settings, never federated) ---------------------------


def stored_languages(value: str | None) -> list[str] | None:
    """The languages of a follow as stored (a JSON list; NULL or an empty list mean all languages)."""
    try:
        chosen = json.loads(value) if value else None
    except ValueError:
        return None
    if not isinstance(chosen, list):
        return None
    codes = [c for c in chosen if isinstance(c, str) and c]
    return codes or None


def follow_languages(codes: Sequence[str]) -> list[str]:
    """ISO 639 codes sent by a client for a follow, checked and deduplicated ([] means all languages)."""
    result: list[str] = []
    for code in codes:
        text = str(code).strip().lower()
        if not text:
            continue
        if not LANGUAGE_CODE.fullmatch(text):
            raise RelationshipError(f"{code!r} is not an ISO 639 language code")
        if text not in result:
            result.append(text)
    if len(result) > MAX_FOLLOW_LANGUAGES:
        raise RelationshipError(f"at most {MAX_FOLLOW_LANGUAGES} languages")
    return result


async def set_follow_options(runtime: Runtime, actor_id: int, target_id: int, *, reblogs: bool | None = None,
                             notify: bool | None = None, languages: Sequence[str] | None = None,
                             reset: bool = False) -> None:
    """Store `reblogs`/`notify`/`languages` of a follow; `reset` starts from Mastodon's defaults (a new follow).

    `languages` None leaves them as they are; an empty list means all languages again.
    Insert-if-missing then update: two requests at once for the same follow cannot collide."""
    values: dict[str, Any] = {"show_reblogs": True, "notify": False, "languages_json": None} if reset else {}
    if reblogs is not None:
        values["show_reblogs"] = reblogs
    if notify is not None:
        values["notify"] = notify
    if languages is not None:
        chosen = follow_languages(languages)
        values["languages_json"] = json.dumps(chosen) if chosen else None
    async with runtime.transaction() as session:
        await session.execute(insert_ignoring_conflicts(session, FollowOptions.__table__, [
            {"id": new_id(), "actor_id": actor_id, "target_id": target_id, "show_reblogs": True, "notify": False}]))
        if values:
            await session.execute(update(FollowOptions).where(
                FollowOptions.actor_id == actor_id, FollowOptions.target_id == target_id).values(**values))


async def clear_follow_options(runtime: Runtime, actor_id: int, target_id: int) -> None:
    """Options belong to a follow: they go away with it, and so does featuring the account."""
    async with runtime.transaction() as session:
        await session.execute(delete(FollowOptions).where(
            FollowOptions.actor_id == actor_id, FollowOptions.target_id == target_id))
        await session.execute(delete(Endorsement).where(
            Endorsement.actor_id == actor_id, Endorsement.target_id == target_id))


async def mute(runtime: Runtime, actor_id: int, target_id: int, *, notifications: bool = True,
               duration: int | None = None) -> None:
    """Hide a target's posts (and, with `notifications`, its notifications); `duration` in seconds, 0 = forever."""
    if actor_id == target_id:
        raise RelationshipError("you cannot mute yourself")
    if duration is not None and duration < 0:
        raise RelationshipError("duration must be a positive number of seconds")
    expires_at = utcnow() + timedelta(seconds=duration) if duration else None
    async with runtime.transaction() as session:
        await session.execute(insert_ignoring_conflicts(session, Mute.__table__, [
            {"id": new_id(), "actor_id": actor_id, "target_id": target_id, "notifications": notifications,
             "expires_at": expires_at, "created_at": utcnow()}]))
        await session.execute(update(Mute).where(Mute.actor_id == actor_id, Mute.target_id == target_id)
                              .values(notifications=notifications, expires_at=expires_at))


async def unmute(runtime: Runtime, actor_id: int, target_id: int) -> None:
    async with runtime.transaction() as session:
        await session.execute(delete(Mute).where(Mute.actor_id == actor_id, Mute.target_id == target_id))


# -- private notes, endorsements, dismissed suggestions (local, never federated) -----------------


async def set_account_note(runtime: Runtime, actor_id: int, target_id: int, comment: str) -> None:
    """The viewer's private note on an account; an empty comment removes it."""
    text = comment.strip()
    if len(text) > MAX_NOTE:
        raise RelationshipError(f"note is limited to {MAX_NOTE} characters")
    async with runtime.transaction() as session:
        if not text:
            await session.execute(delete(AccountNote).where(
                AccountNote.actor_id == actor_id, AccountNote.target_id == target_id))
            return
        await session.execute(insert_ignoring_conflicts(session, AccountNote.__table__, [
            {"id": new_id(), "actor_id": actor_id, "target_id": target_id, "comment": text}]))
        await session.execute(update(AccountNote).where(
            AccountNote.actor_id == actor_id, AccountNote.target_id == target_id).values(comment=text))


async def endorse(runtime: Runtime, actor_id: int, target_id: int) -> None:
    """Feature an account on the viewer's profile; only an account the viewer follows (as Mastodon)."""
    async with runtime.transaction() as session:
        following = await session.scalar(select(Follow.id).where(
            Follow.follower_id == actor_id, Follow.followee_id == target_id, Follow.state == "accepted"))
        if following is None:
            raise RelationshipError("you must already follow the account you want to feature")
        await session.execute(insert_ignoring_conflicts(session, Endorsement.__table__, [
            {"id": new_id(), "actor_id": actor_id, "target_id": target_id, "created_at": utcnow()}]))


async def unendorse(runtime: Runtime, actor_id: int, target_id: int) -> None:
    async with runtime.transaction() as session:
        await session.execute(delete(Endorsement).where(
            Endorsement.actor_id == actor_id, Endorsement.target_id == target_id))


def endorsements_query(actor_id: int) -> Select[Any]:
    """`(Endorsement.id, Actor)` rows of the accounts `actor_id` features, live ones only; callers
    page on `Endorsement.id`."""
    return (select(Endorsement.id, Actor).join(Actor, Actor.id == Endorsement.target_id)
            .where(Endorsement.actor_id == actor_id, Actor.suspended_at.is_(None), Actor.deleted_at.is_(None)))


async def dismiss_suggestion(runtime: Runtime, actor_id: int, target_id: int) -> None:
    """Never suggest this account to the viewer again (unknown accounts are ignored)."""
    async with runtime.transaction() as session:
        if await session.get(Actor, target_id) is None:
            return
        await session.execute(insert_ignoring_conflicts(session, SuggestionDismissal.__table__, [
            {"id": new_id(), "actor_id": actor_id, "target_id": target_id, "created_at": utcnow()}]))


def not_dismissed_suggestion(viewer_id: int) -> ColumnElement[bool]:
    """Condition on `Actor`: the viewer has not dismissed this account as a suggestion."""
    return ~exists().where(SuggestionDismissal.actor_id == viewer_id, SuggestionDismissal.target_id == Actor.id)


# -- what a viewer may read of an account ---------------------------------------------------------


async def statuses_visible_clause(session: AsyncSession, author_id: int,
                                  viewer_id: int | None) -> ColumnElement[bool]:
    """Condition on `Status` for the posts of `author_id` that `viewer_id` may read.

    Anonymous readers and strangers see public and unlisted posts, accepted followers also see
    followers-only posts, a direct post only shows to its author and the accounts it mentions
    (who also see a followers-only post that mentions them). An author who blocks the viewer
    shows nothing.
    """
    by_author = Status.actor_id == author_id
    if viewer_id is None:
        return and_(by_author, Status.visibility.in_(("public", "unlisted")))
    if viewer_id == author_id:
        return by_author
    if await session.scalar(select(Block.id).where(Block.actor_id == author_id, Block.target_id == viewer_id)):
        return false()
    follower = await session.scalar(select(Follow.id).where(
        Follow.follower_id == viewer_id, Follow.followee_id == author_id, Follow.state == "accepted"))
    visible = ("public", "unlisted", "private") if follower else ("public", "unlisted")
    mentioned = exists().where(Mention.status_id == Status.id, Mention.actor_id == viewer_id)
    return and_(by_author, or_(Status.visibility.in_(visible), mentioned))


# -- account search -------------------------------------------------------------------------------


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


async def search_accounts(session: AsyncSession, query: str, viewer_id: int | None, *, local_domain: str,
                          limit: int = 40, offset: int = 0, following: bool = False) -> list[Actor]:
    """Known accounts whose username or display name starts with `query` (`user@domain` narrows the domain).

    Exact username matches come first, then local accounts, then the most followed. Nothing is
    fetched from the network here: resolving a handle is the caller's job.
    """
    text = query.strip().removeprefix("@")
    if not text or text.startswith("#"):
        return []
    username, _, domain = text.partition("@")
    username = username.lower()
    domain = domain.lower()
    domain_key = "" if domain == local_domain else domain
    conditions: list[ColumnElement[bool]] = [
        Actor.suspended_at.is_(None), Actor.deleted_at.is_(None),
        or_(Actor.domain_key != "", Actor.kind != "instance"),  # not our own instance actor (remote bots stay)
    ]
    if username:
        name_match = or_(Actor.username_lower.like(_like_prefix(username), escape="\\"),
                         func.lower(Actor.display_name).like(_like_prefix(username), escape="\\"))
        conditions.append(name_match if not domain else Actor.username_lower.like(_like_prefix(username),
                                                                                   escape="\\"))
    if domain and not domain_key:
        conditions.append(Actor.domain_key == "")
    elif domain:
        conditions.append(Actor.domain_key.like(_like_prefix(domain), escape="\\"))
    stmt = select(Actor).where(*conditions)
    if following and viewer_id is not None:
        stmt = stmt.join(Follow, and_(Follow.followee_id == Actor.id, Follow.follower_id == viewer_id,
                                      Follow.state == "accepted"))
    exact = and_(Actor.username_lower == username, Actor.domain_key == domain_key) if domain \
        else Actor.username_lower == username
    stmt = stmt.order_by(case((exact, 0), else_=1), case((Actor.domain_key == "", 0), else_=1),
                         Actor.followers_count.desc(), Actor.id)
    stmt = stmt.offset(max(0, offset)).limit(max(1, min(limit, SEARCH_MAX_LIMIT)))
    return list(await session.scalars(stmt))
