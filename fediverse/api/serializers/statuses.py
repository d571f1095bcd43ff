"""Status, MediaAttachment, Poll entities, rendered in batches: a timeline page costs a fixed
number of queries whatever its length (no per-status lookups)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.timelines import FilterSet
from fediverse.api.serializers.accounts import account_to_api, acct, iso
from fediverse.api.serializers.filters import filter_result_to_api
from fediverse.config import Settings
from fediverse.db import utcnow
from fediverse.models import (
    Actor,
    Attachment,
    Bookmark,
    ConversationMute,
    Favourite,
    FeaturedStatus,
    Mention,
    Poll,
    PollVote,
    Status,
    StatusTag,
)


def media_to_api(media: Attachment, settings: Settings) -> dict[str, Any]:
    meta = json.loads(media.meta_json) if media.meta_json else {}
    if media.focus_x is not None and media.focus_y is not None:
        meta["focus"] = {"x": media.focus_x, "y": media.focus_y}
    kind = media.kind if media.kind in ("image", "video", "gifv", "audio") else "unknown"
    return {
        "id": str(media.id),
        "type": kind,
        "url": media.url,
        "preview_url": media.preview_url or (media.url if kind == "image" else None),
        "remote_url": media.remote_url,
        "preview_remote_url": None,
        "text_url": None,
        "meta": meta,
        "description": media.description,
        "blurhash": media.blurhash,
    }


def poll_to_api(poll: Poll, own_votes: list[int] | None) -> dict[str, Any]:
    options = json.loads(poll.options_json)
    expired = poll.expires_at is not None and poll.expires_at <= utcnow()
    return {
        "id": str(poll.id),
        "expires_at": iso(poll.expires_at),
        "expired": expired,
        "multiple": poll.multiple,
        "votes_count": poll.votes_count,
        "voters_count": poll.voters_count if poll.multiple else poll.votes_count,
        "options": [
            {"title": o["title"], "votes_count": None if poll.hide_totals and not expired else o.get("votes", 0)}
            for o in options
        ],
        "emojis": [],
        "voted": bool(own_votes) if own_votes is not None else None,
        "own_votes": own_votes or [] if own_votes is not None else None,
    }


class StatusRenderer:
    """Renders many statuses for one viewer with one query per kind of related row."""

    def __init__(self, session: AsyncSession, settings: Settings, viewer_id: int | None) -> None:
        self.session = session
        self.settings = settings
        self.viewer_id = viewer_id

    async def render(self, statuses: Sequence[Status]) -> list[dict[str, Any]]:
        if not statuses:
            return []
        originals_ids = {s.reblog_of_id for s in statuses if s.reblog_of_id}
        originals: dict[int, Status] = {}
        if originals_ids:
            rows = await self.session.scalars(select(Status).where(Status.id.in_(originals_ids)))
            originals = {s.id: s for s in rows}
        every = list(statuses) + list(originals.values())
        ids = [s.id for s in every]
        await self._load(every, ids)
        result = []
        for status in statuses:
            if status.reblog_of_id:
                original = originals.get(status.reblog_of_id)
                if original is None:
                    continue
                doc = self._status(status)
                doc["reblog"] = self._status(original)
                doc["content"] = ""
                result.append(doc)
            else:
                result.append(self._status(status))
        return result

    async def render_one(self, status: Status) -> dict[str, Any]:
        rendered = await self.render([status])
        return rendered[0]

    async def _load(self, statuses: list[Status], ids: list[int]) -> None:
        session = self.session
        actor_ids = {s.actor_id for s in statuses}
        mentions: dict[int, list[int]] = defaultdict(list)
        for status_id, actor_id in (await session.execute(
                select(Mention.status_id, Mention.actor_id).where(Mention.status_id.in_(ids)))).all():
            mentions[status_id].append(actor_id)
            actor_ids.add(actor_id)
        self.mentions = mentions
        self.actors = {a.id: a for a in await session.scalars(select(Actor).where(Actor.id.in_(actor_ids)))}
        tags: dict[int, list[str]] = defaultdict(list)
        for status_id, name in (await session.execute(
                select(StatusTag.status_id, StatusTag.name).where(StatusTag.status_id.in_(ids)))).all():
            tags[status_id].append(name)
        self.tags = tags
        media: dict[int, list[Attachment]] = defaultdict(list)
        for item in await session.scalars(select(Attachment).where(Attachment.status_id.in_(ids))
                                          .order_by(Attachment.position, Attachment.id)):
            media[item.status_id or 0].append(item)
        self.media = media
        self.polls = {p.status_id: p for p in await session.scalars(select(Poll).where(Poll.status_id.in_(ids)))}
        self.favourited: set[int] = set()
        self.reblogged: set[int] = set()
        self.bookmarked: set[int] = set()
        self.pinned: set[int] = set()
        self.muted_conversations: set[str] = set()
        self.own_votes: dict[int, list[int]] = defaultdict(list)
        if self.viewer_id is None:
            return
        viewer = self.viewer_id
        self.favourited = set(await session.scalars(select(Favourite.status_id).where(
            Favourite.actor_id == viewer, Favourite.status_id.in_(ids))))
        self.reblogged = set(await session.scalars(select(Status.reblog_of_id).where(
            Status.actor_id == viewer, Status.reblog_of_id.in_(ids))))
        self.bookmarked = set(await session.scalars(select(Bookmark.status_id).where(
            Bookmark.actor_id == viewer, Bookmark.status_id.in_(ids))))
        self.pinned = set(await session.scalars(select(FeaturedStatus.status_id).where(
            FeaturedStatus.actor_id == viewer, FeaturedStatus.status_id.in_(ids))))
        conversations = {s.conversation_uri or s.uri for s in statuses}
        if conversations:
            self.muted_conversations = set(await session.scalars(select(ConversationMute.conversation_uri).where(
                ConversationMute.actor_id == viewer, ConversationMute.conversation_uri.in_(conversations))))
        if self.polls:
            for status_id, choice in (await session.execute(select(PollVote.status_id, PollVote.choice).where(
                    PollVote.actor_id == viewer, PollVote.status_id.in_(list(self.polls))))).all():
                self.own_votes[status_id].append(choice)

    def _status(self, status: Status) -> dict[str, Any]:
        author = self.actors[status.actor_id]
        poll = self.polls.get(status.id)
        mentioned = [self.actors[a] for a in self.mentions.get(status.id, []) if a in self.actors]
        return {
            "id": str(status.id),
            "uri": status.uri,
            "url": status.url or status.uri,
            "created_at": iso(status.published),
            "edited_at": iso(status.updated),
            "account": account_to_api(author, self.settings),
            "content": status.content,
            "visibility": status.visibility,
            "sensitive": status.sensitive,
            "spoiler_text": status.summary or "",
            "media_attachments": [media_to_api(m, self.settings) for m in self.media.get(status.id, [])],
            "application": None,
            "mentions": [{"id": str(a.id), "username": a.username, "url": a.url or a.uri, "acct": acct(a)}
                         for a in mentioned],
            "tags": [{"name": t, "url": f"{self.settings.base_url}/tags/{t}"} for t in self.tags.get(status.id, [])],
            "emojis": [],
            "reblogs_count": status.reblogs_count,
            "favourites_count": status.favourites_count,
            "replies_count": status.replies_count,
            "in_reply_to_id": str(status.in_reply_to_id) if status.in_reply_to_id else None,
            "in_reply_to_account_id": str(status.in_reply_to_actor_id) if status.in_reply_to_actor_id else None,
            "reblog": None,
            "poll": poll_to_api(poll, self.own_votes.get(status.id, []) if self.viewer_id else None) if poll else None,
            "card": None,
            "language": status.language,
            "text": None,
            "favourited": status.id in self.favourited if self.viewer_id else None,
            "reblogged": status.id in self.reblogged if self.viewer_id else None,
            "muted": ((status.conversation_uri or status.uri) in self.muted_conversations) if self.viewer_id else None,
            "bookmarked": status.id in self.bookmarked if self.viewer_id else None,
            "pinned": status.id in self.pinned if self.viewer_id and status.actor_id == self.viewer_id else None,
            "filtered": [],
        }


async def render_statuses(session: AsyncSession, settings: Settings, viewer_id: int | None,
                          statuses: Sequence[Status], filters: FilterSet | None = None) -> list[dict[str, Any]]:
    """Statuses as entities; a matching warn filter goes into `filtered` of the status it judged
    (the boosted one for a boost, as Mastodon does)."""
    docs = await StatusRenderer(session, settings, viewer_id).render(statuses)
    if not filters:
        return docs
    pending = [s for s in statuses if (s.reblog_of_id or s.id) not in filters.results]
    if pending:
        await filters.keep(pending)
    for doc in docs:
        target = doc["reblog"] or doc
        target["filtered"] = [filter_result_to_api(m) for m in filters.matches(int(target["id"]))]
    return docs
