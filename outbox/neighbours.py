"""What our instance actor sends to neighbour instances and relays (territory issue).

Consent: `NeighbourCommands` sends the instance actor's `Follow` of a neighbour's instance actor,
and answers theirs (`Accept`/`Reject`), or withdraws (`Undo(Follow)`). Content: every new public
local post (not a reply to someone else, not a boost, not a direct or followers-only message) is
shared by the instance actor with `Announce {object: <the Note, embedded>}` to every neighbour and
relay whose Follow of us we accepted; edits and deletions of those posts reach the same inboxes
(`neighbour_inboxes_for`), sent by the author as usual. Rows and deliveries are written in one
transaction, like every outbox command; the delivery worker (in the server) sends them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.neighbours import (
    NeighbourError,
    delete_neighbour,
    discover_instance_actor,
    neighbour_named,
    refresh_communes,
    subscribers,
    target_of,
    upsert_neighbour,
)
from actors.remote import ActorResolver
from fediverse.ids import new_id
from fediverse.models import Actor, Neighbour, Status
from fediverse.uris import PUBLIC
from outbox.command_base import CommandBase
from outbox.serializers import undo_activity, wrap


def is_shared_with_neighbours(status: Status) -> bool:
    """Public local posts of the territory, not replies to someone else, not boosts."""
    return (status.local and status.visibility == "public" and status.reblog_of_id is None
            and (status.in_reply_to_uri is None or status.in_reply_to_actor_id == status.actor_id))


async def share_with_neighbours(cmd: CommandBase, session: AsyncSession, author: Actor, status: Status,
                                note: dict[str, Any]) -> None:
    """Queue the instance actor's Announce of a new post to neighbours and relays (same transaction)."""
    if not is_shared_with_neighbours(status):
        return
    targets = await subscribers(session)
    if not targets:
        return
    instance = await _instance_actor(cmd, session)
    activity_id = new_id()
    body = wrap("Announce", _activity_uri(instance, activity_id), instance.uri, note,
                to=[actor.uri for _, actor in targets], cc=[PUBLIC], published=note.get("published"))
    await cmd._emit(session, instance, body, [actor.inbox_for_delivery for _, actor in targets],
                    object_uri=status.uri, activity_id=activity_id)


async def neighbour_inboxes_for(session: AsyncSession, status: Status) -> list[str]:
    """Inboxes that got the post through the neighbour Announce, so its Update/Delete reaches them."""
    if not is_shared_with_neighbours(status):
        return []
    return [actor.inbox_for_delivery for _, actor in await subscribers(session)]


def _activity_uri(instance: Actor, activity_id: int) -> str:
    return f"{instance.uri}/activities/{activity_id}"


async def _instance_actor(cmd: CommandBase, session: AsyncSession) -> Actor:
    actor = await session.scalar(select(Actor).where(Actor.uri == cmd.uris.instance_actor()))
    if actor is None:
        raise NeighbourError("the instance actor does not exist yet (start the server once)")
    return actor


@dataclass(frozen=True)
class NeighbourChange:
    """What a command did, for the CLI to report."""

    domain: str
    kind: str
    outgoing_state: str
    incoming_state: str
    sent: tuple[str, ...]
    communes: int | None = None


