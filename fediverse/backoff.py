"""The one retry policy for outgoing federation work (deliveries, and anything else that retries).

Mastodon retries a delivery about 16 times over roughly two days with `attempt**4 + 15` seconds
between tries; peers expect that rhythm (an instance down for a day still gets its messages, one
gone for good stops costing us requests after ~2 days). We keep the same curve and scale it by
`base_seconds / 15`, so production (base 15) matches Mastodon and tests (base ~0.001) run the
whole schedule in milliseconds. Jitter spreads the retries of a large fan-out so a recovering
host is not hit by every queued delivery in the same second.
"""

from __future__ import annotations

import random

__all__ = [
    "JITTER_MAX",
    "JITTER_MIN",
    "PRODUCTION_BASE_SECONDS",
    "RETRY_AFTER_CAP_SECONDS",
    "nominal_delay",
    "retry_delay",
    "schedule_total",
]

PRODUCTION_BASE_SECONDS = 15.0
"""The base at which the curve is exactly Mastodon's (`attempt**4 + 15` seconds)."""

JITTER_MIN = 0.85
JITTER_MAX = 1.25
"""Each delay is multiplied by a uniform random factor in [JITTER_MIN, JITTER_MAX]."""

RETRY_AFTER_CAP_SECONDS = 24 * 3600.0
"""A remote Retry-After is obeyed up to one day: a larger value is a misconfiguration or hostile,
and must not park our deliveries beyond the whole retry window."""


def nominal_delay(attempt: int, base_seconds: float) -> float:
    """Delay after `attempt` failed attempts (1 = the first failure), without jitter."""
    attempt = max(1, attempt)
    return (attempt**4 + 15) * base_seconds / PRODUCTION_BASE_SECONDS


def retry_delay(attempt: int, base_seconds: float, retry_after: float | None = None) -> float:
    """Seconds to wait before the next try, after `attempt` failed attempts.

    A server's Retry-After (seconds, already parsed) is a floor: retrying earlier would only earn
    another 429/503. It is capped at RETRY_AFTER_CAP_SECONDS.
    """
    delay = nominal_delay(attempt, base_seconds) * random.uniform(JITTER_MIN, JITTER_MAX)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(float(retry_after), RETRY_AFTER_CAP_SECONDS))
    return delay


def schedule_total(max_attempts: int, base_seconds: float) -> float:
    """Nominal seconds between the first and the last of `max_attempts` tries (no jitter).

    There are `max_attempts - 1` waits. Used to bound how long anything may stay queued: with the
    production values (16 attempts, base 15) this is about 2.07 days; jitter keeps the real total
    within [JITTER_MIN, JITTER_MAX] times this value.
    """
    return sum(nominal_delay(attempt, base_seconds) for attempt in range(1, max(1, max_attempts)))
