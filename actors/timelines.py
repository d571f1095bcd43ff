"""What one local actor reads: timelines, lists, direct conversations, notifications, read markers
and content filters, with Mastodon's visibility rules.

Timelines are queries, not a fan-out table. The viewer's relations (follows, mutes, blocks,
reblog settings, exclusive lists) are read once per request in one round trip and passed to the
page query as bound id lists, so the database never joins the follow graph per row; the page
query then walks `statuses (actor_id, id)` for the followed authors (home, lists) or the primary
key / `(visibility, id)` (public, tags), within a time span next to the cursor that widens until
the page is full. Keyword filters run in Python on the page; when they hide statuses the page is
topped up from the next rows, so a client gets a full page while there is more to read.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from fediverse.db import UTCDateTime, insert_ignoring_conflicts, utcnow
from fediverse.ids import id_floor, new_id
from fediverse.models import (
    Actor,
    Attachment,
    Block,
    ConversationMute,
    ConversationState,
    Filter,
    FilterKeyword,
    FilterStatus,
    Follow,
    FollowOptions,
    ListMember,
    Marker,
    Mention,
    Mute,
    Notification,
    Poll,
    Status,
    StatusTag,
    TagFollow,
    UserList,
)
from fediverse.sanitize import html_to_text

NOTIFICATION_TYPES = ("mention", "status", "reblog", "follow", "follow_request", "favourite", "poll", "update",
                      "admin.sign_up", "admin.report")
FILTER_CONTEXTS = ("home", "notifications", "public", "thread", "account")
FILTER_ACTIONS = ("warn", "hide", "blur")
REPLIES_POLICIES = ("followed", "list", "none")
MARKER_TIMELINES = ("home", "notifications")
MAX_LISTS = 50
MAX_TAGS_PER_MODE = 4
# Queries per page at most (filters topping up a page, and widening time probes).
MAX_QUERIES = 10
# Time probes: status ids carry milliseconds in their high bits; first look at one day, then 8, 64...
PROBE_FIRST_SPAN = (24 * 3600 * 1000) << 16
PROBE_GROWTH = 8
# Direct messages are re-scanned this far behind the newest one already grouped (ids are time-ordered,
# and a status committed late by another process may carry a slightly older id).
CONVERSATION_RESCAN_MS = 10 * 60 * 1000


class TimelineError(ValueError):
    """A request that cannot be honoured; the message is shown to the client (HTTP 422)."""


class Missing(TimelineError):
    """The record does not exist or belongs to someone else (HTTP 404)."""


class Window(Protocol):
    """Mastodon's pagination parameters (fediverse.api.pagination.Page satisfies it)."""

    @property
    def max_id(self) -> int | None: ...
    @property
    def since_id(self) -> int | None: ...
    @property
    def min_id(self) -> int | None: ...
    @property
    def limit(self) -> int: ...


async def paginate(session: AsyncSession, query: Select[Any], column: Any, window: Window, key: Callable[[Any], int],
                   keep: Callable[[list[Any]], Awaitable[list[Any]]] | None = None, *,
                   time_probe: bool = False) -> list[Any]:
    """Rows of `query` inside the window, newest first; min_id reads the rows right after it.

    `keep` drops rows in Python (filters); the page is then topped up from the following rows.
    `time_probe` (for time-ordered status ids) first looks at a short span of ids next to the
    cursor and widens it eightfold while the page is not full, so a query over many authors
    sorts the recent statuses of those authors instead of all they ever wrote.
    """
    ascending = window.min_id is not None
    lower = window.min_id if ascending else window.since_id
    upper = window.max_id
    span = PROBE_FIRST_SPAN if time_probe else None
    result: list[Any] = []
    for _ in range(MAX_QUERIES):
        stmt = query
        edge: int | None = None
        if span is not None:  # the far end of the probed span (None once it reaches the other bound)
            anchor = (lower or 0) if ascending else (upper or id_floor(time.time() + 3600))
            edge = anchor + span if ascending else anchor - span
            if (ascending and upper is not None and edge >= upper) or (
                    not ascending and (edge <= (lower or 0))):
                edge = None
        if upper is not None:
            stmt = stmt.where(column < upper)
        if lower is not None:
            stmt = stmt.where(column > lower)
        if edge is not None:
            stmt = stmt.where(column < edge if ascending else column >= edge)
        wanted = window.limit - len(result) if keep is None else window.limit
        stmt = stmt.order_by(column.asc() if ascending else column.desc()).limit(wanted)
        rows = list(await session.scalars(stmt))
        result.extend(await keep(rows) if keep else rows)
        if len(result) >= window.limit:
            break
        if len(rows) == wanted:  # rows were dropped: continue right after the last one
            if ascending:
                lower = key(rows[-1])
            else:
                upper = key(rows[-1])
        elif edge is None:  # the whole range was read
            break
        else:  # the span is exhausted: read the next, wider one
            if ascending:
                lower = edge - 1
            else:
                upper = edge
            span = (span or 0) * PROBE_GROWTH
    result = result[:window.limit]
    return list(reversed(result)) if ascending else result


