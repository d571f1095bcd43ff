"""Outbox commands on someone's status: boosts and favourites, and their undoing."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from actors.notify import bump, notify
from fediverse.as2 import format_datetime
from fediverse.events import queue_event
from fediverse.ids import new_id
from fediverse.models import Actor, Favourite, Status
from fediverse.uris import PUBLIC
from outbox.audience import follower_inboxes, inboxes_of
from outbox.command_base import CommandBase
from outbox.errors import CommandError
from outbox.serializers import wrap


class InteractionCommands(CommandBase):
    """Boost, unboost, favourite, unfavourite: each federated to the status's author."""

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
            inboxes = inboxes_of([original_author] if original_author else []) + \
                await follower_inboxes(session, actor.id)
            await self._emit_undo(session, actor, announce, inboxes)
            await bump(session, Status, original.id, "reblogs_count", -1)
            queue_event(session, "status.deleted", id=boost.id)
            await session.delete(boost)

    async def favourite(self, actor_id: int, status_id: int) -> Favourite:
        """Like a status once: a second like (even at the same instant, from another request) is the first."""
        try:
            return await self._favourite_once(actor_id, status_id)
        except IntegrityError:  # the other request's like was committed between our check and our insert
            return await self._favourite_once(actor_id, status_id)

    async def _favourite_once(self, actor_id: int, status_id: int) -> Favourite:
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
            await self._emit_undo(session, actor, like, inboxes_of([author] if author else []))
            await bump(session, Status, status.id, "favourites_count", -1)
            await session.delete(favourite)
