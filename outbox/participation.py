"""Taking part in events, exactly as Mobilizon does it (shapes in outbox/participation_wire.py).

Rules kept here, whoever calls (client API, RSVP replies, the inbox):
- a local event: `free` accepts at once while places remain; `restricted` waits (pending) until the
  organiser or a member of their team authorizes; `external` and `invite` refuse (the first with its
  link); a cancelled or finished event refuses; the organiser does not join their own event;
- a remote event: our participant sends `Join` to its organiser and stays pending until `Accept`/`Reject`;
- places: taking one is a conditional UPDATE of the event row (`participant_count < capacity`), the same
  statement on SQLite (one writer at a time) and PostgreSQL (the row is locked and the condition checked
  again after a concurrent commit), so accepted participants never exceed the capacity, whatever arrives
  at once. `participant_count` counts accepted participants, local and remote, of local events (a remote
  event keeps its origin's figure); the event document's `participantCount`/`remainingAttendeeCapacity`
  change in the same transaction;
- a refusal is raised before anything is written, so a caller inside a bigger transaction (an RSVP reply
  being posted) can go on without it.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from actors.events import event_for_status, event_for_uri, find_event
from actors.groups import is_moderator
from actors.notify import notify
from actors.teams import is_active_member
from fediverse.db import utcnow
from fediverse.models import Actor, Event, IncomingActivity, Participation, Status
from fediverse.uris import host_of
from outbox.audience import inboxes_of
from outbox.command_base import CommandBase
from outbox.errors import CommandError, NotFound
from outbox.participation_wire import (
    answer_activity,
    embeddable_join,
    join_activity,
    leave_activity,
    merge_participation_terms,
    participation_message,
)

JOINABLE_MODES = ("free", "restricted")


class NotOrganiser(CommandError):
    """Only the organiser (or their team) may see or decide on an event's participants (HTTP 403)."""


# -- lookups and rules ------------------------------------------------------------------------------

async def load_event(session: AsyncSession, event_or_status_id: int) -> tuple[Event, Status]:
    """An event by its status id (what Mastodon apps know) or its own id."""
    event = await event_for_status(session, event_or_status_id) or await find_event(session, event_or_status_id)
    status = await session.get(Status, event.status_id) if event is not None else None
    if event is None or status is None:
        raise NotFound("no such event")
    return event, status


async def event_named(session: AsyncSession, uri: str) -> tuple[Event, Status] | None:
    """The event a Join or Leave names: by its id, or by its page URL (what some servers send)."""
    event = await event_for_uri(session, uri)
    if event is None:
        event = await session.scalar(select(Event).join(Status, Status.id == Event.status_id)
                                     .where(Status.url == uri).limit(1))
    status = await session.get(Status, event.status_id) if event is not None else None
    return (event, status) if event is not None and status is not None else None


async def participation_of(session: AsyncSession, event_id: int, actor_id: int) -> Participation | None:
    return await session.scalar(select(Participation).where(Participation.event_id == event_id,
                                                            Participation.actor_id == actor_id))


def is_organiser(event: Event, actor_id: int) -> bool:
    return actor_id in (event.actor_id, event.attributed_to_id)


async def may_manage(session: AsyncSession, event: Event, actor_id: int | None, user_id: int | None = None) -> bool:
    """The organiser or the account the event is attributed to (or a team member acting as either), an
    active member of either's team, or a moderator of the group it is attributed to (the same rule as
    editing the event, outbox.events.may_manage)."""
    if actor_id is not None and is_organiser(event, actor_id):
        return True
    for owner_id in (event.actor_id, event.attributed_to_id):
        if owner_id is None:
            continue
        if user_id is not None and await is_active_member(session, owner_id, user_id):
            return True
        owner = await session.get(Actor, owner_id)
        if actor_id is not None and owner is not None and owner.domain is None and owner.kind == "group" \
                and await is_moderator(session, owner, actor_id):
            return True
    return False


def is_over(event: Event) -> bool:
    return (event.ends_at or event.starts_at) < utcnow()