def _among(column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
    """`column IN (ids)` as bound parameters: the planner sees the real values (Mastodon caps follows at
    7,500, well under the parameter limits of SQLite and PostgreSQL)."""
    values = sorted(set(ids))
    return column.in_(values) if values else false()


# -- the viewer's relations ------------------------------------------------------------------------


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
                                                           _among(original.actor_id, rel.hidden))),
        ~exists().where(Mention.status_id == Status.id, _among(Mention.actor_id, rel.hidden)),
        or_(Status.reblog_of_id.is_(None), ~exists().where(Mention.status_id == Status.reblog_of_id,
                                                           _among(Mention.actor_id, rel.hidden))),
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
            _among(Status.in_reply_to_actor_id, rel.followed)),
        *_reblogs_allowed(rel), *_not_involving(rel), *_not_muted_conversation(rel), *_in_chosen_languages(rel),
    )
    if not rel.followed_tags:  # one IN list on actor_id: the planner walks the (actor_id, id) index
        return and_(_among(Status.actor_id, authors | {viewer}), or_(own, others)) if authors else own
    tagged = and_(public_clause(rel, replies=True), Status.actor_id != viewer, *_not_involving(rel),
                  *_not_muted_conversation(rel),
                  Status.id.in_(select(StatusTag.status_id).where(StatusTag.name.in_(sorted(rel.followed_tags)))))
    return or_(own, and_(_among(Status.actor_id, authors), others), tagged)


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
        _among(Status.actor_id, authors), Status.visibility != "direct",
        or_(Status.in_reply_to_uri.is_(None), Status.in_reply_to_actor_id == Status.actor_id,
            _among(Status.in_reply_to_actor_id, reply_targets)),
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


# -- filters ---------------------------------------------------------------------------------------


@dataclass
class FilterRules:
    """One filter with its keywords and filtered statuses."""

    row: Filter
    keywords: list[FilterKeyword] = field(default_factory=list)
    statuses: list[FilterStatus] = field(default_factory=list)

    @property
    def context(self) -> list[str]:
        try:
            value = json.loads(self.row.context_json or "[]")
        except ValueError:
            return []
        return [c for c in value if isinstance(c, str)] if isinstance(value, list) else []


@dataclass(frozen=True)
class FilterMatch:
    """Why a status matched a filter (Mastodon's FilterResult)."""

    rules: FilterRules
    keyword_matches: list[str] | None
    status_matches: list[str] | None


def keyword_pattern(keyword: str, whole_word: bool) -> re.Pattern[str]:
    """Case-insensitive; a whole word needs word boundaries where the keyword starts/ends with a letter."""
    body = re.escape(keyword)
    if whole_word:
        body = ("\\b" if re.match(r"\w", keyword) else "") + body + ("\\b" if re.search(r"\w$", keyword) else "")
    return re.compile(body, re.IGNORECASE)


def _active(row: Filter, now: datetime) -> bool:
    return row.expires_at is None or row.expires_at > now


