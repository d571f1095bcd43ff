"""Mastodon's pagination over a query, with keyword filters topping up a page and time probes
that keep a query over many authors on recent ids."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.ids import id_floor

# Queries per page at most (filters topping up a page, and widening time probes).
MAX_QUERIES = 10
# Time probes: status ids carry milliseconds in their high bits; first look at one day, then 8, 64...
PROBE_FIRST_SPAN = (24 * 3600 * 1000) << 16
PROBE_GROWTH = 8


class Window(Protocol):
    """Mastodon's pagination parameters (fediverse.api.pagination.Page satisfies it)."""

    @property
    def max_id(self) -> int | None: ...
    @property
    def since_id(self) -> int | None: ...
    @property
    def min_id(self) -> int | None: ...
    @property
    def limit(self) -> int: ...


async def paginate(session: AsyncSession, query: Select[Any], column: Any, window: Window, key: Callable[[Any], int],
                   keep: Callable[[list[Any]], Awaitable[list[Any]]] | None = None, *,
                   time_probe: bool = False) -> list[Any]:
    """Rows of `query` inside the window, newest first; min_id reads the rows right after it.

    `keep` drops rows in Python (filters); the page is then topped up from the following rows.
    `time_probe` (for time-ordered status ids) first looks at a short span of ids next to the
    cursor and widens it eightfold while the page is not full, so a query over many authors
    sorts the recent statuses of those authors instead of all they ever wrote.
    """
    ascending = window.min_id is not None
    lower = window.min_id if ascending else window.since_id
    upper = window.max_id
    span = PROBE_FIRST_SPAN if time_probe else None
    result: list[Any] = []
    for _ in range(MAX_QUERIES):
        stmt = query
        edge: int | None = None
        if span is not None:  # the far end of the probed span (None once it reaches the other bound)
            anchor = (lower or 0) if ascending else (upper or id_floor(time.time() + 3600))
            edge = anchor + span if ascending else anchor - span
            if (ascending and upper is not None and edge >= upper) or (
                    not ascending and (edge <= (lower or 0))):
                edge = None
        if upper is not None:
            stmt = stmt.where(column < upper)
        if lower is not None:
            stmt = stmt.where(column > lower)
        if edge is not None:
            stmt = stmt.where(column < edge if ascending else column >= edge)
        wanted = window.limit - len(result) if keep is None else window.limit
        stmt = stmt.order_by(column.asc() if ascending else column.desc()).limit(wanted)
        rows = list(await session.scalars(stmt))
        result.extend(await keep(rows) if keep else rows)
        if len(result) >= window.limit:
            break
        if len(rows) == wanted:  # rows were dropped: continue right after the last one
            if ascending:
                lower = key(rows[-1])
            else:
                upper = key(rows[-1])
        elif edge is None:  # the whole range was read
            break
        else:  # the span is exhausted: read the next, wider one
            if ascending:
                lower = edge - 1
            else:
                upper = edge
            span = (span or 0) * PROBE_GROWTH
    result = result[:window.limit]
    return list(reversed(result)) if ascending else result
