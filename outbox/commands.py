"""The only write API for local actions. Each command is one transaction that stores the rows,
the outgoing activity and its deliveries together (all or nothing), then wakes the delivery worker.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.notify import bump, notify
from actors.serializers import actor_to_as
from fediverse.as2 import format_datetime
from fediverse.db import utcnow
from fediverse.events import queue_event
from fediverse.ids import new_id
from fediverse.models import (
    Actor,
    Block,
    Favourite,
    FeaturedStatus,
    Follow,
    Mention,
    OutgoingActivity,
    Status,
    StatusTag,
    Tombstone,
)
from fediverse.runtime import Runtime
from fediverse.sanitize import sanitize_html
from fediverse.uris import PUBLIC
from outbox.audience import addressing, follower_inboxes, inboxes_of
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

MAX_TEXT_LENGTH = 5000


class CommandError(ValueError):
    """The action cannot be done; the message is shown to the user (HTTP 422 at the API edge)."""


class NotFound(CommandError):
    pass


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
    ) -> Status:
        """Post a status (or a reply); mentioned actors must already be resolved rows."""
        if visibility not in ("public", "unlisted", "private", "direct"):
            raise CommandError("visibility must be public, unlisted, private or direct")
        if not content_html.strip() and not extra:
            raise CommandError("a status needs text")
        async with self._transaction() as session:
            author = await self._actor(session, actor_id, local=True)
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
                local=True, object_type=object_type, visibility=visibility, name=name, summary=summary,
                content=content_html, source_text=source_text, language=language,
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
            for target in mentioned.values():
                session.add(Mention(status_id=status.id, actor_id=target.id))
            for tag in dict.fromkeys(t.lower() for t in (tags or [])):
                session.add(StatusTag(status_id=status.id, name=tag))
            await session.flush()
            await bump(session, Actor, author.id, "statuses_count", 1)
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

    async def edit(self, actor_id: int, status_id: int, content_html: str, *, summary: str | None = None,
                   source_text: str | None = None) -> Status:
        async with self._transaction() as session:
            author = await self._actor(session, actor_id, local=True)
            status = await self._status(session, status_id)
            if status.actor_id != author.id or status.reblog_of_id is not None:
                raise CommandError("only the author can edit a status")
            status.content = content_html
            status.source_text = source_text
            if summary is not None:
                status.summary = summary
            status.updated = utcnow()
            await session.flush()
            queue_event(session, "status.updated", id=status.id)
            parts = await load_status_parts(session, status)
            note = status_to_as(status, parts, self.uris, with_context=False)
            _, activity_uri = self._activity_uri(author)
            inboxes = inboxes_of(parts.mentions) + await follower_inboxes(session, author.id)
            await self._emit(session, author, update_activity(activity_uri, author.uri, note), inboxes,
                             object_uri=status.uri)
            return status

    async def delete_status(self, actor_id: int, status_id: int) -> None:
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
            inboxes = inboxes_of(parts.mentions) + await follower_inboxes(session, author.id)
            # Remote accounts that boosted it also get the Delete, so their followers lose it too.
            boosters = await session.scalars(select(Actor).join(Status, Status.actor_id == Actor.id)
                                             .where(Status.reblog_of_id == status.id))
            inboxes += inboxes_of(boosters)
            _, activity_uri = self._activity_uri(author)
            await self._emit(session, author, delete_activity(activity_uri, author.uri, status.uri, to, cc), inboxes,
                             object_uri=status.uri)
            session.add(Tombstone(uri=status.uri, actor_uri=author.uri))
            if status.in_reply_to_id:
                await bump(session, Status, status.in_reply_to_id, "replies_count", -1)
            await bump(session, Actor, author.id, "statuses_count", -1)
            queue_event(session, "status.deleted", id=status.id)
            await session.delete(status)

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
        allowed = {"display_name", "summary", "icon_url", "image_url", "manually_approves_followers", "discoverable",
                   "also_known_as", "bot", "fields_json", "source_note"}
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
            if status.actor_id != actor.id or status.visibility not in ("public", "unlisted"):
                raise CommandError("only your own public statuses can be pinned")
            existing = await session.scalar(select(FeaturedStatus).where(
                FeaturedStatus.actor_id == actor.id, FeaturedStatus.status_id == status.id))
            if pinned == (existing is not None):
                return
            if pinned:
                session.add(FeaturedStatus(actor_id=actor.id, status_id=status.id))
            else:
                await session.execute(delete(FeaturedStatus).where(FeaturedStatus.id == existing.id))
            _, activity_uri = self._activity_uri(actor)
            body = wrap("Add" if pinned else "Remove", activity_uri, actor.uri, status.uri, to=[PUBLIC])
            body["target"] = actor.featured_url
            await self._emit(session, actor, body, await follower_inboxes(session, actor.id), object_uri=status.uri)
