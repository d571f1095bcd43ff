"""Local agenda events: create, edit, cancel and delete, federated exactly as Mobilizon writes them.

An event is published through the ordinary status path (`publish` with `object_type="Event"`, then
`edit` and `delete_status`), so followers, neighbour instances, groups and timelines all see it like
any post. What makes it an event (the `Event` row, the Mobilizon wire fields) is written inside that
same transaction by outbox.event_wire.prepare_event, which these commands hand the event to through
a context variable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.groups import is_member, is_moderator
from actors.teams import TEAM_KINDS, is_active_member
from fediverse.models import Actor, Attachment, Commune, Event, Status
from outbox.commands import Outbox
from outbox.errors import CommandError, NotFound
from outbox.event_wire import PENDING_EVENT, EventSpec, PendingEvent, event_spec, spec_of

__all__ = ["EventCommands", "EventSpec", "event_spec", "may_manage", "may_post_for", "spec_of"]


async def may_post_for(session: AsyncSession, actor_id: int, user_id: int | None, target: Actor) -> bool:
    """Whether the poster may attribute an event to `target`: themselves, a shared account whose team
    they are active in, or an interest group they belong to."""
    if target.id == actor_id:
        return True
    if target.domain is not None or target.deleted_at is not None:
        return False
    if target.kind == "group":
        return await is_member(session, target, actor_id)
    if target.kind in TEAM_KINDS and user_id is not None:
        return await is_active_member(session, target.id, user_id)
    return False


async def may_manage(session: AsyncSession, event: Event, actor_id: int, user_id: int | None) -> bool:
    """The organiser (or a team member acting as it), or a member of the team or a moderator of the
    group the event is attributed to."""
    if event.actor_id == actor_id:
        return True
    if user_id is not None and await is_active_member(session, event.actor_id, user_id):
        return True
    if event.attributed_to_id is not None:
        owner = await session.get(Actor, event.attributed_to_id)
        if owner is not None and owner.domain is None:
            if owner.kind == "group" and await is_moderator(session, owner, actor_id):
                return True
            if user_id is not None and await is_active_member(session, owner.id, user_id):
                return True
    return False


class EventCommands(Outbox):
    """Create, edit, cancel and delete local events. One instance per request: the event being
    written is handed to `prepare_event` through a context variable while the status command runs."""

    async def create_event(self, actor_id: int, spec: EventSpec, *, media_ids: Sequence[int] = (),
                           attributed_to_id: int | None = None, user_id: int | None = None) -> Event:
        """Publish a new event as `actor_id` (the organiser), optionally attributed to an association
        or group the poster acts for; `media_ids[0]` becomes the banner."""
        if attributed_to_id is not None:
            async with self.runtime.sessions() as session:
                target = await session.get(Actor, attributed_to_id)
                allowed = target is not None and await may_post_for(session, actor_id, user_id, target)
            if not allowed:
                raise CommandError("you may only attribute an event to yourself, or to an association or "
                                   "group you act for")
            if attributed_to_id == actor_id:
                attributed_to_id = None
        pending = PendingEvent(spec, attributed_to_id)
        token = PENDING_EVENT.set(pending)
        try:
            await self.publish(
                actor_id, spec.description_html, object_type="Event", name=spec.title, language=spec.language,
                extra={"mediaType": "text/html"}, media_ids=media_ids, commune=await self._territory_commune(spec))
        finally:
            PENDING_EVENT.reset(token)
        assert pending.event_id is not None
        async with self.runtime.sessions() as session:
            event = await session.get(Event, pending.event_id)
        assert event is not None
        return event

    async def update_event(self, event_id: int, spec: EventSpec, *, actor_id: int, user_id: int | None = None,
                           media_ids: Sequence[int] | None = None) -> Event:
        """Change an event (an Update of the whole object goes to everyone who got it); `media_ids`
        None keeps the pictures."""
        async with self.runtime.sessions() as session:
            event = await session.get(Event, event_id)
            if event is None or not event.local:
                raise NotFound("no such event")
            if not await may_manage(session, event, actor_id, user_id):
                raise CommandError("only the organiser or their team can change this event")
            if media_ids is None:
                media_ids = list((await session.scalars(select(Attachment.id).where(
                    Attachment.status_id == event.status_id).order_by(Attachment.position, Attachment.id))).all())
            organizer_id, status_id, attributed_to_id = event.actor_id, event.status_id, event.attributed_to_id
            status = await session.get(Status, status_id)
            previous = (status.updated or status.published) if status is not None else None
        token = PENDING_EVENT.set(PendingEvent(spec, attributed_to_id, event_id=event_id, status_id=status_id,
                                      previous_update=previous))
        try:
            await self.edit(organizer_id, status_id, spec.description_html or "<p></p>", language=spec.language,
                            media_ids=list(media_ids))
        finally:
            PENDING_EVENT.reset(token)
        async with self.runtime.sessions() as session:
            event = await session.get(Event, event_id)
        assert event is not None
        return event

    async def cancel_event(self, event_id: int, *, actor_id: int, user_id: int | None = None) -> Event:
        """Mark it cancelled (`ical:status` CANCELLED in an Update); it stays listed, flagged."""
        current = await self._current_spec(event_id)
        return await self.update_event(event_id, replace(current, event_status="CANCELLED"), actor_id=actor_id,
                                       user_id=user_id)

    async def refresh_event(self, event_id: int) -> Event:
        """Send the event again as it is (after participation changes its counts), as its organiser."""
        current = await self._current_spec(event_id)
        async with self.runtime.sessions() as session:
            event = await session.get(Event, event_id)
            assert event is not None
            organizer_id = event.actor_id
        return await self.update_event(event_id, current, actor_id=organizer_id)

    async def delete_event(self, event_id: int, *, actor_id: int, user_id: int | None = None) -> None:
        """Delete the event and its status (a Delete goes to everyone who got it)."""
        async with self.runtime.sessions() as session:
            event = await session.get(Event, event_id)
            if event is None or not event.local:
                raise NotFound("no such event")
            if not await may_manage(session, event, actor_id, user_id):
                raise CommandError("only the organiser or their team can delete this event")
            organizer_id, status_id = event.actor_id, event.status_id
        await self.delete_status(organizer_id, status_id)

    async def _current_spec(self, event_id: int) -> EventSpec:
        async with self.runtime.sessions() as session:
            event = await session.get(Event, event_id)
            status = await session.get(Status, event.status_id) if event is not None else None
            if event is None or status is None or not event.local:
                raise NotFound("no such event")
            return spec_of(event, status)

    async def _territory_commune(self, spec: EventSpec) -> str | None:
        """The event's commune when it is one of ours (publishing locates the status there)."""
        code = spec.place.commune_insee
        if code is None:
            return None
        async with self.runtime.sessions() as session:
            return code if await session.get(Commune, code) is not None else None