class NeighbourCommands(CommandBase):
    """Consent between instance actors; usable on its own (`NeighbourCommands(runtime)`) from the
    CLI and from inbox handlers."""

    async def request_neighbour(self, address: str) -> NeighbourChange:
        """`neighbours add`: follow their instance actor (and accept theirs if they asked first)."""
        settings = self.runtime.settings
        start_url, host = target_of(address, insecure_http=settings.insecure_http, own_domain=settings.domain)
        resolver = ActorResolver(self.runtime)
        their = await discover_instance_actor(resolver, start_url, host)
        async with self._transaction() as session:
            instance = await _instance_actor(self, session)
            row = await upsert_neighbour(session, their, "instance")
            sent: list[str] = []
            if row.outgoing_state in ("none", "rejected"):
                await self._send_follow(session, instance, their, row)
                sent.append("Follow")
            if row.incoming_state == "pending":
                await self._answer(session, instance, their, row, accept=True)
                sent.append("Accept")
            change = _change(row, sent)
        communes = await refresh_communes(resolver, host)
        return NeighbourChange(**{**change.__dict__, "communes": communes})

    async def accept_neighbour(self, domain: str) -> NeighbourChange:
        """`neighbours accept`: accept their Follow; for an instance, follow back so it is mutual."""
        async with self._transaction() as session:
            instance = await _instance_actor(self, session)
            row = await neighbour_named(session, domain)
            their = await self._actor(session, row.actor_id)
            sent: list[str] = []
            if row.incoming_state != "accepted":
                if row.incoming_state != "pending" or not row.incoming_follow_uri:
                    raise NeighbourError(f"{row.domain} has not asked to be our neighbour")
                await self._answer(session, instance, their, row, accept=True)
                sent.append("Accept")
            if row.kind == "instance" and row.outgoing_state in ("none", "rejected"):
                await self._send_follow(session, instance, their, row)
                sent.append("Follow")
            change = _change(row, sent)
        communes = await refresh_communes(ActorResolver(self.runtime), change.domain)
        return NeighbourChange(**{**change.__dict__, "communes": communes})

    async def reject_neighbour(self, domain: str) -> NeighbourChange:
        """`neighbours reject`: refuse (or end) their Follow; our own Follow of them is left as it is."""
        async with self._transaction() as session:
            instance = await _instance_actor(self, session)
            row = await neighbour_named(session, domain)
            if row.incoming_state not in ("pending", "accepted") or not row.incoming_follow_uri:
                raise NeighbourError(f"{row.domain} has no request to reject")
            their = await self._actor(session, row.actor_id)
            await self._answer(session, instance, their, row, accept=False)
            return _change(row, ["Reject"])

    async def remove_neighbour(self, domain: str) -> NeighbourChange:
        """`neighbours remove`: Undo our Follow, Reject theirs, forget the neighbour and its communes."""
        async with self._transaction() as session:
            instance = await _instance_actor(self, session)
            row = await neighbour_named(session, domain)
            their = await self._actor(session, row.actor_id)
            sent: list[str] = []
            if row.outgoing_state in ("requested", "accepted") and row.outgoing_follow_uri:
                follow = wrap("Follow", row.outgoing_follow_uri, instance.uri, their.uri)
                await self._emit(session, instance, undo_activity(self._instance_activity_uri(instance), instance.uri,
                                                                  follow), [their.inbox_url])
                sent.append("Undo(Follow)")
            if row.incoming_state in ("pending", "accepted") and row.incoming_follow_uri:
                await self._answer(session, instance, their, row, accept=False)
                sent.append("Reject")
            await delete_neighbour(session, row)
            return NeighbourChange(row.domain, row.kind, "none", "none", tuple(sent))

    async def answer_incoming_follow(self, sender: Actor, follow_uri: str, *, relay: bool) -> bool:
        """A Follow of our instance actor (or of Public, from a relay) arrived: store the request.

        Accepted at once only when that is already our consent: we asked them first (our Follow is
        requested or accepted), or we accepted them before (a repeated Follow). Otherwise it waits
        for `fediverse neighbours accept`. Returns whether the relation is now accepted both ways.
        """
        async with self._transaction() as session:
            instance = await _instance_actor(self, session)
            row = await upsert_neighbour(session, sender, "relay" if relay else "instance")
            row.incoming_follow_uri = follow_uri
            if row.incoming_state == "accepted" or not relay and row.outgoing_state in ("requested", "accepted"):
                await self._answer(session, instance, sender, row, accept=True)
            else:
                row.incoming_state = "pending"
            return row.incoming_state == "accepted" and row.outgoing_state == "accepted"

    # ---- activities ------------------------------------------------------------------------

    def _instance_activity_uri(self, instance: Actor) -> str:
        return _activity_uri(instance, new_id())

    async def _send_follow(self, session: AsyncSession, instance: Actor, their: Actor, row: Neighbour) -> None:
        activity_id = new_id()
        uri = _activity_uri(instance, activity_id)
        body = wrap("Follow", uri, instance.uri, their.uri, to=[their.uri])
        await self._emit(session, instance, body, [their.inbox_url], object_uri=their.uri, activity_id=activity_id)
        row.outgoing_state, row.outgoing_follow_uri = "requested", uri

    async def _answer(self, session: AsyncSession, instance: Actor, their: Actor, row: Neighbour, *,
                      accept: bool) -> None:
        """Accept or Reject their Follow (embedded as they sent it: of us, or of Public for a relay)."""
        follow = wrap("Follow", row.incoming_follow_uri or "", their.uri,
                      PUBLIC if row.kind == "relay" else instance.uri)
        body = wrap("Accept" if accept else "Reject", self._instance_activity_uri(instance), instance.uri, follow,
                    to=[their.uri])
        await self._emit(session, instance, body, [their.inbox_url])
        row.incoming_state = "accepted" if accept else "rejected"


def _change(row: Neighbour, sent: list[str]) -> NeighbourChange:
    return NeighbourChange(row.domain, row.kind, row.outgoing_state, row.incoming_state, tuple(sent))