class FilterSet:
    """The viewer's active filters for one context, applied to statuses in batches.

    `keep` is the page callback: it drops statuses a `hide` filter matches and remembers the
    matches of the others, which `matches` then gives to the renderer (`filtered`).
    """

    def __init__(self, session: AsyncSession, rules: list[FilterRules]) -> None:
        self.session = session
        self.rules = rules
        self.patterns = {r.row.id: [(k, keyword_pattern(k.keyword, k.whole_word)) for k in r.keywords]
                         for r in rules}
        self.status_ids = {r.row.id: {s.status_id for s in r.statuses} for r in rules}
        self.results: dict[int, list[FilterMatch]] = {}

    @classmethod
    async def load(cls, session: AsyncSession, viewer_id: int | None, context: str) -> FilterSet:
        if viewer_id is None:
            return cls(session, [])
        now = utcnow()
        rules = [r for r in await filters_of(session, viewer_id) if context in r.context and _active(r.row, now)]
        return cls(session, rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    async def keep(self, statuses: list[Status]) -> list[Status]:
        """Statuses not hidden by a filter; boosts are judged by the boosted status."""
        if not self.rules or not statuses:
            return statuses
        originals = await self._originals(statuses)
        proper = [originals.get(s.reblog_of_id, s) if s.reblog_of_id else s for s in statuses]
        texts = await self._texts(proper) if any(self.patterns.values()) else {}
        kept = []
        for status, target in zip(statuses, proper, strict=True):
            found = self._match(target, texts.get(target.id, ""))
            self.results[target.id] = found
            if not any(m.rules.row.action == "hide" for m in found):
                kept.append(status)
        return kept

    def matches(self, status_id: int) -> list[FilterMatch]:
        return self.results.get(status_id, [])

    def _match(self, status: Status, text: str) -> list[FilterMatch]:
        found = []
        for rules in self.rules:
            words = []
            for _keyword, pattern in self.patterns[rules.row.id]:
                hit = pattern.search(text)
                if hit:
                    words.append(hit.group(0))
            status_hits = [str(status.id)] if status.id in self.status_ids[rules.row.id] else []
            if words or status_hits:
                found.append(FilterMatch(rules, list(dict.fromkeys(words)) or None, status_hits or None))
        return found

    async def _originals(self, statuses: list[Status]) -> dict[int, Status]:
        ids = {s.reblog_of_id for s in statuses if s.reblog_of_id}
        if not ids:
            return {}
        return {s.id: s for s in await self.session.scalars(select(Status).where(Status.id.in_(ids)))}

    async def _texts(self, statuses: list[Status]) -> dict[int, str]:
        """Mastodon's searchable text: content warning, text, poll options and media descriptions."""
        ids = [s.id for s in statuses]
        extra: dict[int, list[str]] = defaultdict(list)
        for status_id, options in (await self.session.execute(
                select(Poll.status_id, Poll.options_json).where(Poll.status_id.in_(ids)))).all():
            try:
                extra[status_id].extend(str(o.get("title", "")) for o in json.loads(options) if isinstance(o, dict))
            except ValueError:
                pass
        for status_id, description in (await self.session.execute(
                select(Attachment.status_id, Attachment.description).where(
                    Attachment.status_id.in_(ids), Attachment.description.is_not(None)))).all():
            extra[status_id or 0].append(description)
        return {s.id: "\n\n".join([s.summary or "", s.name or "", html_to_text(s.content), *extra.get(s.id, [])])
                for s in statuses}


async def filters_of(session: AsyncSession, viewer_id: int, filter_id: int | None = None) -> list[FilterRules]:
    """The viewer's filters (or one of them) with keywords and statuses, in three queries."""
    query = select(Filter).where(Filter.actor_id == viewer_id)
    if filter_id is not None:
        query = query.where(Filter.id == filter_id)
    rows = {f.id: FilterRules(f) for f in await session.scalars(query.order_by(Filter.id))}
    if not rows:
        return []
    for keyword in await session.scalars(select(FilterKeyword).where(FilterKeyword.filter_id.in_(list(rows)))
                                         .order_by(FilterKeyword.id)):
        rows[keyword.filter_id].keywords.append(keyword)
    for item in await session.scalars(select(FilterStatus).where(FilterStatus.filter_id.in_(list(rows)))
                                      .order_by(FilterStatus.id)):
        rows[item.filter_id].statuses.append(item)
    return list(rows.values())


async def get_filter(session: AsyncSession, viewer_id: int, filter_id: int) -> FilterRules:
    found = await filters_of(session, viewer_id, filter_id)
    if not found:
        raise Missing("Record not found")
    return found[0]


@dataclass(frozen=True)
class KeywordChange:
    """One entry of `keywords_attributes`: a new keyword (no id), a change, or a removal."""

    id: int | None = None
    keyword: str | None = None
    whole_word: bool | None = None
    destroy: bool = False


def _check_filter_fields(title: str | None, context: list[str] | None, action: str | None) -> None:
    if title is not None and not title.strip():
        raise TimelineError("Title can't be blank")
    if context is not None:
        if not context:
            raise TimelineError("Context can't be blank")
        unknown = [c for c in context if c not in FILTER_CONTEXTS]
        if unknown:
            raise TimelineError(f"Context {unknown[0]} is not a valid context")
    if action is not None and action not in FILTER_ACTIONS:
        raise TimelineError(f"Filter action {action} is not a valid action")


def _expiry(expires_in: int | None) -> datetime | None:
    if expires_in is None:
        return None
    if expires_in <= 0:
        raise TimelineError("Expires in must be a positive number of seconds")
    return utcnow() + timedelta(seconds=expires_in)


async def save_filter(session: AsyncSession, viewer_id: int, filter_id: int | None, *, title: str | None = None,
                      context: list[str] | None = None, action: str | None = None, set_expiry: bool = False,
                      expires_in: int | None = None, keywords: Sequence[KeywordChange] = ()) -> FilterRules:
    """Create (filter_id None) or change a filter; with `set_expiry`, `expires_in` seconds (None: never)."""
    _check_filter_fields(title, context, action)
    if filter_id is None:
        if title is None or context is None:
            raise TimelineError("Title and context are required")
        row = Filter(actor_id=viewer_id, title=title.strip()[:255],
                     context_json=json.dumps(list(dict.fromkeys(context))), action=action or "warn")
        session.add(row)
        await session.flush()
    else:
        row = (await get_filter(session, viewer_id, filter_id)).row
        if title is not None:
            row.title = title.strip()[:255]
        if context is not None:
            row.context_json = json.dumps(list(dict.fromkeys(context)))
        if action is not None:
            row.action = action
    if set_expiry:
        row.expires_at = _expiry(expires_in)
    for change in keywords:
        await _apply_keyword_change(session, row.id, change)
    await session.flush()
    return await get_filter(session, viewer_id, row.id)


async def _apply_keyword_change(session: AsyncSession, filter_id: int, change: KeywordChange) -> None:
    if change.id is None:
        if change.destroy:
            return
        if not (change.keyword or "").strip():
            raise TimelineError("Keyword can't be blank")
        session.add(FilterKeyword(filter_id=filter_id, keyword=change.keyword.strip()[:255],
                                  whole_word=True if change.whole_word is None else change.whole_word))
        return
    keyword = await session.scalar(select(FilterKeyword).where(FilterKeyword.id == change.id,
                                                               FilterKeyword.filter_id == filter_id))
    if keyword is None:
        raise Missing("Record not found")
    if change.destroy:
        await session.delete(keyword)
        return
    if change.keyword is not None:
        if not change.keyword.strip():
            raise TimelineError("Keyword can't be blank")
        keyword.keyword = change.keyword.strip()[:255]
    if change.whole_word is not None:
        keyword.whole_word = change.whole_word


async def delete_filter(session: AsyncSession, viewer_id: int, filter_id: int) -> None:
    row = (await get_filter(session, viewer_id, filter_id)).row
    await session.delete(row)


async def get_keyword(session: AsyncSession, viewer_id: int, keyword_id: int) -> tuple[FilterKeyword, Filter]:
    found = (await session.execute(select(FilterKeyword, Filter).join(Filter, Filter.id == FilterKeyword.filter_id)
                                   .where(FilterKeyword.id == keyword_id, Filter.actor_id == viewer_id))).first()
    if found is None:
        raise Missing("Record not found")
    return found[0], found[1]


async def add_keyword(session: AsyncSession, viewer_id: int, filter_id: int, keyword: str,
                      whole_word: bool) -> FilterKeyword:
    await get_filter(session, viewer_id, filter_id)
    if not keyword.strip():
        raise TimelineError("Keyword can't be blank")
    row = FilterKeyword(filter_id=filter_id, keyword=keyword.strip()[:255], whole_word=whole_word)
    session.add(row)
    await session.flush()
    return row


async def update_keyword(session: AsyncSession, viewer_id: int, keyword_id: int, keyword: str | None,
                         whole_word: bool | None) -> FilterKeyword:
    row, _ = await get_keyword(session, viewer_id, keyword_id)
    await _apply_keyword_change(session, row.filter_id, KeywordChange(row.id, keyword, whole_word))
    await session.flush()
    return row


async def delete_keyword(session: AsyncSession, viewer_id: int, keyword_id: int, *, drop_empty_filter: bool = False
                         ) -> None:
    """Remove a keyword; the v1 API also removes the filter it leaves empty (v1 filters are one keyword)."""
    row, owner = await get_keyword(session, viewer_id, keyword_id)
    await session.delete(row)
    await session.flush()
    if drop_empty_filter:
        rules = await get_filter(session, viewer_id, owner.id)
        if not rules.keywords and not rules.statuses:
            await session.delete(owner)


async def get_filter_status(session: AsyncSession, viewer_id: int, item_id: int) -> FilterStatus:
    found = await session.scalar(select(FilterStatus).join(Filter, Filter.id == FilterStatus.filter_id)
                                 .where(FilterStatus.id == item_id, Filter.actor_id == viewer_id))
    if found is None:
        raise Missing("Record not found")
    return found


async def delete_filter_status(session: AsyncSession, viewer_id: int, item_id: int) -> None:
    await session.delete(await get_filter_status(session, viewer_id, item_id))


async def add_filter_status(session: AsyncSession, viewer_id: int, filter_id: int, status_id: int) -> FilterStatus:
    await get_filter(session, viewer_id, filter_id)
    if await session.get(Status, status_id) is None:
        raise Missing("Record not found")
    existing = await session.scalar(select(FilterStatus).where(FilterStatus.filter_id == filter_id,
                                                               FilterStatus.status_id == status_id))
    if existing is not None:
        raise TimelineError("Status has already been taken")
    row = FilterStatus(filter_id=filter_id, status_id=status_id)
    session.add(row)
    await session.flush()
    return row


# -- timelines -------------------------------------------------------------------------------------


async def home_timeline(session: AsyncSession, viewer_id: int, window: Window,
                        filters: FilterSet | None = None) -> list[Status]:
    rel = await load_relations(session, viewer_id)
    return await paginate(session, select(Status).where(home_clause(rel)), Status.id, window, _status_id,
                          filters.keep if filters else None, time_probe=True)


async def public_timeline(session: AsyncSession, viewer_id: int | None, window: Window, *, local: bool = False,
                          remote: bool = False, only_media: bool = False,
                          filters: FilterSet | None = None) -> list[Status]:
    rel = await load_relations(session, viewer_id) if viewer_id is not None else None
    clause = public_clause(rel, local=local, remote=remote, only_media=only_media)
    return await paginate(session, select(Status).where(clause), Status.id, window, _status_id,
                          filters.keep if filters else None)


async def tag_timeline(session: AsyncSession, viewer_id: int | None, window: Window, *, any_tags: Sequence[str],
                       all_tags: Sequence[str] = (), none_tags: Sequence[str] = (), local: bool = False,
                       remote: bool = False, only_media: bool = False,
                       filters: FilterSet | None = None) -> list[Status]:
    """Public statuses carrying any of `any_tags`, all of `all_tags` and none of `none_tags`."""
    if not any_tags:
        return []
    rel = await load_relations(session, viewer_id) if viewer_id is not None else None
    clause = and_(public_clause(rel, local=local, remote=remote, only_media=only_media, replies=True),
                  tag_clause(any_tags, all_tags, none_tags))
    return await paginate(session, select(Status).where(clause), Status.id, window, _status_id,
                          filters.keep if filters else None)


async def list_timeline(session: AsyncSession, viewer_id: int, list_id: int, window: Window,
                        filters: FilterSet | None = None) -> list[Status]:
    user_list = await get_list(session, viewer_id, list_id)
    rel = await load_relations(session, viewer_id)
    members = frozenset(await session.scalars(select(ListMember.actor_id).where(ListMember.list_id == list_id)))
    clause = list_clause(rel, members, user_list.replies_policy)
    return await paginate(session, select(Status).where(clause), Status.id, window, _status_id,
                          filters.keep if filters else None, time_probe=True)


async def in_home(session: AsyncSession, viewer_id: int, status_id: int) -> bool:
    """Whether a status belongs to the viewer's home timeline (for live updates of one new status)."""
    rel = await load_relations(session, viewer_id)
    found = await session.scalar(select(Status.id).where(Status.id == status_id, home_clause(rel)))
    return found is not None


def _status_id(status: Status) -> int:
    return status.id


# -- lists -----------------------------------------------------------------------------------------


async def lists_of(session: AsyncSession, viewer_id: int) -> list[UserList]:
    return list(await session.scalars(select(UserList).where(UserList.actor_id == viewer_id).order_by(UserList.id)))


async def lists_containing(session: AsyncSession, viewer_id: int, account_id: int) -> list[UserList]:
    return list(await session.scalars(select(UserList).join(ListMember, ListMember.list_id == UserList.id).where(
        UserList.actor_id == viewer_id, ListMember.actor_id == account_id).order_by(UserList.id)))


async def get_list(session: AsyncSession, viewer_id: int, list_id: int) -> UserList:
    row = await session.get(UserList, list_id)
    if row is None or row.actor_id != viewer_id:
        raise Missing("Record not found")
    return row


def _check_list_fields(title: str | None, replies_policy: str | None) -> None:
    if title is not None and not title.strip():
        raise TimelineError("Title can't be blank")
    if replies_policy is not None and replies_policy not in REPLIES_POLICIES:
        raise TimelineError(f"Replies policy {replies_policy} is not included in the list")


async def create_list(session: AsyncSession, viewer_id: int, title: str, replies_policy: str | None = None,
                      exclusive: bool = False) -> UserList:
    _check_list_fields(title, replies_policy)
    count = await session.scalar(select(func.count()).select_from(UserList).where(UserList.actor_id == viewer_id))
    if (count or 0) >= MAX_LISTS:
        raise TimelineError(f"You cannot have more than {MAX_LISTS} lists")
    row = UserList(actor_id=viewer_id, title=title.strip()[:255], replies_policy=replies_policy or "list",
                   exclusive=exclusive)
    session.add(row)
    await session.flush()
    return row


async def update_list(session: AsyncSession, viewer_id: int, list_id: int, *, title: str | None = None,
                      replies_policy: str | None = None, exclusive: bool | None = None) -> UserList:
    row = await get_list(session, viewer_id, list_id)
    _check_list_fields(title, replies_policy)
    if title is not None:
        row.title = title.strip()[:255]
    if replies_policy is not None:
        row.replies_policy = replies_policy
    if exclusive is not None:
        row.exclusive = exclusive
    await session.flush()
    return row


async def delete_list(session: AsyncSession, viewer_id: int, list_id: int) -> None:
    await session.delete(await get_list(session, viewer_id, list_id))


async def list_accounts(session: AsyncSession, viewer_id: int, list_id: int, window: Window | None) -> list[Actor]:
    """Members of a list, by account id like Mastodon; `window` None returns them all."""
    await get_list(session, viewer_id, list_id)
    query = (select(Actor).join(ListMember, ListMember.actor_id == Actor.id)
             .where(ListMember.list_id == list_id, Actor.suspended_at.is_(None), Actor.deleted_at.is_(None)))
    if window is None:
        return list(await session.scalars(query.order_by(Actor.id.desc())))
    return await paginate(session, query, Actor.id, window, lambda a: a.id)


async def add_list_accounts(session: AsyncSession, viewer_id: int, list_id: int, account_ids: list[int]) -> None:
    """Only accounts the viewer follows (or asked to follow) can be in a list, as on Mastodon."""
    await get_list(session, viewer_id, list_id)
    ids = list(dict.fromkeys(account_ids))
    if not ids:
        return
    known = set(await session.scalars(select(Actor.id).where(Actor.id.in_(ids), Actor.deleted_at.is_(None))))
    if len(known) != len(ids):
        raise Missing("Record not found")
    followed = set(await session.scalars(select(Follow.followee_id).where(
        Follow.follower_id == viewer_id, Follow.followee_id.in_(ids))))
    if followed != known:
        raise TimelineError("Follow must exist: you can only add accounts you follow")
    rows = [{"id": new_id(), "list_id": list_id, "actor_id": actor_id} for actor_id in ids]
    await session.execute(insert_ignoring_conflicts(session, ListMember.__table__, rows, "list_id", "actor_id"))


async def remove_list_accounts(session: AsyncSession, viewer_id: int, list_id: int, account_ids: list[int]) -> None:
    await get_list(session, viewer_id, list_id)
    if account_ids:
        await session.execute(delete(ListMember).where(ListMember.list_id == list_id,
                                                       ListMember.actor_id.in_(account_ids)))


# -- direct conversations --------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversationView:
    state: ConversationState
    last_status: Status
    accounts: list[Actor]


def _conversation_key(status: Status) -> str:
    return status.conversation_uri or status.uri


async def _latest_direct(session: AsyncSession, viewer_id: int, key: str) -> Status | None:
    """The newest direct message of a conversation the viewer wrote or was mentioned in (two lookups
    bounded by the viewer's own messages and mentions: `conversation_uri` has no index)."""
    in_conversation = and_(Status.visibility == "direct", or_(Status.conversation_uri == key, Status.uri == key))
    written = await session.scalar(select(func.max(Status.id)).where(Status.actor_id == viewer_id, in_conversation))
    received = await session.scalar(select(func.max(Status.id)).join(Mention, Mention.status_id == Status.id)
                                    .where(Mention.actor_id == viewer_id, in_conversation))
    newest = max(written or 0, received or 0)
    return await session.get(Status, newest) if newest else None


async def sync_conversations(session: AsyncSession, viewer_id: int) -> None:
    """Bring the viewer's conversation states up to date with the direct messages received since
    the last look (created lazily here rather than on every incoming message)."""
    newest_known = await session.scalar(select(func.max(ConversationState.last_status_id)).where(
        ConversationState.actor_id == viewer_id))
    floor = newest_known - (CONVERSATION_RESCAN_MS << 16) if newest_known else None
    hidden = (await load_relations(session, viewer_id)).hidden
    authored = select(Status.id).where(Status.actor_id == viewer_id, Status.visibility == "direct")
    mentioned = (select(Status.id).join(Mention, Mention.status_id == Status.id)
                 .where(Mention.actor_id == viewer_id, Status.visibility == "direct"))
    if floor is not None:
        authored = authored.where(Status.id > floor)
        mentioned = mentioned.where(Status.id > floor)
    ids = set(await session.scalars(authored)) | set(await session.scalars(mentioned))
    if not ids:
        return
    newest: dict[str, Status] = {}
    for status in await session.scalars(select(Status).where(Status.id.in_(ids))):
        if status.actor_id in hidden:
            continue
        key = _conversation_key(status)
        if key not in newest or status.id > newest[key].id:
            newest[key] = status
    if not newest:
        return
    known = dict((await session.execute(select(ConversationState.conversation_uri, ConversationState.last_status_id)
                                        .where(ConversationState.actor_id == viewer_id,
                                               ConversationState.conversation_uri.in_(list(newest))))).all())
    fresh = [{"id": new_id(), "actor_id": viewer_id, "conversation_uri": key, "last_status_id": s.id,
              "unread": s.actor_id != viewer_id, "hidden": False} for key, s in newest.items() if key not in known]
    if fresh:
        await session.execute(insert_ignoring_conflicts(session, ConversationState.__table__, fresh,
                                                        "actor_id", "conversation_uri"))
    for key, status in newest.items():
        if key in known and (known[key] is None or known[key] < status.id):
            await session.execute(update(ConversationState).where(
                ConversationState.actor_id == viewer_id, ConversationState.conversation_uri == key,
                or_(ConversationState.last_status_id.is_(None), ConversationState.last_status_id < status.id))
                .values(last_status_id=status.id, unread=status.actor_id != viewer_id, hidden=False))


async def conversations_page(session: AsyncSession, viewer_id: int, window: Window) -> list[ConversationView]:
    """Visible conversations, most recently active first (paginated by last status id, like Mastodon)."""
    await sync_conversations(session, viewer_id)
    query = select(ConversationState).where(ConversationState.actor_id == viewer_id,
                                            ConversationState.hidden.is_(False),
                                            ConversationState.last_status_id.is_not(None))
    states = await paginate(session, query, ConversationState.last_status_id, window,
                            lambda s: s.last_status_id or 0)
    return await _conversation_views(session, viewer_id, states)


async def _conversation_views(session: AsyncSession, viewer_id: int,
                              states: list[ConversationState]) -> list[ConversationView]:
    ids = [s.last_status_id for s in states if s.last_status_id]
    statuses = {s.id: s for s in await session.scalars(select(Status).where(Status.id.in_(ids)))} if ids else {}
    for state in states:
        if state.last_status_id not in statuses:  # the last message was deleted: fall back to the previous one
            previous = await _latest_direct(session, viewer_id, state.conversation_uri)
            if previous is None:
                state.hidden = True
                continue
            state.last_status_id = previous.id
            statuses[previous.id] = previous
    await session.flush()
    live = [s for s in states if not s.hidden and s.last_status_id in statuses]
    wanted = [statuses[s.last_status_id] for s in live if s.last_status_id]
    participants: dict[int, list[int]] = {s.id: [s.actor_id] for s in wanted}
    if wanted:
        for status_id, actor_id in (await session.execute(select(Mention.status_id, Mention.actor_id).where(
                Mention.status_id.in_([s.id for s in wanted])).order_by(Mention.id))).all():
            participants[status_id].append(actor_id)
    actor_ids = {a for ids_ in participants.values() for a in ids_} | {viewer_id}
    actors = {a.id: a for a in await session.scalars(select(Actor).where(Actor.id.in_(actor_ids)))}
    views = []
    for state in live:
        status = statuses[state.last_status_id or 0]
        others = [actors[a] for a in dict.fromkeys(participants[status.id]) if a != viewer_id and a in actors]
        views.append(ConversationView(state, status, others or [actors[viewer_id]]))
    return views


async def get_conversation(session: AsyncSession, viewer_id: int, state_id: int) -> ConversationState:
    state = await session.get(ConversationState, state_id)
    if state is None or state.actor_id != viewer_id:
        raise Missing("Record not found")
    return state


async def read_conversation(session: AsyncSession, viewer_id: int, state_id: int) -> ConversationView | None:
    state = await get_conversation(session, viewer_id, state_id)
    state.unread = False
    await session.flush()
    views = await _conversation_views(session, viewer_id, [state])
    return views[0] if views else None


async def hide_conversation(session: AsyncSession, viewer_id: int, state_id: int) -> None:
    """Mastodon removes the conversation from the list; a new message brings it back."""
    state = await get_conversation(session, viewer_id, state_id)
    state.hidden = True
    state.unread = False


# -- notifications ---------------------------------------------------------------------------------


def notification_query(rel: Relations, *, types: Sequence[str] | None = None, exclude_types: Sequence[str] = (),
                       account_id: int | None = None) -> Select[Any]:
    """The viewer's notifications, without those of muted/blocked accounts or muted conversations."""
    query = (select(Notification).join(Actor, Actor.id == Notification.from_actor_id)
             .where(Notification.recipient_id == rel.viewer_id, Actor.suspended_at.is_(None),
                    Actor.deleted_at.is_(None)))
    if types is not None:  # only unknown types asked for: nothing matches
        query = query.where(Notification.kind.in_(list(types)))
    if exclude_types:
        query = query.where(Notification.kind.not_in(list(exclude_types)))
    if account_id is not None:
        query = query.where(Notification.from_actor_id == account_id)
    if rel.notification_hidden:
        query = query.where(Notification.from_actor_id.not_in(sorted(rel.notification_hidden)))
    if rel.mutes_conversations:
        muted = (select(Status.id).join(ConversationMute, ConversationMute.conversation_uri == Status.conversation_uri)
                 .where(ConversationMute.actor_id == rel.viewer_id, Status.id == Notification.status_id))
        query = query.where(or_(Notification.status_id.is_(None), ~muted.exists()))
    return query


async def notifications_page(session: AsyncSession, viewer_id: int, window: Window, *,
                             types: Sequence[str] | None = None, exclude_types: Sequence[str] = (),
                             account_id: int | None = None, filters: FilterSet | None = None) -> list[Notification]:
    rel = await load_relations(session, viewer_id)
    query = notification_query(rel, types=types, exclude_types=exclude_types, account_id=account_id)
    keep = None
    if filters:
        async def keep(rows: list[Notification]) -> list[Notification]:
            ids = [n.status_id for n in rows if n.status_id]
            statuses = list(await session.scalars(select(Status).where(Status.id.in_(ids)))) if ids else []
            visible = {s.id for s in await filters.keep(statuses)}
            return [n for n in rows if n.status_id is None or n.status_id in visible]
    return await paginate(session, query, Notification.id, window, lambda n: n.id, keep)


async def get_notification(session: AsyncSession, viewer_id: int, notification_id: int) -> Notification:
    rel = await load_relations(session, viewer_id)
    row = await session.scalar(notification_query(rel).where(Notification.id == notification_id))
    if row is None:
        raise Missing("Record not found")
    return row


async def dismiss_notification(session: AsyncSession, viewer_id: int, notification_id: int) -> None:
    result = await session.execute(delete(Notification).where(Notification.id == notification_id,
                                                              Notification.recipient_id == viewer_id))
    if not result.rowcount:
        raise Missing("Record not found")


async def clear_notifications(session: AsyncSession, viewer_id: int) -> None:
    await session.execute(delete(Notification).where(Notification.recipient_id == viewer_id))


async def unread_notifications(session: AsyncSession, viewer_id: int, *, limit: int = 100,
                               types: Sequence[str] | None = None, exclude_types: Sequence[str] = (),
                               account_id: int | None = None) -> int:
    """Notifications newer than the `notifications` marker, counted up to `limit` (Mastodon caps it)."""
    rel = await load_relations(session, viewer_id)
    query = notification_query(rel, types=types, exclude_types=exclude_types, account_id=account_id)
    marker = await session.scalar(select(Marker.last_read_id).where(Marker.actor_id == viewer_id,
                                                                    Marker.timeline == "notifications"))
    if marker and marker.isdigit():
        query = query.where(Notification.id > int(marker))
    limited = query.with_only_columns(Notification.id).limit(limit).subquery()
    return await session.scalar(select(func.count()).select_from(limited)) or 0


# -- read markers ----------------------------------------------------------------------------------


async def get_markers(session: AsyncSession, viewer_id: int, timelines: Iterable[str]) -> dict[str, Marker]:
    wanted = [t for t in timelines if t in MARKER_TIMELINES]
    if not wanted:
        return {}
    rows = await session.scalars(select(Marker).where(Marker.actor_id == viewer_id, Marker.timeline.in_(wanted)))
    return {m.timeline: m for m in rows}


async def set_markers(session: AsyncSession, viewer_id: int, positions: dict[str, str]) -> dict[str, Marker]:
    """Move markers; each save increments `version` (atomically, whatever the concurrency)."""
    for timeline, last_read_id in positions.items():
        if timeline not in MARKER_TIMELINES:
            continue
        if not last_read_id or not str(last_read_id).isdigit() or len(str(last_read_id)) > 19:
            raise TimelineError("Last read id can't be blank")
        now = utcnow()
        inserted = await session.execute(insert_ignoring_conflicts(session, Marker.__table__, [{
            "id": new_id(), "actor_id": viewer_id, "timeline": timeline, "last_read_id": str(last_read_id),
            "version": 0, "updated_at": now}], "actor_id", "timeline").returning(Marker.__table__.c.id))
        if inserted.scalar() is None:
            await session.execute(update(Marker).where(Marker.actor_id == viewer_id, Marker.timeline == timeline)
                                  .values(last_read_id=str(last_read_id), version=Marker.version + 1, updated_at=now)
                                  .execution_options(synchronize_session=False))
    session.expire_all()
    return await get_markers(session, viewer_id, [t for t in positions if t in MARKER_TIMELINES])


