"""Outbox commands from what a client wrote: plain text composed into HTML with resolved mentions,
posted, revised or scheduled; and votes."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from actors.remote import ActorResolver
from fediverse.db import utcnow
from fediverse.models import Actor, Ad, Attachment, IdempotencyKey, Poll, ScheduledStatus, Status
from outbox.compose import extract, render
from outbox.drafts import StatusDraft
from outbox.errors import CommandError
from outbox.limits import IDEMPOTENCY_WINDOW, MAX_MENTIONS, MAX_SCHEDULED, MIN_SCHEDULE_DELAY
from outbox.locations import commune_of_territory
from outbox.statuses import StatusCommands
from webfinger.client import resolve_handle

log = logging.getLogger(__name__)


class PostingCommands(StatusCommands):
    """Statuses from client drafts, on top of `StatusCommands`."""

    async def post(self, actor_id: int, draft: StatusDraft, *, idempotency_key: str | None = None,
                   scheduled_id: int | None = None) -> Status:
        """Post what a client wrote: plain text becomes HTML with links, mentions (resolved here or
        on their server; unknown handles stay plain text) and hashtags. A reply to someone else's
        petite annonce becomes a direct message to the ad's author alone, whatever the app asked."""
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
        visibility = draft.visibility
        ad_author = await self._ad_author(actor_id, draft.in_reply_to_id)
        if ad_author is not None:
            # Replying to a petite annonce opens a private conversation with its author only.
            visibility = "direct"
            mentions = [m for m in mentions if m.id == ad_author.id] or [ad_author]
        try:
            return await self.publish(
                actor_id, content, visibility=visibility, mentions=mentions, tags=tags,
                in_reply_to_id=draft.in_reply_to_id, summary=draft.spoiler_text, sensitive=draft.sensitive,
                language=draft.language, source_text=draft.text, media_ids=draft.media_ids, poll=draft.poll,
                idempotency_key=idempotency_key, scheduled_id=scheduled_id, commune=draft.commune)
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

    async def _ad_author(self, actor_id: int, in_reply_to_id: int | None) -> Actor | None:
        """The author of the ad (local or remote) being replied to, unless it is the replier."""
        if in_reply_to_id is None:
            return None
        async with self.runtime.sessions() as session:
            author = await session.scalar(select(Actor).join(Ad, Ad.actor_id == Actor.id)
                                          .where(Ad.status_id == in_reply_to_id))
        return author if author is not None and author.id != actor_id else None

    async def revise(self, actor_id: int, status_id: int, draft: StatusDraft) -> Status:
        """Edit from what a client wrote (PUT /api/v1/statuses/:id): like Mastodon, media and poll
        not sent again are removed. A `commune` moves the status there (the Update carries the new
        location); without it the location stays as it is."""
        draft.validate()
        content, mentions, tags = await self.compose(draft.text)
        return await self.edit(actor_id, status_id, content, summary=draft.spoiler_text, source_text=draft.text,
                               sensitive=draft.sensitive, language=draft.language, mentions=mentions, tags=tags,
                               media_ids=draft.media_ids, poll=draft.poll, commune=draft.commune or None)

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
            if draft.commune:
                await commune_of_territory(session, draft.commune)
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
