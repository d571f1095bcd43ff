"""Federation health per remote host, stored in the `hosts` table.

A host that keeps failing is marked `unavailable` so the delivery worker stops spending requests
(and lease time) on it, probing it at most once an hour instead. Like Mastodon's delivery failure
tracker, one success or one incoming request from the host proves it is back; then every delivery
waiting for it becomes due at once.

All writes are plain INSERT ... ON CONFLICT DO NOTHING (to create the row) followed by UPDATEs, so
they run unchanged on SQLite and PostgreSQL and never race on row creation. None of these
functions commit: they join the caller's transaction. Callers that get `True` from a recovering
function must call `runtime.wake("delivery")` after committing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.db import insert_ignoring_conflicts, utcnow
from fediverse.models.queues import Delivery, Host

__all__ = [
    "UNAVAILABLE_MIN_FAILURES",
    "UNAVAILABLE_MIN_SPAN_SECONDS",
    "make_host_deliveries_due",
    "record_delivery_failure",
    "record_delivery_success",
    "record_delivery_successes",
    "record_host_seen",
    "unavailable_hosts",
    "unavailable_last_failures",
]

UNAVAILABLE_MIN_FAILURES = 5
"""Consecutive failed attempts (each failed delivery attempt counts once) before a host can be
marked unavailable."""

UNAVAILABLE_MIN_SPAN_SECONDS = 3600.0
"""...and those failures must span at least this long (first to latest failure), so a short
outage or one burst of failures inside a big fan-out never marks a host unavailable."""

MAX_HOST_LENGTH = 255  # Host.domain / Delivery.host column size


def _clean(hosts: Iterable[str]) -> list[str]:
    return sorted({h.strip().lower() for h in hosts if h and h.strip() and len(h.strip()) <= MAX_HOST_LENGTH})


async def _ensure_rows(session: AsyncSession, hosts: list[str]) -> None:
    """Create missing host rows; a concurrent creator is not an error (portable upsert, part 1)."""
    if not hosts:
        return
    rows = [{"domain": h, "failure_count": 0, "unavailable": False} for h in hosts]
    await session.execute(insert_ignoring_conflicts(session, Host, rows, "domain"))


async def make_host_deliveries_due(session: AsyncSession, host: str, now: datetime | None = None) -> int:
    """Every pending delivery to `host` becomes due now (it was parked while the host was down)."""
    now = now or utcnow()
    result = await session.execute(
        update(Delivery)
        .where(Delivery.host == host, Delivery.state == "pending", Delivery.next_attempt_at > now)
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def _recover(session: AsyncSession, hosts: list[str], now: datetime, **values: object) -> set[str]:
    """Reset the failure streak of `hosts`; return those that were unavailable (now recovered)."""
    if not hosts:
        return set()
    await _ensure_rows(session, hosts)
    query = select(Host.domain).where(Host.domain.in_(hosts), Host.unavailable.is_(True))
    recovered = set((await session.execute(query)).scalars())
    await session.execute(
        update(Host)
        .where(Host.domain.in_(hosts))
        .values(failure_count=0, first_failure_at=None, unavailable=False, **values)
        .execution_options(synchronize_session=False)
    )
    for host in sorted(recovered):
        await make_host_deliveries_due(session, host, now)
    return recovered


async def record_delivery_successes(
    session: AsyncSession, hosts: Iterable[str], *, now: datetime | None = None
) -> set[str]:
    """A delivery to each host succeeded (or got a definitive 4xx answer: the host is up).

    Returns the hosts that were unavailable and are now recovered; their pending deliveries have
    been made due, so the caller should wake the delivery worker after committing.
    """
    now = now or utcnow()
    return await _recover(session, _clean(hosts), now, last_success_at=now)


async def record_delivery_success(session: AsyncSession, host: str, *, now: datetime | None = None) -> bool:
    """Single-host form of `record_delivery_successes`; True when the host was recovered."""
    return bool(await record_delivery_successes(session, [host], now=now))


async def record_host_seen(session: AsyncSession, host: str, *, now: datetime | None = None) -> bool:
    """An authenticated request arrived from `host`: it is alive, whatever our deliveries saw.

    Updates last_seen_at and clears the failure streak. Returns True when the host was unavailable:
    its pending deliveries are now due and the caller must `runtime.wake("delivery")` after commit.
    """
    now = now or utcnow()
    return bool(await _recover(session, _clean([host]), now, last_seen_at=now))


async def record_delivery_failure(
    session: AsyncSession, host: str, *, count: int = 1, now: datetime | None = None
) -> bool:
    """Count `count` failed delivery attempts to `host`; True when this marks it unavailable.

    The host becomes unavailable once its streak reaches UNAVAILABLE_MIN_FAILURES failures and
    spans UNAVAILABLE_MIN_SPAN_SECONDS (first_failure_at is kept from the start of the streak).
    """
    hosts = _clean([host])
    if not hosts or count <= 0:
        return False
    now = now or utcnow()
    host = hosts[0]
    await _ensure_rows(session, hosts)
    first_failure = (
        await session.execute(select(Host.first_failure_at).where(Host.domain == host))
    ).scalar_one_or_none()
    await session.execute(
        update(Host)
        .where(Host.domain == host)
        .values(
            failure_count=Host.failure_count + count,
            first_failure_at=first_failure or now,
            last_failure_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    marked = await session.execute(
        update(Host)
        .where(
            Host.domain == host,
            Host.unavailable.is_(False),
            Host.failure_count >= UNAVAILABLE_MIN_FAILURES,
            Host.first_failure_at <= now - timedelta(seconds=UNAVAILABLE_MIN_SPAN_SECONDS),
        )
        .values(unavailable=True)
        .execution_options(synchronize_session=False)
    )
    return bool(marked.rowcount)


async def unavailable_hosts(session: AsyncSession) -> set[str]:
    """Domains currently marked unavailable."""
    return set((await session.execute(select(Host.domain).where(Host.unavailable.is_(True)))).scalars())


async def unavailable_last_failures(
    session: AsyncSession, hosts: Collection[str]
) -> dict[str, datetime | None]:
    """For those of `hosts` that are unavailable: when a delivery to them last failed.

    The delivery worker uses it to probe each unavailable host at most once per interval.
    """
    wanted = _clean(hosts)
    if not wanted:
        return {}
    query = select(Host.domain, Host.last_failure_at).where(
        and_(Host.domain.in_(wanted), Host.unavailable.is_(True))
    )
    rows = await session.execute(query)
    return {domain: last for domain, last in rows.all()}
