"""Outbox commands on the author's own statuses: publish, edit (with its history) and delete."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from actors.notify import bump, notify
from fediverse.db import utcnow
from fediverse.events import queue_event
from fediverse.ids import new_id
from fediverse.models import (
    VISIBILITIES,
    Actor,
    Attachment,
    IdempotencyKey,
    Mention,
    Poll,
    PollVote,
    ScheduledStatus,
    Status,
    StatusEdit,
    StatusTag,
    Tombstone,
)
from outbox import fanout
from outbox.audience import addressing, follower_inboxes, inboxes_of
from outbox.command_base import CommandBase
from outbox.drafts import KEEP, Keep, PollSpec
from outbox.errors import AlreadyPublished, CommandError
from outbox.limits import IDEMPOTENCY_WINDOW, MAX_MEDIA
from outbox.serializers import create_activity, delete_activity, load_status_parts, status_to_as, update_activity


class StatusCommands(CommandBase):
    """Writing statuses from HTML and resolved mentions (see `PostingCommands` for plain text)."""

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
        commune: str | None = None,
    ) -> Status:
        """Post a status (or a reply); mentioned actors must already be resolved rows.

        `media_ids` are the author's unattached uploads, attached here; a `poll` makes it a Question;
        the same `idempotency_key` within a day returns the first status instead of posting twice;
        `scheduled_id` is the scheduled status this publishes (removed in the same transaction, so
        two workers cannot both publish it); `commune` (INSEE) locates it elsewhere than the
        author's own commune.
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
            await fanout.before_serialize(self, session, author, status, commune=commune)
            parts = await load_status_parts(session, status)
            note = status_to_as(status, parts, self.uris, with_context=False)
            activity_id, activity_uri = self._activity_uri(author)
            status.activity_uri = activity_uri
            inboxes = inboxes_of(mentioned.values())
            if visibility != "direct":
                inboxes += await follower_inboxes(session, author.id)
            await self._emit(session, author, create_activity(activity_uri, note), inboxes, object_uri=uri,
                             public=visibility in ("public", "unlisted"), activity_id=activity_id)
            await fanout.after_publish(self, session, author, status, note)
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
        commune: str | None = None,
    ) -> Status:
        """Edit a status: the previous version is kept (StatusEdit) and `Update` is federated.

        None keeps summary, sensitive, language, mentions, tags and media as they are; `poll` KEEP
        keeps the poll, None removes it, a spec replaces it (votes reset when options change).
        New mentions are notified; earlier mentions stay (Mastodon does the same). A `commune`
        (INSEE) moves the status there; without it the location stays.
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
            if commune is not None:
                await fanout.relocate(session, author, status, commune)
            await session.flush()
            queue_event(session, "status.updated", id=status.id)
            for target in new_mentions:
                await notify(session, target, "mention", author.id, status.id)
            boosters = await session.scalars(select(Actor).join(Status, Status.actor_id == Actor.id).where(
                Status.reblog_of_id == status.id, Actor.domain.is_(None)))
            for booster in boosters.all():
                await notify(session, booster, "update", author.id, status.id)
            await fanout.before_edit_serialize(self, session, author, status)
            parts = await load_status_parts(session, status)
            note = status_to_as(status, parts, self.uris, with_context=False)
            _, activity_uri = self._activity_uri(author)
            inboxes = inboxes_of(parts.mentions)
            if status.visibility != "direct":
                inboxes += await follower_inboxes(session, author.id)
                inboxes += await fanout.extra_inboxes(session, status)
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
                inboxes += await fanout.extra_inboxes(session, status)
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
