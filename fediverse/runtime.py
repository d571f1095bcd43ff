"""Everything one running instance owns, built once by the app lifespan and passed explicitly.

There are no module globals: tests run two or three instances in one process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fediverse.config import Settings
from fediverse.events import EventBus, take_events
from fediverse.uris import Uris

if TYPE_CHECKING:
    from fediverse.http import HttpClient


@dataclass(frozen=True)
class Signer:
    """Key used to sign a request on behalf of a local actor."""

    key_id: str
    private_key_pem: str

    def as_tuple(self) -> tuple[str, str]:
        return (self.key_id, self.private_key_pem)


@dataclass(frozen=True)
class CachedKey:
    actor_id: int
    actor_uri: str
    public_key_pem: str


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    uris: Uris
    http: HttpClient | None = None
    instance_signer: Signer | None = None
    # Workers wait on these between polls; a command that queues work sets them.
    wakeups: dict[str, asyncio.Event] = field(default_factory=dict)
    # key id -> verified public key of a remote actor (inbox hot path: no database read per POST).
    key_cache: dict[str, CachedKey] = field(default_factory=dict)
    events: EventBus = field(default_factory=EventBus)
    # username -> (local actor id, monotonic time found): personal inbox POSTs skip a DB read.
    inbox_ids: dict[str, tuple[int, float]] = field(default_factory=dict)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction; the domain events it queued are published after commit."""
        async with self.sessions() as session:
            async with session.begin():
                yield session
            for event in take_events(session):
                self.events.publish(event)

    def wake(self, queue: str) -> None:
        event = self.wakeups.get(queue)
        if event is not None:
            event.set()

    def wakeup_event(self, queue: str) -> asyncio.Event:
        return self.wakeups.setdefault(queue, asyncio.Event())
