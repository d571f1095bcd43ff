"""Which statuses a timeline shows, as SQL conditions built from the viewer's `Relations`
(Mastodon's visibility and feed rules)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.orm import aliased

from actors.timelines.relations import Relations
from fediverse.models import Actor, Attachment, ConversationMute, Mention, Status, StatusTag

MAX_TAGS_PER_MODE = 4


def among(column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
    """`column IN (ids)` as bound parameters: the planner sees the real values (Mastodon caps follows at
    7,500, well under the parameter limits of SQLite and PostgreSQL)."""
    values = sorted(set(ids))
    return column.in_(values) if values else false()


def _in_chosen_languages(rel: Relations) -> list[ColumnElement[bool]]:
    """A followed account read in some languages only: its statuses in other languages are left out."""
    by_choice: dict[frozenset[str], set[int]] = defaultdict(set)
    for author, chosen in rel.languages.items():
        by_choice[chosen].add(author)
    return [or_(Status.actor_id.not_in(sorted(authors)), Status.language.is_(None), Status.language.in_(sorted(chosen)))
            for chosen, authors in by_choice.items()]


def _not_involving(rel: Relations) -> list[ColumnElement[bool]]:
    """Mastodon hides a status when its author, the boosted author or anyone it mentions is muted or blocked."""
    if not rel.hidden:
        return []
    original = aliased(Status)
    return [
        or_(Status.reblog_of_id.is_(None), ~exists().where(original.id == Status.reblog_of_id,
                                                           among(original.actor_id, rel.hidden))),
        ~exists().where(Mention.status_id == Status.id, among(Mention.actor_id, rel.hidden)),
        or_(Status.reblog_of_id.is_(None), ~exists().where(Mention.status_id == Status.reblog_of_id,
                                                           among(Mention.actor_id, rel.hidden))),
    ]


def _not_muted_conversation(rel: Relations) -> list[ColumnElement[bool]]:
    if not rel.mutes_conversations:
        return []
    muted = select(ConversationMute.conversation_uri).where(ConversationMute.actor_id == rel.viewer_id)
    return [or_(Status.conversation_uri.is_(None), Status.conversation_uri.not_in(muted))]


def _reblogs_allowed(rel: Relations) -> list[ColumnElement[bool]]:
    if not rel.no_reblogs:
        return []
    return [or_(Status.reblog_of_id.is_(None), Status.actor_id.not_in(sorted(rel.no_reblogs)))]


def home_clause(rel: Relations) -> ColumnElement[bool]:
    """The statuses of the viewer's home timeline (Mastodon 4's FanOutOnWriteService + FeedManager rules).

    The viewer's own statuses (every visibility, boosts included) and, from accounts followed
    with an accepted Follow: public, unlisted and followers-only statuses and boosts, and direct
    messages that mention the viewer. A reply only shows when it answers the viewer, the
    author itself or someone the viewer follows (or its parent is unknown: hidden). Muted and
    blocked accounts, statuses mentioning or boosting them, muted conversations, boosts the
    viewer turned off, statuses outside the languages chosen for a follow and members of
    exclusive lists are left out. Public statuses with a hashtag the viewer follows join in.
    """
    viewer = rel.viewer_id
    authors = rel.followed - rel.hidden - rel.exclusive
    own = Status.actor_id == viewer
    others = and_(
        or_(Status.visibility != "direct",
            exists().where(Mention.status_id == Status.id, Mention.actor_id == viewer)),
        or_(Status.in_reply_to_uri.is_(None), Status.in_reply_to_actor_id == viewer,
            Status.in_reply_to_actor_id == Status.actor_id,
            among(Status.in_reply_to_actor_id, rel.followed)),
        *_reblogs_allowed(rel), *_not_involving(rel), *_not_muted_conversation(rel), *_in_chosen_languages(rel),
    )
    if not rel.followed_tags:  # one IN list on actor_id: the planner walks the (actor_id, id) index
        return and_(among(Status.actor_id, authors | {viewer}), or_(own, others)) if authors else own
    tagged = and_(public_clause(rel, replies=True), Status.actor_id != viewer, *_not_involving(rel),
                  *_not_muted_conversation(rel),
                  Status.id.in_(select(StatusTag.status_id).where(StatusTag.name.in_(sorted(rel.followed_tags)))))
    return or_(own, and_(among(Status.actor_id, authors), others), tagged)


def list_clause(rel: Relations, members: frozenset[int], replies_policy: str) -> ColumnElement[bool]:
    """A list shows its (followed) members' non-direct statuses; replies as its policy says."""
    authors = (members & rel.followed) - rel.hidden
    if not authors:
        return false()
    reply_targets: set[int] = {rel.viewer_id}
    if replies_policy == "followed":
        reply_targets |= rel.followed
    elif replies_policy == "list":
        reply_targets |= authors
    return and_(
        among(Status.actor_id, authors), Status.visibility != "direct",
        or_(Status.in_reply_to_uri.is_(None), Status.in_reply_to_actor_id == Status.actor_id,
            among(Status.in_reply_to_actor_id, reply_targets)),
        *_reblogs_allowed(rel), *_not_involving(rel), *_not_muted_conversation(rel),
        *_in_chosen_languages(rel),
    )


def public_clause(rel: Relations | None, *, local: bool = False, remote: bool = False, only_media: bool = False,
                  replies: bool = False, reblogs: bool = False) -> ColumnElement[bool]:
    """Public statuses of live accounts, without the viewer's muted and blocked accounts.

    The public timelines leave out boosts and replies to others (Mastodon's PublicFeed); tag
    timelines keep replies.
    """
    live = select(Actor.id).where(Actor.id == Status.actor_id, Actor.suspended_at.is_(None),
                                  Actor.deleted_at.is_(None)).exists()
    conditions: list[ColumnElement[bool]] = [Status.visibility == "public", live]
    if not reblogs:
        conditions.append(Status.reblog_of_id.is_(None))
    if not replies:
        conditions.append(or_(Status.in_reply_to_uri.is_(None), Status.in_reply_to_actor_id == Status.actor_id))
    if local and not remote:
        conditions.append(Status.local.is_(True))
    elif remote and not local:
        conditions.append(Status.local.is_(False))
    if only_media:
        conditions.append(exists().where(Attachment.status_id == Status.id))
    if rel is not None and rel.hidden:
        conditions.append(Status.actor_id.not_in(sorted(rel.hidden)))
    return and_(*conditions)


def tag_clause(any_tags: Sequence[str], all_tags: Sequence[str], none_tags: Sequence[str]) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = [
        Status.id.in_(select(StatusTag.status_id).where(StatusTag.name.in_(list(any_tags))))]
    for name in all_tags:
        conditions.append(exists().where(StatusTag.status_id == Status.id, StatusTag.name == name))
    if none_tags:
        conditions.append(~exists().where(StatusTag.status_id == Status.id, StatusTag.name.in_(list(none_tags))))
    return and_(*conditions)


def normalize_tags(names: Iterable[str]) -> list[str]:
    """Tags as stored (lower case, without '#'), at most four per mode like Mastodon."""
    result = [n.strip().lstrip("#").lower() for n in names if n and n.strip().lstrip("#")]
    return list(dict.fromkeys(result))[:MAX_TAGS_PER_MODE]
