"""In-process publish/subscribe of domain events (new status, deletion, notification...).

Domain code queues events on the database session while it works; they are published only
after the transaction commits, so a subscriber (the streaming API) never sees a rolled-back row.
Across several processes, the production issue relays them through PostgreSQL LISTEN/NOTIFY.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)
SUBSCRIBER_QUEUE_SIZE = 1000


@dataclass(frozen=True)
class Event:
    """`kind` is one of: status.created, status.updated, status.deleted, notification.created."""

    kind: str
    payload: dict[str, Any] = field(default_factory=dict)


class EventBus:
    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[Event]] = set()

    def subscribe(self) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=SUBSCRIBER_QUEUE_SIZE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self._subscribers.discard(queue)

    def publish(self, event: Event) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a stalled client loses events rather than stalling us
                log.warning("event subscriber queue full, dropping %s", event.kind)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)


def queue_event(session: AsyncSession, kind: str, **payload: Any) -> None:
    session.info.setdefault("events", []).append(Event(kind, payload))


def take_events(session: AsyncSession) -> list[Event]:
    return session.info.pop("events", [])
