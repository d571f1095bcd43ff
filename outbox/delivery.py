"""Durable, signed fan-out of outgoing activities to remote inboxes.

Publishing stores the activity and one `Delivery` row per distinct remote inbox in the same
transaction, so an activity is never stored without its deliveries (or vice versa). A worker then
claims due rows in batches (`fediverse.worker.claim_due`), POSTs them concurrently under a global
and a per-host limit, and writes every outcome of the batch in one short transaction.

Retries follow `fediverse.backoff` (Mastodon's ~2-day schedule). Hosts that keep failing are marked
unavailable by `fediverse.hosts`; their deliveries are parked and only one probe per host is sent
per UNAVAILABLE_PROBE_INTERVAL_SECONDS, until a probe succeeds or the host talks to us, which
makes everything parked for it due again.

Crash safety comes from the lease: a claimed row whose worker died becomes claimable again when
LEASE_SECONDS pass, so delivery is at-least-once (receivers dedupe on the activity id). The batch
size and the rows taken per host are bounded so that a batch always finishes within its lease even
when every request runs into the HTTP timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import SplitResult, urlsplit

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.backoff import JITTER_MAX, retry_delay, schedule_total
from fediverse.db import UTCDateTime, insert_ignoring_conflicts, utcnow
from fediverse.hosts import (
    MAX_HOST_LENGTH,
    record_delivery_failure,
    record_delivery_successes,
    unavailable_last_failures,
)
from fediverse.http import FetchError
from fediverse.ids import new_id
from fediverse.models.actor import Actor
from fediverse.models.queues import Delivery, OutgoingActivity
from fediverse.runtime import Runtime
from fediverse.uris import host_of
from fediverse.worker import claim_due, run_loop

__all__ = [
    "CLAIM_BATCH",
    "LEASE_SECONDS",
    "UNAVAILABLE_PROBE_INTERVAL_SECONDS",
    "deliver_due_once",
    "enqueue_deliveries",
    "run_delivery_worker",
]

log = logging.getLogger(__name__)

CLAIM_BATCH = 200
"""Most rows one step claims (fewer when the concurrency is low, see `_batch_limits`)."""

LEASE_SECONDS = 120.0
"""How long a claimed row is ours; after a crash it is delivered again once this has passed."""

UNAVAILABLE_PROBE_INTERVAL_SECONDS = 3600.0
"""An unavailable host gets at most one delivery attempt (the probe) per this interval."""

MAX_URL_LENGTH = 2048  # Delivery.inbox_url column size
MAX_ERROR_LENGTH = 1000
_ENQUEUE_CHUNK = 500  # rows per INSERT: stays far below SQLite/asyncpg bind-parameter limits
_DEFAULT_PORTS = {"http": 80, "https": 443}
_GAVE_UP = "host unavailable for the whole retry window"


# ------------------------------------------------------------------------------------- enqueue


def _own_domain(parts: SplitResult, host: str, local_domain: str) -> bool:
    """Whether an inbox is ours, also when it spells our default port out."""
    if host == local_domain:
        return True
    hostname = (parts.hostname or "").rstrip(".")
    try:
        port = parts.port
    except ValueError:
        return False
    if port is None or port == _DEFAULT_PORTS.get(parts.scheme.lower()):
        return hostname == local_domain
    return False


async def enqueue_deliveries(
    session: AsyncSession, activity: OutgoingActivity, inbox_urls: Iterable[str], local_domain: str
) -> int:
    """Queue one delivery of `activity` per distinct remote inbox; return how many were added.

    Empty, non-http(s), over-long and credential-carrying URLs are skipped, as are inboxes on
    `local_domain` (local recipients are handled in-process). Re-enqueueing is harmless: the
    (activity_id, inbox_url) unique index makes duplicates no-ops. Nothing is committed here, so
    the activity and its deliveries are stored together or not at all; after committing, the
    caller should `runtime.wake("delivery")`.
    """
    local = local_domain.strip().lower().rstrip(".")
    targets: dict[str, str] = {}
    for raw in inbox_urls:
        if not isinstance(raw, str):
            continue
        url = raw.strip()
        if not url or url in targets or len(url) > MAX_URL_LENGTH:
            continue
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        host = host_of(url)
        if parts.scheme.lower() not in _DEFAULT_PORTS or not host or "@" in host:
            continue
        if len(host) > MAX_HOST_LENGTH or _own_domain(parts, host, local):
            continue
        targets[url] = host
    if not targets:
        return 0
    await session.flush()  # the activity row must exist (and have its id) before the FK rows
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "activity_id": activity.id,
            "inbox_url": url,
            "host": host,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for url, host in targets.items()
    ]
    added = 0
    for start in range(0, len(rows), _ENQUEUE_CHUNK):
        stmt = insert_ignoring_conflicts(
            session, Delivery, rows[start : start + _ENQUEUE_CHUNK], "activity_id", "inbox_url"
        ).returning(Delivery.id)
        added += len((await session.execute(stmt)).scalars().all())
    return added


# ------------------------------------------------------------------------------------- worker


@dataclass(frozen=True)
class _Job:
    id: int
    activity_id: int
    inbox_url: str
    host: str
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class _Signer:
    key_id: str
    private_key_pem: str


@dataclass
class _Outcome:
    """What happened to one claimed row; `ok` delivered, `permanent` failed for good."""

    job: _Job
    ok: bool = False
    permanent: bool = False
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    host_answered: bool = False  # the remote server responded (even with a 4xx): it is up


def _batch_limits(runtime: Runtime) -> tuple[int, int]:
    """(rows to claim, rows per host) such that a batch ends within its lease, even if every
    request hangs until the HTTP timeout: each semaphore slot serves at most `rounds` requests."""
    settings = runtime.settings
    rounds = max(1, int(LEASE_SECONDS // (2 * max(settings.http_timeout_seconds, 0.001))))
    concurrency = max(1, settings.delivery_concurrency)
    per_host = max(1, settings.delivery_per_host)
    return max(1, min(CLAIM_BATCH, concurrency * rounds)), per_host * rounds


async def _load(
    session: AsyncSession, ids: list[int]
) -> tuple[list[_Job], dict[int, bytes], dict[int, _Signer | None]]:
    """The claimed rows plus, per activity, its body and its actor's signing key (loaded once)."""
    result = await session.execute(
        select(
            Delivery.id, Delivery.activity_id, Delivery.inbox_url, Delivery.host,
            Delivery.attempts, Delivery.created_at,
        )
        .where(Delivery.id.in_(ids), Delivery.state == "pending")
        .order_by(Delivery.next_attempt_at, Delivery.id)
    )
    jobs = [_Job(*row) for row in result.all()]
    activity_ids = {job.activity_id for job in jobs}
    bodies: dict[int, bytes] = {}
    actor_of: dict[int, int] = {}
    if activity_ids:
        rows = await session.execute(
            select(OutgoingActivity.id, OutgoingActivity.actor_id, OutgoingActivity.body).where(
                OutgoingActivity.id.in_(activity_ids)
            )
        )
        for activity_id, actor_id, body in rows.all():
            bodies[activity_id] = body.encode("utf-8")
            actor_of[activity_id] = actor_id
    keys: dict[int, _Signer | None] = {}
    if actor_of:
        rows = await session.execute(
            select(Actor.id, Actor.uri, Actor.public_key_id, Actor.private_key_pem).where(
                Actor.id.in_(set(actor_of.values()))
            )
        )
        for actor_id, uri, key_id, pem in rows.all():
            keys[actor_id] = _Signer(key_id or f"{uri}#main-key", pem) if pem else None
    signers = {activity_id: keys.get(actor_id) for activity_id, actor_id in actor_of.items()}
    return jobs, bodies, signers


