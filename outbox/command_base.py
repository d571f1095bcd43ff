"""What every outbox command shares: one transaction that wakes the delivery worker after commit,
row lookups that refuse missing accounts and statuses, and storing an outgoing activity with its
deliveries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.ids import new_id
from fediverse.models import Actor, OutgoingActivity, Status
from fediverse.runtime import Runtime
from outbox.delivery import enqueue_deliveries
from outbox.errors import CommandError, NotFound
from outbox.serializers import undo_activity


class CommandBase:
    """The state and helpers of `Outbox`; each group of commands is a subclass mixed into it."""

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

    async def _emit_undo(self, session: AsyncSession, actor: Actor, undone: dict[str, Any],
                         inboxes: Iterable[str]) -> None:
        """Federate the Undo of one of the actor's earlier activities (`undone` as it was sent)."""
        _, undo_uri = self._activity_uri(actor)
        await self._emit(session, actor, undo_activity(undo_uri, actor.uri, undone), inboxes)

    def _activity_uri(self, actor: Actor) -> tuple[int, str]:
        activity_id = new_id()
        return activity_id, self.uris.activity(actor.username, activity_id)
