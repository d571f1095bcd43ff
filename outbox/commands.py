"""The only write API for local actions. Each command is one transaction that stores the rows,
the outgoing activity and its deliveries together (all or nothing), then wakes the delivery worker.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from actors.notify import bump, notify
from actors.remote import ActorResolver
from actors.serializers import actor_to_as
from fediverse.as2 import format_datetime
from fediverse.db import utcnow
from fediverse.events import queue_event
from fediverse.ids import new_id
from fediverse.models import (
    VISIBILITIES,
    Actor,
    Attachment,
    Block,
    Favourite,
    FeaturedStatus,
    Follow,
    IdempotencyKey,
    Mention,
    OutgoingActivity,
    Poll,
    PollVote,
    ScheduledStatus,
    Status,
    StatusEdit,
    StatusTag,
    Tombstone,
)
from fediverse.runtime import Runtime
from fediverse.sanitize import sanitize_html
from fediverse.uris import PUBLIC
from outbox.audience import addressing, follower_inboxes, inboxes_of
from outbox.compose import extract, render
from outbox.delivery import enqueue_deliveries
from outbox.serializers import (
    create_activity,
    delete_activity,
    load_status_parts,
    status_to_as,
    undo_activity,
    update_activity,
    wrap,
)
from webfinger.client import resolve_handle

log = logging.getLogger(__name__)

# Mastodon's limits, also advertised by /api/v2/instance (configuration.statuses and .polls).
MAX_TEXT_LENGTH = 5000
MAX_MEDIA = 4
MAX_MENTIONS = 50
MAX_PINNED = 5
MAX_POLL_OPTIONS = 4
MAX_POLL_OPTION_CHARS = 50
MIN_POLL_EXPIRATION = 300
MAX_POLL_EXPIRATION = 2_629_746
MAX_SCHEDULED = 300
MIN_SCHEDULE_DELAY = timedelta(minutes=5)
IDEMPOTENCY_WINDOW = timedelta(hours=24)


class CommandError(ValueError):
    """The action cannot be done; the message is shown to the user (HTTP 422 at the API edge)."""


class NotFound(CommandError):
    pass


class AlreadyPublished(CommandError):
    """A scheduled status that another worker (or an earlier run) already published."""


class Keep(Enum):
    """Edit arguments where None means "remove": KEEP means "leave it as it is"."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class PollSpec:
    """A poll as a client asks for it (`poll[options][]`, `poll[expires_in]`, ...)."""

    options: list[str]
    expires_in: int
    multiple: bool = False
    hide_totals: bool = False

    def validate(self) -> None:
        options = [o.strip() for o in self.options]
        if len(options) < 2:
            raise CommandError("a poll needs at least 2 options")
        if len(options) > MAX_POLL_OPTIONS:
            raise CommandError(f"a poll has at most {MAX_POLL_OPTIONS} options")
        if any(not o for o in options):
            raise CommandError("poll options cannot be empty")
        if any(len(o) > MAX_POLL_OPTION_CHARS for o in options):
            raise CommandError(f"poll options have at most {MAX_POLL_OPTION_CHARS} characters")
        if len(set(options)) != len(options):
            raise CommandError("poll options must be different")
        if not MIN_POLL_EXPIRATION <= self.expires_in <= MAX_POLL_EXPIRATION:
            raise CommandError(f"a poll lasts between {MIN_POLL_EXPIRATION} and {MAX_POLL_EXPIRATION} seconds")

    def build(self, status_id: int) -> Poll:
        options = [{"title": o.strip(), "votes": 0} for o in self.options]
        return Poll(id=new_id(), status_id=status_id, options_json=json.dumps(options), multiple=self.multiple,
                    hide_totals=self.hide_totals, expires_at=utcnow() + timedelta(seconds=self.expires_in),
                    votes_count=0, voters_count=0)

    def to_params(self) -> dict[str, Any]:
        return {"options": list(self.options), "expires_in": self.expires_in, "multiple": self.multiple,
                "hide_totals": self.hide_totals}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> PollSpec:
        return cls([str(o) for o in params.get("options") or []], int(params.get("expires_in") or 0),
                   bool(params.get("multiple")), bool(params.get("hide_totals")))


