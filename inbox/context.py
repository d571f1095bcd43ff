"""What an inbox handler gets: the instance, the verified sender, and a way to open a transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from actors.remote import ActorResolver
from fediverse.models import Actor
from fediverse.runtime import Runtime
from fediverse.uris import host_of
from outbox.commands import Outbox


class ActivityRejected(Exception):
    """The activity breaks an origin or consistency rule: recorded as rejected, never retried."""


class ActivityIgnored(Exception):
    """Nothing to do (not addressed to anyone here, already known, unsupported object type)."""


@dataclass
class InboxContext:
    runtime: Runtime
    resolver: ActorResolver
    outbox: Outbox
    sender: Actor
    activity_uri: str
    inbox_actor_id: int | None

    @property
    def sender_host(self) -> str:
        return host_of(self.sender.uri)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.runtime.transaction() as session:
            yield session

    def require_same_host(self, uri: str | None, what: str) -> str:
        """Origin rule: what the sender speaks for must live on the sender's host (and not on ours)."""
        if not uri:
            raise ActivityRejected(f"{what} is missing")
        if self.runtime.uris.is_local(uri):
            raise ActivityRejected(f"{what} {uri} claims this server")
        if host_of(uri) != self.sender_host:
            raise ActivityRejected(f"{what} {uri} is not on the sender's host {self.sender_host}")
        return uri