async def _post(runtime: Runtime, job: _Job, body: bytes, signer: _Signer) -> _Outcome:
    """One signed POST; never raises (an unexpected error is logged and counts as temporary)."""
    assert runtime.http is not None
    try:
        status = await runtime.http.post_signed(
            job.inbox_url, body, key_id=signer.key_id, private_key_pem=signer.private_key_pem
        )
    except FetchError as exc:
        return _Outcome(
            job, permanent=exc.permanent, status=exc.status, error=exc.message,
            retry_after=exc.retry_after, host_answered=exc.status is not None,
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("delivery %s to %s crashed", job.id, job.inbox_url)
        return _Outcome(job, error=f"{type(exc).__name__}: {exc}")
    return _Outcome(job, ok=True, status=status, host_answered=True)


async def _send_all(
    runtime: Runtime, jobs: list[_Job], bodies: dict[int, bytes], signers: dict[int, _Signer | None]
) -> list[_Outcome]:
    """POST all jobs concurrently: at most delivery_concurrency in flight, delivery_per_host per host."""
    overall = asyncio.Semaphore(max(1, runtime.settings.delivery_concurrency))
    per_host: defaultdict[str, asyncio.Semaphore] = defaultdict(
        lambda: asyncio.Semaphore(max(1, runtime.settings.delivery_per_host))
    )

    async def one(job: _Job) -> _Outcome:
        body, signer = bodies.get(job.activity_id), signers.get(job.activity_id)
        if body is None:
            return _Outcome(job, permanent=True, error="activity no longer exists")
        if signer is None:
            return _Outcome(job, permanent=True, error="the activity's actor has no signing key")
        # Host slot first: waiting for a busy host must not hold one of the global slots.
        async with per_host[job.host], overall:
            return await _post(runtime, job, body, signer)

    return list(await asyncio.gather(*(one(job) for job in jobs)))


def _plan(
    runtime: Runtime, jobs: list[_Job], last_failures: dict[str, datetime | None], now: datetime
) -> tuple[list[_Job], dict[int, datetime], list[_Outcome]]:
    """Split claimed rows into (send now, postpone to a time, fail now without a request).

    Unavailable hosts get one probe per interval and the rest of their rows are parked; rows
    beyond the per-host share of this batch go back to the queue, due now, behind older rows.
    """
    settings = runtime.settings
    _, host_cap = _batch_limits(runtime)
    interval = timedelta(seconds=UNAVAILABLE_PROBE_INTERVAL_SECONDS)
    # Parked rows give up when the whole retry schedule has passed (about 2 days in production).
    window = max(
        schedule_total(settings.delivery_max_attempts, settings.delivery_retry_base_seconds) * JITTER_MAX,
        UNAVAILABLE_PROBE_INTERVAL_SECONDS,
    )
    send: list[_Job] = []
    postpone: dict[int, datetime] = {}
    fail: list[_Outcome] = []
    taken: Counter[str] = Counter()
    for job in jobs:
        if job.host in last_failures:
            last = last_failures[job.host]
            probe_due = last is None or last <= now - interval
            if probe_due and not taken[job.host]:
                taken[job.host] += 1
                send.append(job)
            elif now - job.created_at > timedelta(seconds=window):
                fail.append(_Outcome(job, permanent=True, error=_GAVE_UP))
            else:
                postpone[job.id] = now + interval if probe_due or last is None else last + interval
        elif taken[job.host] >= host_cap:
            postpone[job.id] = now
        else:
            taken[job.host] += 1
            send.append(job)
    return send, postpone, fail


_OUTCOME_UPDATE = (
    update(Delivery.__table__)
    .where(Delivery.__table__.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        attempts=bindparam("b_attempts"),
        next_attempt_at=bindparam("b_next", type_=UTCDateTime()),
        delivered_at=bindparam("b_delivered", type_=UTCDateTime()),
        last_status=bindparam("b_status"),
        last_error=bindparam("b_error"),
        leased_until=None,
    )
)
_POSTPONE_UPDATE = (
    update(Delivery.__table__)
    .where(Delivery.__table__.c.id == bindparam("b_id"))
    .values(next_attempt_at=bindparam("b_next", type_=UTCDateTime()), leased_until=None)
)


def _outcome_params(runtime: Runtime, outcome: _Outcome, now: datetime) -> dict[str, Any]:
    settings = runtime.settings
    job = outcome.job
    params: dict[str, Any] = {
        "b_id": job.id, "b_state": "pending", "b_attempts": job.attempts + 1, "b_next": now,
        "b_delivered": None, "b_status": outcome.status,
        "b_error": outcome.error[:MAX_ERROR_LENGTH] if outcome.error else None,
    }
    if outcome.ok:
        params.update(b_state="delivered", b_delivered=now)
    elif outcome.permanent or job.attempts + 1 >= settings.delivery_max_attempts:
        params["b_state"] = "failed"
    else:
        delay = retry_delay(job.attempts + 1, settings.delivery_retry_base_seconds, outcome.retry_after)
        params["b_next"] = now + timedelta(seconds=delay)
    return params


async def _record(
    runtime: Runtime, outcomes: list[_Outcome], postpone: dict[int, datetime]
) -> set[str]:
    """Write a whole batch in one transaction; return the hosts that came back from unavailable."""
    now = utcnow()
    up: set[str] = set()
    down: Counter[str] = Counter()
    for outcome in outcomes:
        if outcome.host_answered and (outcome.ok or outcome.permanent):
            up.add(outcome.job.host)
        elif not outcome.ok and not outcome.permanent:
            down[outcome.job.host] += 1
    async with runtime.sessions() as session, session.begin():
        if outcomes:
            await session.execute(_OUTCOME_UPDATE, [_outcome_params(runtime, o, now) for o in outcomes])
        if postpone:
            await session.execute(_POSTPONE_UPDATE, [{"b_id": i, "b_next": t} for i, t in postpone.items()])
        for host in sorted(set(down) - up):
            if await record_delivery_failure(session, host, count=down[host], now=now):
                log.warning("host %s marked unavailable after repeated delivery failures", host)
        recovered = await record_delivery_successes(session, up, now=now)
    for host in sorted(recovered):
        log.info("host %s is available again; its pending deliveries are due now", host)
    return recovered


async def deliver_due_once(runtime: Runtime) -> int:
    """Claim one batch of due deliveries, send it, record the outcomes; return rows handled.

    The worker's step, exposed so tests and benchmarks can drive delivery deterministically.
    """
    if runtime.http is None:
        raise RuntimeError("delivery needs runtime.http (an HttpClient)")
    batch, _ = _batch_limits(runtime)
    ids = await claim_due(runtime.sessions, Delivery, batch, LEASE_SECONDS)
    if not ids:
        return 0
    async with runtime.sessions() as session:
        jobs, bodies, signers = await _load(session, ids)
        last_failures = await unavailable_last_failures(session, {job.host for job in jobs})
    send, postpone, failed = _plan(runtime, jobs, last_failures, utcnow())
    outcomes = failed + await _send_all(runtime, send, bodies, signers)
    recovered = await _record(runtime, outcomes, postpone)
    if recovered:
        runtime.wake("delivery")
    return len(ids)


async def run_delivery_worker(runtime: Runtime, stopping: asyncio.Event) -> None:
    """Deliver until `stopping` is set; wakes early when `runtime.wake("delivery")` is called.

    Leases make restarts safe: rows a previous process had claimed are retried once their lease
    has expired, and rows never claimed are simply picked up.
    """

    async def step() -> int:
        return await deliver_due_once(runtime)

    await run_loop(
        "delivery", step, runtime.wakeup_event("delivery"), runtime.settings.worker_poll_seconds, stopping
    )