@dataclass
class StatusDraft:
    """A status as a client writes it (POST /api/v1/statuses); `to_params` is the `params` of a
    scheduled status in Mastodon's shape, so the same draft is posted later unchanged."""

    text: str = ""
    spoiler_text: str = ""
    visibility: str = "public"
    sensitive: bool = False
    language: str | None = None
    in_reply_to_id: int | None = None
    media_ids: list[int] = field(default_factory=list)
    poll: PollSpec | None = None

    def validate(self) -> None:
        if self.visibility not in VISIBILITIES:
            raise CommandError("visibility must be public, unlisted, private or direct")
        if len(self.text) + len(self.spoiler_text) > MAX_TEXT_LENGTH:
            raise CommandError(f"text is limited to {MAX_TEXT_LENGTH} characters")
        if len(set(self.media_ids)) > MAX_MEDIA:
            raise CommandError(f"a status has at most {MAX_MEDIA} media attachments")
        if self.poll is not None:
            self.poll.validate()
            if self.media_ids:
                raise CommandError("a status cannot have both media attachments and a poll")
        if not self.text.strip() and not self.media_ids and self.poll is None:
            raise CommandError("a status needs text, media or a poll")

    def to_params(self) -> dict[str, Any]:
        return {
            "text": self.text, "spoiler_text": self.spoiler_text or None, "visibility": self.visibility,
            "sensitive": self.sensitive, "language": self.language,
            "in_reply_to_id": str(self.in_reply_to_id) if self.in_reply_to_id else None,
            "media_ids": [str(i) for i in self.media_ids] or None,
            "poll": self.poll.to_params() if self.poll else None,
            "application_id": None, "scheduled_at": None, "idempotency": None, "with_rate_limit": False,
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> StatusDraft:
        reply_to = params.get("in_reply_to_id")
        return cls(text=str(params.get("text") or ""), spoiler_text=str(params.get("spoiler_text") or ""),
                   visibility=str(params.get("visibility") or "public"), sensitive=bool(params.get("sensitive")),
                   language=params.get("language") or None, in_reply_to_id=int(reply_to) if reply_to else None,
                   media_ids=[int(i) for i in params.get("media_ids") or []],
                   poll=PollSpec.from_params(params["poll"]) if params.get("poll") else None)


class Outbox:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.uris = runtime.uris

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.runtime.transaction() as session:
            yield session
        self.runtime.wake("delivery")

    async def _actor(self, session: AsyncSession, actor_id: int, *, local: bool = False) -> Actor:
        actor = await session.get(Actor, actor_id)
        if actor is None or actor.deleted_at is not None:
            raise NotFound("no such account")
        if local and actor.domain is not None:
            raise CommandError("not a local account")
        return actor

    async def _status(self, session: AsyncSession, status_id: int) -> Status:
        status = await session.get(Status, status_id)
        if status is None:
            raise NotFound("no such status")
        return status

    async def _emit(self, session: AsyncSession, actor: Actor, body: dict[str, Any], inboxes: Iterable[str],
                    *, object_uri: str | None = None, public: bool = False,
                    activity_id: int | None = None) -> OutgoingActivity:
        activity = OutgoingActivity(id=activity_id or new_id(), uri=body["id"], actor_id=actor.id,
                                    activity_type=body["type"], object_uri=object_uri, body=json.dumps(body),
                                    public=public)
        session.add(activity)
        await session.flush()
        await enqueue_deliveries(session, activity, inboxes, self.runtime.settings.domain)
        return activity

    def _activity_uri(self, actor: Actor) -> tuple[int, str]:
        activity_id = new_id()
        return activity_id, self.uris.activity(actor.username, activity_id)

    # -- statuses -------------------------------------------------------------------------------

    async def publish(
        self,
        actor_id: int,
        content_html: str,
        *,
        visibility: str = "public",
        mentions: list[Actor] | None = None,
        tags: list[str] | None = None,
        in_reply_to_id: int | None = None,
        summary: str = "",
        sensitive: bool = False,
        language: str | None = None,
        source_text: str | None = None,
        object_type: str = "Note",
        name: str | None = None,
        extra: dict[str, Any] | None = None,
        media_ids: Sequence[int] = (),
        poll: PollSpec | None = None,
        idempotency_key: str | None = None,
        scheduled_id: int | None = None,
    ) -> Status:
        """Post a status (or a reply); mentioned actors must already be resolved rows.

        `media_ids` are the author's unattached uploads, attached here; a `poll` makes it a Question;
        the same `idempotency_key` within a day returns the first status instead of posting twice;
        `scheduled_id` is the scheduled status this publishes (removed in the same transaction, so
        two workers cannot both publish it).
        """
        if visibility not in VISIBILITIES:
            raise CommandError("visibility must be public, unlisted, private or direct")
        if poll is not None:
            poll.validate()
            if media_ids:
                raise CommandError("a status cannot have both media attachments and a poll")
        if not content_html.strip() and not extra and not media_ids and poll is None:
            raise CommandError("a status needs text")
        async with self._transaction() as session:
            author = await self._actor(session, actor_id, local=True)
            if idempotency_key:
                earlier = await self._idempotent(session, author.id, idempotency_key)
                if earlier is not None:
                    return earlier
            if scheduled_id is not None:
                removed = await session.execute(delete(ScheduledStatus).where(
                    ScheduledStatus.id == scheduled_id, ScheduledStatus.actor_id == author.id))
                if removed.rowcount != 1:  # type: ignore[attr-defined]
                    raise AlreadyPublished("this scheduled status was already published")
            mentioned = {a.id: a for a in (mentions or [])}
            parent: Status | None = None
            if in_reply_to_id is not None:
                parent = await self._status(session, in_reply_to_id)
                parent_author = await session.get(Actor, parent.actor_id)
                if parent_author is not None and parent_author.id != author.id:
                    mentioned.setdefault(parent_author.id, parent_author)
            if visibility == "direct" and not mentioned:
                raise CommandError("a direct message needs at least one mentioned recipient")
            to, cc = addressing(visibility, author, mentioned.values())
            status_id = new_id()
            uri = self.uris.status(author.username, status_id)
            status = Status(
                id=status_id, uri=uri, url=self.uris.status_page(author.username, status_id), actor_id=author.id,
                local=True, object_type="Question" if poll is not None else object_type, visibility=visibility,
                name=name, summary=summary, content=content_html, source_text=source_text, language=language,
                sensitive=sensitive or bool(summary), to_json=json.dumps(to), cc_json=json.dumps(cc),
                extra_json=json.dumps(extra) if extra else None,
                in_reply_to_uri=parent.uri if parent else None, in_reply_to_id=parent.id if parent else None,
                in_reply_to_actor_id=parent.actor_id if parent else None,
                conversation_uri=(parent.conversation_uri if parent and parent.conversation_uri
                                  else f"{self.uris.base}/contexts/{status_id}"),
            )
            session.add(status)
            await session.flush()
            queue_event(session, "status.created", id=status.id)
            await self._attach_media(session, author.id, status.id, media_ids)
            if poll is not None:
                session.add(poll.build(status.id))
            if idempotency_key:
                session.add(IdempotencyKey(actor_id=author.id, key=idempotency_key[:255], status_id=status.id))
            for target in mentioned.values():
                session.add(Mention(status_id=status.id, actor_id=target.id))
            for tag in dict.fromkeys(t.lower() for t in (tags or [])):
                session.add(StatusTag(status_id=status.id, name=tag))
            await session.flush()
            await bump(session, Actor, author.id, "statuses_count", 1)
            await session.execute(update(Actor).where(Actor.id == author.id).values(last_status_at=status.published)
                                  .execution_options(synchronize_session=False))
            if parent is not None:
                await bump(session, Status, parent.id, "replies_count", 1)
            for target in mentioned.values():
                await notify(session, target, "mention", author.id, status.id)
            parts = await load_status_parts(session, status)
            note = status_to_as(status, parts, self.uris, with_context=False)
            activity_id, activity_uri = self._activity_uri(author)
            status.activity_uri = activity_uri
            inboxes = inboxes_of(mentioned.values())
            if visibility != "direct":
                inboxes += await follower_inboxes(session, author.id)
            await self._emit(session, author, create_activity(activity_uri, note), inboxes, object_uri=uri,
                             public=visibility in ("public", "unlisted"), activity_id=activity_id)
            return status

    async def _idempotent(self, session: AsyncSession, actor_id: int, key: str) -> Status | None:
        """The status already posted with this key in the last 24 hours; an older key is forgotten."""
        row = await session.scalar(select(IdempotencyKey).where(IdempotencyKey.actor_id == actor_id,
                                                                IdempotencyKey.key == key[:255]))
        if row is None:
            return None
        if row.status_id is not None and row.created_at > utcnow() - IDEMPOTENCY_WINDOW:
            status = await session.get(Status, row.status_id)
            if status is not None:
                return status
        await session.delete(row)
        await session.flush()
        return None

    async def _attach_media(self, session: AsyncSession, actor_id: int, status_id: int,
                            media_ids: Sequence[int]) -> None:
        """Attach the author's own uploads, in the order given; someone else's, or media already on
        another status, cannot be attached (locked rows: two posts cannot take the same upload)."""
        wanted = list(dict.fromkeys(media_ids))
        if len(wanted) > MAX_MEDIA:
            raise CommandError(f"a status has at most {MAX_MEDIA} media attachments")
        if not wanted:
            return
        rows = {a.id: a for a in await session.scalars(
            select(Attachment).where(Attachment.id.in_(wanted)).with_for_update()
            .execution_options(populate_existing=True))}
        for position, media_id in enumerate(wanted):
            item = rows.get(media_id)
            if item is None or item.actor_id != actor_id or item.status_id not in (None, status_id):
                raise CommandError(f"media {media_id} does not exist or cannot be attached")
            item.status_id = status_id
            item.position = position
        await session.flush()

    async def edit(
        self,
        actor_id: int,
        status_id: int,
        content_html: str,
        *,
        summary: str | None = None,
        source_text: str | None = None,
        sensitive: bool | None = None,
        language: str | None = None,
        mentions: list[Actor] | None = None,
        tags: list[str] | None = None,
        media_ids: Sequence[int] | None = None,
        poll: PollSpec | None | Keep = KEEP,
    ) -> Status:
        """Edit a status: the previous version is kept (StatusEdit) and `Update` is federated.

        None keeps summary, sensitive, language, mentions, tags and media as they are; `poll` KEEP
        keeps the poll, None removes it, a spec replaces it (votes reset when options change).
        New mentions are notified; earlier mentions stay (Mastodon does the same).
        """
        async with self._transaction() as session:
            author = await self._actor(session, actor_id, local=True)
            status = await self._status(session, status_id)
            if status.actor_id != author.id or status.reblog_of_id is not None:
                raise CommandError("only the author can edit a status")
            current_poll = await session.scalar(select(Poll).where(Poll.status_id == status.id))
            current_media = list((await session.scalars(select(Attachment.id).where(
                Attachment.status_id == status.id).order_by(Attachment.position, Attachment.id))).all())
            next_media = current_media if media_ids is None else list(dict.fromkeys(media_ids))
            has_poll = current_poll is not None if isinstance(poll, Keep) else poll is not None
            if isinstance(poll, PollSpec):
                poll.validate()
            if next_media and has_poll:
                raise CommandError("a status cannot have both media attachments and a poll")
            if not content_html.strip() and not next_media and not has_poll:
                raise CommandError("a status needs text")
            session.add(StatusEdit(
                status_id=status.id, content=status.content, summary=status.summary or "",
                sensitive=status.sensitive, media_ids_json=json.dumps([str(i) for i in current_media]),
                poll_options_json=current_poll.options_json if current_poll is not None else None,
                created_at=status.updated or status.published))
            status.content = content_html
            status.source_text = source_text
            if summary is not None:
                status.summary = summary
            if sensitive is not None:
                status.sensitive = sensitive or bool(status.summary)
            if language is not None:
                status.language = language
            status.updated = utcnow()
            if media_ids is not None:
                removed = [i for i in current_media if i not in next_media]
                if removed:
                    await session.execute(update(Attachment).where(Attachment.id.in_(removed)).values(status_id=None)
                                          .execution_options(synchronize_session=False))
                await self._attach_media(session, author.id, status.id, next_media)
            if not isinstance(poll, Keep):
                await self._replace_poll(session, status, current_poll, poll)
            new_mentions: list[Actor] = []
            if mentions is not None:
                known = set((await session.scalars(select(Mention.actor_id).where(
                    Mention.status_id == status.id))).all())
                for target in mentions:
                    if target.id not in known and target.id != author.id:
                        known.add(target.id)
                        session.add(Mention(status_id=status.id, actor_id=target.id))
                        new_mentions.append(target)
            if tags is not None:
                await session.execute(delete(StatusTag).where(StatusTag.status_id == status.id))
                for tag in dict.fromkeys(t.lower() for t in tags):
                    session.add(StatusTag(status_id=status.id, name=tag))
            await session.flush()
            queue_event(session, "status.updated", id=status.id)
            for target in new_mentions:
                await notify(session, target, "mention", author.id, status.id)
            boosters = await session.scalars(select(Actor).join(Status, Status.actor_id == Actor.id).where(
                Status.reblog_of_id == status.id, Actor.domain.is_(None)))
            for booster in boosters.all():
                await notify(session, booster, "update", author.id, status.id)
            parts = await load_status_parts(session, status)
            note = status_to_as(status, parts, self.uris, with_context=False)
            _, activity_uri = self._activity_uri(author)
            inboxes = inboxes_of(parts.mentions)
            if status.visibility != "direct":
                inboxes += await follower_inboxes(session, author.id)
            await self._emit(session, author, update_activity(activity_uri, author.uri, note), inboxes,
                             object_uri=status.uri)
            return status

    async def _replace_poll(self, session: AsyncSession, status: Status, current: Poll | None,
                            spec: PollSpec | None) -> None:
        """Keep the poll (and its votes) when options and mode are the same; otherwise start over."""
        if current is not None and spec is not None and spec.multiple == current.multiple \
                and [o.strip() for o in spec.options] == [o.get("title") for o in json.loads(current.options_json)]:
            current.hide_totals = spec.hide_totals
            return
        if current is not None:
            await session.execute(delete(PollVote).where(PollVote.status_id == status.id))
            await session.delete(current)
            await session.flush()
        if spec is not None:
            session.add(spec.build(status.id))
            status.object_type = "Question"
        elif status.object_type == "Question":
            status.object_type = "Note"
        if status.extra_json:  # a new poll has not ended (see outbox.polls.close_ended_polls)
            extra = {k: v for k, v in json.loads(status.extra_json).items() if k != "closed"}
            status.extra_json = json.dumps(extra) if extra else None

    async def delete_status(self, actor_id: int, status_id: int, *, keep_media: bool = False) -> None:
        """Delete a status; `keep_media` detaches its uploads instead of deleting them, so that a client
        can redraft the post with the same media (Mastodon's delete-and-redraft)."""
        async with self._transaction() as session:
            author = await self._actor(session, actor_id, local=True)
            status = await self._status(session, status_id)
            if status.actor_id != author.id:
                raise CommandError("only the author can delete a status")
            if status.reblog_of_id is not None:
                raise CommandError("use unboost to remove a boost")
            parts = await load_status_parts(session, status)
            to = json.loads(status.to_json)
            cc = json.loads(status.cc_json)
            inboxes = inboxes_of(parts.mentions)
            if status.visibility != "direct":
                inboxes += await follower_inboxes(session, author.id)
            # Remote accounts that boosted it also get the Delete, so their followers lose it too.
            boosters = await session.scalars(select(Actor).join(Status, Status.actor_id == Actor.id)
                                             .where(Status.reblog_of_id == status.id))
            inboxes += inboxes_of(boosters)
            # So do remote voters of its poll.
            voters = await session.scalars(select(Actor).join(PollVote, PollVote.actor_id == Actor.id)
                                           .where(PollVote.status_id == status.id).distinct())
            inboxes += inboxes_of(voters)
            _, activity_uri = self._activity_uri(author)
            await self._emit(session, author, delete_activity(activity_uri, author.uri, status.uri, to, cc), inboxes,
                             object_uri=status.uri)
            session.add(Tombstone(uri=status.uri, actor_uri=author.uri))
            if keep_media:
                await session.execute(update(Attachment).where(Attachment.status_id == status.id)
                                      .values(status_id=None).execution_options(synchronize_session=False))
            if status.in_reply_to_id:
                await bump(session, Status, status.in_reply_to_id, "replies_count", -1)
            await bump(session, Actor, author.id, "statuses_count", -1)
            queue_event(session, "status.deleted", id=status.id)
            await session.delete(status)

    # -- composing from plain text, scheduling, voting ------------------------------------------

    async def post(self, actor_id: int, draft: StatusDraft, *, idempotency_key: str | None = None,
                   scheduled_id: int | None = None) -> Status:
        """Post what a client wrote: plain text becomes HTML with links, mentions (resolved here or
        on their server; unknown handles stay plain text) and hashtags."""
        draft.validate()
        if idempotency_key:
            async with self.runtime.sessions() as session:
                row = await session.scalar(select(IdempotencyKey.status_id).where(
                    IdempotencyKey.actor_id == actor_id, IdempotencyKey.key == idempotency_key[:255],
                    IdempotencyKey.created_at > utcnow() - IDEMPOTENCY_WINDOW))
                earlier = await session.get(Status, row) if row else None
            if earlier is not None:
                return earlier
        content, mentions, tags = await self.compose(draft.text)
        try:
            return await self.publish(
                actor_id, content, visibility=draft.visibility, mentions=mentions, tags=tags,
                in_reply_to_id=draft.in_reply_to_id, summary=draft.spoiler_text, sensitive=draft.sensitive,
                language=draft.language, source_text=draft.text, media_ids=draft.media_ids, poll=draft.poll,
                idempotency_key=idempotency_key, scheduled_id=scheduled_id)
        except IntegrityError:
            if not idempotency_key:
                raise
            # The same key posted at the same moment by a parallel request: answer with its status.
            async with self.runtime.sessions() as session:
                row = await session.scalar(select(IdempotencyKey.status_id).where(
                    IdempotencyKey.actor_id == actor_id, IdempotencyKey.key == idempotency_key[:255]))
                earlier = await session.get(Status, row) if row else None
            if earlier is None:
                raise
            return earlier

    async def revise(self, actor_id: int, status_id: int, draft: StatusDraft) -> Status:
        """Edit from what a client wrote (PUT /api/v1/statuses/:id): like Mastodon, media and poll
        not sent again are removed."""
        draft.validate()
        content, mentions, tags = await self.compose(draft.text)
        return await self.edit(actor_id, status_id, content, summary=draft.spoiler_text, source_text=draft.text,
                               sensitive=draft.sensitive, language=draft.language, mentions=mentions, tags=tags,
                               media_ids=draft.media_ids, poll=draft.poll)

    async def compose(self, text: str) -> tuple[str, list[Actor], list[str]]:
        """HTML, resolved mentioned actors and hashtags of a plain-text status."""
        handles, tags = extract(text, self.runtime.settings.domain)
        handles = handles[:MAX_MENTIONS]
        # Resolved side by side: one slow server costs one timeout, not one per handle.
        actors = await asyncio.gather(*(self._mentioned(handle) for handle in handles))
        found = {handle.lower(): actor for handle, actor in zip(handles, actors, strict=True) if actor is not None}
        urls = {handle: actor.url or actor.uri for handle, actor in found.items()}
        unique = list({actor.id: actor for actor in found.values()}.values())
        return render(text, self.uris, urls), unique, tags

    async def _mentioned(self, handle: str) -> Actor | None:
        """The actor behind user@domain: known rows first, else WebFinger and a signed fetch."""
        user, _, domain = handle.rpartition("@")
        local = domain.lower() == self.runtime.settings.domain.lower()
        async with self.runtime.sessions() as session:
            actor = await session.scalar(select(Actor).where(
                Actor.username_lower == user.lower(), Actor.domain_key == ("" if local else domain.lower()),
                Actor.deleted_at.is_(None)))
        if actor is not None or local:
            return actor
        try:
            uri = await resolve_handle(self.runtime, handle)
            return await ActorResolver(self.runtime).get(uri)
        except Exception as exc:  # unreachable server, no such account, unusable document
            log.info("mention %s left as text: %r", handle, exc)
            return None

    async def schedule(self, actor_id: int, draft: StatusDraft, scheduled_at: datetime) -> ScheduledStatus:
        """Keep a status to publish later (outbox.scheduled publishes it when due)."""
        draft.validate()
        if scheduled_at < utcnow() + MIN_SCHEDULE_DELAY:
            raise CommandError("the scheduled date must be at least 5 minutes in the future")
        async with self._transaction() as session:
            author = await self._actor(session, actor_id, local=True)
            pending = await session.scalar(select(func.count()).select_from(ScheduledStatus).where(
                ScheduledStatus.actor_id == author.id)) or 0
            if pending >= MAX_SCHEDULED:
                raise CommandError(f"at most {MAX_SCHEDULED} scheduled statuses")
            if draft.media_ids:
                owned = set((await session.scalars(select(Attachment.id).where(
                    Attachment.id.in_(draft.media_ids), Attachment.actor_id == author.id,
                    Attachment.status_id.is_(None)))).all())
                missing = [str(i) for i in draft.media_ids if i not in owned]
                if missing:
                    raise CommandError(f"media {', '.join(missing)} does not exist or cannot be attached")
            if draft.in_reply_to_id is not None:
                await self._status(session, draft.in_reply_to_id)
            row = ScheduledStatus(actor_id=author.id, scheduled_at=scheduled_at,
                                  params_json=json.dumps(draft.to_params()),
                                  media_ids_json=json.dumps([str(i) for i in draft.media_ids]))
            session.add(row)
            await session.flush()
            return row

    async def vote(self, actor_id: int, poll_id: int, choices: Sequence[int]) -> Poll:
        """Vote in a poll (local, or remote: the vote is sent to the poll's author)."""
        from outbox.polls import vote

        return await vote(self, actor_id, poll_id, choices)

    # -- boosts and favourites ------------------------------------------------------------------

    async def boost(self, actor_id: int, status_id: int) -> Status:
        async with self._transaction() as session:
            actor = await self._actor(session, actor_id, local=True)
            original = await self._status(session, status_id)
            if original.visibility not in ("public", "unlisted"):
                raise CommandError("only public or unlisted statuses can be boosted")
            existing = await session.scalar(select(Status).where(
                Status.actor_id == actor.id, Status.reblog_of_id == original.id))
            if existing is not None:
                return existing
            original_author = await session.get(Actor, original.actor_id)
            assert original_author is not None
            boost_id = new_id()
            activity_uri = self.uris.activity(actor.username, boost_id)
            to = [PUBLIC]
            cc = [original_author.uri, actor.followers_url or ""]
            boost = Status(id=boost_id, uri=activity_uri, actor_id=actor.id, local=True, visibility="public",
                           reblog_of_id=original.id, activity_uri=activity_uri, to_json=json.dumps(to),
                           cc_json=json.dumps(cc))
            session.add(boost)
            await session.flush()
            queue_event(session, "status.created", id=boost.id)
            await bump(session, Status, original.id, "reblogs_count", 1)
            await notify(session, original_author, "reblog", actor.id, original.id)
            body = wrap("Announce", activity_uri, actor.uri, original.uri, to=to, cc=cc,
                        published=format_datetime(boost.published))
            inboxes = inboxes_of([original_author]) + await follower_inboxes(session, actor.id)
            await self._emit(session, actor, body, inboxes, object_uri=original.uri, public=True,
                             activity_id=boost_id)
            return boost

    async def unboost(self, actor_id: int, status_id: int) -> None:
        async with self._transaction() as session:
            actor = await self._actor(session, actor_id, local=True)
            boost = await session.scalar(select(Status).where(
                Status.actor_id == actor.id, Status.reblog_of_id == status_id))
            if boost is None:
                return
            original = await self._status(session, status_id)
            original_author = await session.get(Actor, original.actor_id)
            announce = wrap("Announce", boost.uri, actor.uri, original.uri, to=json.loads(boost.to_json),
                            cc=json.loads(boost.cc_json))
            _, undo_uri = self._activity_uri(actor)
            inboxes = inboxes_of([original_author] if original_author else []) + \
                await follower_inboxes(session, actor.id)
            await self._emit(session, actor, undo_activity(undo_uri, actor.uri, announce), inboxes)
            await bump(session, Status, original.id, "reblogs_count", -1)
            queue_event(session, "status.deleted", id=boost.id)
            await session.delete(boost)

    async def favourite(self, actor_id: int, status_id: int) -> Favourite:
        async with self._transaction() as session:
            actor = await self._actor(session, actor_id, local=True)
            status = await self._status(session, status_id)
            existing = await session.scalar(select(Favourite).where(
                Favourite.actor_id == actor.id, Favourite.status_id == status.id))
            if existing is not None:
                return existing
            author = await session.get(Actor, status.actor_id)
            assert author is not None
            activity_id, activity_uri = self._activity_uri(actor)
            favourite = Favourite(id=activity_id, uri=activity_uri, actor_id=actor.id, status_id=status.id)
            session.add(favourite)
            await session.flush()
            await bump(session, Status, status.id, "favourites_count", 1)
            await notify(session, author, "favourite", actor.id, status.id)
            body = wrap("Like", activity_uri, actor.uri, status.uri, to=[author.uri])
            await self._emit(session, actor, body, inboxes_of([author]), object_uri=status.uri,
                             activity_id=activity_id)
            return favourite

    async def unfavourite(self, actor_id: int, status_id: int) -> None:
        async with self._transaction() as session:
            actor = await self._actor(session, actor_id, local=True)
            favourite = await session.scalar(select(Favourite).where(
                Favourite.actor_id == actor.id, Favourite.status_id == status_id))
            if favourite is None:
                return
            status = await self._status(session, status_id)
            author = await session.get(Actor, status.actor_id)
            like = wrap("Like", favourite.uri, actor.uri, status.uri, to=[author.uri] if author else [])
            _, undo_uri = self._activity_uri(actor)
            await self._emit(session, actor, undo_activity(undo_uri, actor.uri, like),
                             inboxes_of([author] if author else []))
            await bump(session, Status, status.id, "favourites_count", -1)
            await session.delete(favourite)

    # -- follows --------------------------------------------------------------------------------

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
        follow.state = "accepted"
        await bump(session, Actor, target.id, "followers_count", 1)
        await bump(session, Actor, follower.id, "following_count", 1)
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
                inner = wrap("Follow", follow.uri, actor.uri, target.uri)
                _, undo_uri = self._activity_uri(actor)
                await self._emit(session, actor, undo_activity(undo_uri, actor.uri, inner), [target.inbox_url])
            if follow.state == "accepted":
                await bump(session, Actor, target.id, "followers_count", -1)
                await bump(session, Actor, actor.id, "following_count", -1)
            await session.delete(follow)

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
                follow.state = "accepted"
                await bump(session, Actor, actor.id, "followers_count", 1)
                await bump(session, Actor, follower.id, "following_count", 1)
                await notify(session, actor, "follow", follower.id)
            else:
                if follow.state == "accepted":
                    await bump(session, Actor, actor.id, "followers_count", -1)
                    await bump(session, Actor, follower.id, "following_count", -1)
                await session.delete(follow)

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

    # -- blocks ---------------------------------------------------------------------------------

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
            for follower_id, followee_id in ((actor.id, target.id), (target.id, actor.id)):
                follow = await session.scalar(select(Follow).where(Follow.follower_id == follower_id,
                                                                   Follow.followee_id == followee_id))
                if follow is not None:
                    if follow.state == "accepted":
                        await bump(session, Actor, followee_id, "followers_count", -1)
                        await bump(session, Actor, follower_id, "following_count", -1)
                    await session.delete(follow)
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
                inner = wrap("Block", block.uri, actor.uri, target.uri)
                _, undo_uri = self._activity_uri(actor)
                await self._emit(session, actor, undo_activity(undo_uri, actor.uri, inner), [target.inbox_url])
            await session.delete(block)

    # -- profile and featured -------------------------------------------------------------------

    async def update_profile(self, actor_id: int, **changes: Any) -> Actor:
        allowed = {"display_name", "summary", "icon_url", "icon_static_url", "image_url", "image_static_url",
                   "manually_approves_followers", "discoverable", "also_known_as", "bot", "fields_json", "source_note"}
        unknown = set(changes) - allowed
        if unknown:
            raise CommandError(f"cannot change {', '.join(sorted(unknown))}")
        async with self._transaction() as session:
            actor = await self._actor(session, actor_id, local=True)
            if "summary" in changes:
                changes["summary"] = sanitize_html(changes["summary"] or "")
            if "also_known_as" in changes:
                aliases = [a for a in changes["also_known_as"] if isinstance(a, str) and a.startswith("https://")]
                changes["also_known_as"] = json.dumps(aliases[:10])
            for key, value in changes.items():
                setattr(actor, key, value)
            actor.updated = utcnow()
            await session.flush()
            doc = actor_to_as(actor, self.uris)
            _, activity_uri = self._activity_uri(actor)
            body = wrap("Update", activity_uri, actor.uri, doc, to=[PUBLIC], cc=[actor.followers_url or ""])
            await self._emit(session, actor, body, await follower_inboxes(session, actor.id), object_uri=actor.uri)
            return actor

    async def move(self, actor_id: int, target: Actor) -> None:
        """Announce that this account moved to `target`, which must list us in alsoKnownAs."""
        async with self._transaction() as session:
            actor = await self._actor(session, actor_id, local=True)
            if actor.uri not in json.loads(target.also_known_as or "[]"):
                raise CommandError("the new account must first list this one as an alias (alsoKnownAs)")
            actor.moved_to_uri = target.uri
            actor.updated = utcnow()
            _, activity_uri = self._activity_uri(actor)
            body = wrap("Move", activity_uri, actor.uri, actor.uri, to=[actor.followers_url or ""])
            body["target"] = target.uri
            await self._emit(session, actor, body, await follower_inboxes(session, actor.id), object_uri=actor.uri)

    async def pin(self, actor_id: int, status_id: int, *, pinned: bool = True) -> None:
        async with self._transaction() as session:
            actor = await self._actor(session, actor_id, local=True)
            status = await self._status(session, status_id)
            # Public and unlisted only: the featured collection is served to anyone (actors.routes).
            if status.actor_id != actor.id or status.reblog_of_id is not None \
                    or status.visibility not in ("public", "unlisted"):
                raise CommandError("only your own public statuses can be pinned")
            existing = await session.scalar(select(FeaturedStatus).where(
                FeaturedStatus.actor_id == actor.id, FeaturedStatus.status_id == status.id))
            if pinned == (existing is not None):
                return
            if pinned and (await session.scalar(select(func.count()).select_from(FeaturedStatus).where(
                    FeaturedStatus.actor_id == actor.id)) or 0) >= MAX_PINNED:
                raise CommandError(f"at most {MAX_PINNED} statuses can be pinned")
            if pinned:
                session.add(FeaturedStatus(actor_id=actor.id, status_id=status.id))
            else:
                await session.execute(delete(FeaturedStatus).where(FeaturedStatus.id == existing.id))
            _, activity_uri = self._activity_uri(actor)
            body = wrap("Add" if pinned else "Remove", activity_uri, actor.uri, status.uri, to=[PUBLIC])
            body["target"] = actor.featured_url
            await self._emit(session, actor, body, await follower_inboxes(session, actor.id), object_uri=status.uri)