def refusal(event: Event) -> str | None:
    """Why nobody can join this event now, or None."""
    if event.event_status == "CANCELLED":
        return "this event is cancelled"
    if is_over(event):
        return "this event is over"
    if event.join_mode == "external":
        where = f" at {event.external_url}" if event.external_url else " on another site"
        return f"registration for this event is handled{where}"
    if event.join_mode not in JOINABLE_MODES:
        return "this event is by invitation only"
    return None


def is_full(event: Event) -> bool:
    return event.capacity is not None and event.participant_count >= event.capacity


# -- places -----------------------------------------------------------------------------------------

async def _refresh_terms(session: AsyncSession, event: Event) -> None:
    """Re-read the event row (after the UPDATE that locked it) and write its participation terms."""
    await session.flush()
    fresh = await session.get(Event, event.id, populate_existing=True)
    status = await session.get(Status, event.status_id, populate_existing=True)
    if fresh is not None and status is not None:
        status.extra_json = merge_participation_terms(status.extra_json, fresh)


async def take_place(session: AsyncSession, event: Event) -> bool:
    """Count one more accepted participant if a place remains (False when the event is full)."""
    result = await session.execute(
        update(Event).where(Event.id == event.id, or_(Event.capacity.is_(None),
                                                      Event.participant_count < Event.capacity))
        .values(participant_count=Event.participant_count + 1).execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    await _refresh_terms(session, event)
    return True


async def free_place(session: AsyncSession, event: Event) -> None:
    await session.execute(
        update(Event).where(Event.id == event.id, Event.participant_count > 0)
        .values(participant_count=Event.participant_count - 1).execution_options(synchronize_session=False))
    await _refresh_terms(session, event)


async def _received_join(session: AsyncSession, join_uri: str) -> dict[str, Any] | None:
    """The Join as the participant's server sent it (kept in the inbox queue), if still there."""
    body = await session.scalar(select(IncomingActivity.body).where(IncomingActivity.activity_uri == join_uri))
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


# -- commands ---------------------------------------------------------------------------------------

class ParticipationCommands(CommandBase):
    """Joining, leaving, and the organiser's answers; one transaction each (`*_in` take the caller's)."""

    async def join(self, actor_id: int, event_id: int, *, message: str | None = None) -> Participation:
        async with self._transaction() as session:
            actor = await self._actor(session, actor_id, local=True)
            event, status = await load_event(session, event_id)
            return await self.join_in(session, actor, event, status, message=message)

    async def join_in(self, session: AsyncSession, actor: Actor, event: Event, status: Status, *,
                      message: str | None = None, join_uri: str | None = None) -> Participation:
        """Join as `actor` (local, or a remote RSVP replier whose reply id is `join_uri`); joining again
        returns the participation as it is."""
        existing = await participation_of(session, event.id, actor.id)
        if existing is not None:
            if existing.state == "rejected":
                raise CommandError("the organiser declined your participation in this event")
            return existing
        if is_organiser(event, actor.id):
            raise CommandError("you organise this event")
        reason = refusal(event)
        if reason:
            raise CommandError(reason)
        text = participation_message(message)
        if not event.local:
            if actor.domain is not None:
                raise CommandError("only local accounts join remote events from here")
            return await self._join_remote(session, actor, event, status, text)
        if join_uri is None:
            join_uri = self._activity_uri(actor)[1]
        if await session.scalar(select(Participation.id).where(Participation.join_uri == join_uri)):
            raise CommandError("this Join is already used for another participation")
        if is_full(event) or (event.join_mode == "free" and not await take_place(session, event)):
            raise CommandError("this event is full")
        participation = Participation(event_id=event.id, actor_id=actor.id, join_uri=join_uri, message=text,
                                      state="accepted" if event.join_mode == "free" else "pending")
        session.add(participation)
        await session.flush()
        if participation.state == "pending":
            await self._tell_organisers(session, event, status, actor)
        return participation

    async def _join_remote(self, session: AsyncSession, actor: Actor, event: Event, status: Status,
                           message: str | None) -> Participation:
        activity_id, join_uri = self._activity_uri(actor)
        participation = Participation(event_id=event.id, actor_id=actor.id, join_uri=join_uri, message=message)
        session.add(participation)
        await session.flush()
        recipients = await self._organisers(session, event)
        body = join_activity(join_uri, actor.uri, status.uri, message, [r.uri for r in recipients])
        await self._emit(session, actor, body, inboxes_of(recipients), object_uri=status.uri, activity_id=activity_id)
        return participation

    async def leave(self, actor_id: int, event_id: int) -> bool:
        async with self._transaction() as session:
            actor = await self._actor(session, actor_id, local=True)
            event, status = await load_event(session, event_id)
            return await self.leave_in(session, actor, event, status)

    async def leave_in(self, session: AsyncSession, actor: Actor, event: Event, status: Status) -> bool:
        """Stop taking part (False when `actor` was not); a local participant of a remote event sends Leave."""
        participation = await participation_of(session, event.id, actor.id)
        if participation is None:
            return False
        await self._drop(session, event, participation)
        if not event.local and actor.domain is None:
            recipients = await self._organisers(session, event)
            body = leave_activity(self._activity_uri(actor)[1], actor.uri, status.uri, [r.uri for r in recipients])
            await self._emit(session, actor, body, inboxes_of(recipients), object_uri=status.uri)
        return True

    async def decide(self, manager_id: int, event_id: int, participant_id: int, *, accept: bool,
                     user_id: int | None = None) -> Participation:
        """The organiser (or their team: `user_id` is the login acting) authorizes or rejects someone.
        A remote participant who sent a Join gets our Accept/Reject with that Join inside."""
        async with self._transaction() as session:
            event, status = await load_event(session, event_id)
            if not await may_manage(session, event, manager_id, user_id):
                raise NotOrganiser("only the organiser of this event can decide on its participants")
            if not event.local:
                raise CommandError("the organiser's own server decides on this event's participants")
            participation = await participation_of(session, event.id, participant_id)
            if participation is None:
                raise NotFound("no such participant")
            wanted = "accepted" if accept else "rejected"
            if participation.state == wanted:
                return participation
            if accept and not await take_place(session, event):
                raise CommandError("this event is full")
            if not accept and participation.state == "accepted":
                await free_place(session, event)
            participation.state = wanted
            participant = await self._actor(session, participation.actor_id)
            if participant.domain is not None and not await self._is_rsvp_reply(session, participation):
                await self._answer(session, event, status, participant, participation, accept, None)
            return participation

    # -- the organiser's side of remote participants --------------------------------------------------

    async def answer_remote_join(self, participant_id: int, event_id: int, *, join_uri: str,
                                 message: str | None, received: dict[str, Any] | None) -> str:
        """A remote `Join` of one of our events: stored and answered as Mobilizon would. Returns the
        participation's state ("accepted", "pending" or "rejected"; a refusal stores nothing)."""
        async with self._transaction() as session:
            participant = await self._actor(session, participant_id)
            event, status = await load_event(session, event_id)
            if not event.local:
                raise CommandError("Join of an event that is not ours")
            text = participation_message(message)
            taken = await session.scalar(select(Participation).where(Participation.join_uri == join_uri))
            existing = await participation_of(session, event.id, participant.id)
            if taken is not None and taken is not existing:
                raise CommandError("this Join id is already used for another participation")
            if existing is not None:  # a repeated Join: answer it again, under its new id
                existing.join_uri = join_uri
                if existing.state != "pending":
                    await self._answer(session, event, status, participant, existing,
                                       existing.state == "accepted", received)
                return existing.state
            new = Participation(event_id=event.id, actor_id=participant.id, join_uri=join_uri, message=text)
            if refusal(event) or is_organiser(event, participant.id) or is_full(event) or (
                    event.join_mode == "free" and not await take_place(session, event)):
                await self._answer(session, event, status, participant, new, False, received)
                return "rejected"
            new.state = "accepted" if event.join_mode == "free" else "pending"
            session.add(new)
            await session.flush()
            if new.state == "accepted":
                await self._answer(session, event, status, participant, new, True, received)
            else:
                await self._tell_organisers(session, event, status, participant)
            return new.state

    async def remote_leave(self, participant_id: int, event_id: int) -> bool:
        """A remote participant's `Leave` of one of our events (False when they were not taking part)."""
        async with self._transaction() as session:
            event, _ = await load_event(session, event_id)
            participation = await participation_of(session, event.id, participant_id)
            if not event.local or participation is None:
                return False
            await self._drop(session, event, participation)
            return True

    # -- the participant's side: answers to our Joins -------------------------------------------------

    async def record_answer(self, sender_id: int, *, join_uri: str | None, actor_uri: str | None,
                            event_uri: str | None, accepted: bool) -> bool:
        """An `Accept`/`Reject` of a Join we sent, found by the Join's id or by (our actor, the event).
        False when it is about no participation of ours (it may answer a Follow)."""
        async with self._transaction() as session:
            participation = None
            if join_uri and self.uris.is_local(join_uri):
                participation = await session.scalar(select(Participation).where(Participation.join_uri == join_uri))
            if participation is None and actor_uri and event_uri and self.uris.is_local(actor_uri):
                actor = await session.scalar(select(Actor).where(Actor.uri == actor_uri, Actor.domain.is_(None)))
                named = await event_named(session, event_uri)
                if actor is not None and named is not None:
                    participation = await participation_of(session, named[0].id, actor.id)
            if participation is None:
                return False
            event = await session.get(Event, participation.event_id)
            status = await session.get(Status, event.status_id) if event is not None else None
            sender = await self._actor(session, sender_id)
            if event is None or status is None or event.local:
                raise CommandError("only the server of a remote event answers Joins of it")
            if sender.id not in (event.actor_id, event.attributed_to_id) and host_of(sender.uri) != host_of(status.uri):
                raise CommandError("only the event's organiser or its server can answer this Join")
            participation.state = "accepted" if accepted else "rejected"
            return True

    # -- helpers --------------------------------------------------------------------------------------

    async def _drop(self, session: AsyncSession, event: Event, participation: Participation) -> None:
        was_accepted = participation.state == "accepted"
        await session.delete(participation)
        await session.flush()
        if was_accepted and event.local:
            await free_place(session, event)

    async def _organisers(self, session: AsyncSession, event: Event) -> list[Actor]:
        ids = [i for i in dict.fromkeys((event.actor_id, event.attributed_to_id)) if i is not None]
        return list((await session.scalars(select(Actor).where(Actor.id.in_(ids)))).all())

    async def _tell_organisers(self, session: AsyncSession, event: Event, status: Status, participant: Actor) -> None:
        """A request to authorize shows as a `mention` notification (the event, from the participant):
        a type every Mastodon app displays, unlike a custom one."""
        for organiser in await self._organisers(session, event):
            await notify(session, organiser, "mention", participant.id, status.id)

    async def _is_rsvp_reply(self, session: AsyncSession, participation: Participation) -> bool:
        """A participation that came from a reply (its join id is the reply's id): nothing to answer."""
        return await session.scalar(select(Status.id).where(Status.uri == participation.join_uri)) is not None

    async def _answer(self, session: AsyncSession, event: Event, status: Status, participant: Actor,
                      participation: Participation, accept: bool, received: dict[str, Any] | None) -> None:
        """Accept or Reject with the whole Join inside, from the organiser, to the participant's inbox."""
        organiser = await self._actor(session, event.actor_id, local=True)
        attributed = await session.get(Actor, event.attributed_to_id) if event.attributed_to_id else None
        if received is None:
            received = await _received_join(session, participation.join_uri)
        join = embeddable_join(received, participation.join_uri, participant.uri, status.uri, participation.message)
        _, answer_uri = self._activity_uri(organiser)
        body = answer_activity("Accept" if accept else "Reject", answer_uri, organiser.uri, join, participant.uri,
                               attributed_to=attributed.uri if attributed is not None else None)
        await self._emit(session, organiser, body, inboxes_of([participant]), object_uri=participation.join_uri)
