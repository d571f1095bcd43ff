"""Time-ordered 64-bit ids, like Mastodon's: sortable by creation, usable as API ids and cursors."""

from __future__ import annotations

import secrets
import threading
import time

_lock = threading.Lock()
_last = 0


def new_id(at: float | None = None) -> int:
    """Milliseconds since the epoch in the high bits, a random/sequence part in the low 16 bits.

    Strictly increasing within one process, so rows created in a loop keep their order.
    """
    global _last
    millis = int((time.time() if at is None else at) * 1000)
    candidate = (millis << 16) | secrets.randbits(16)
    with _lock:
        if at is None and candidate <= _last:
            candidate = _last + 1
        if at is None:
            _last = candidate
    return candidate


def id_floor(at: float) -> int:
    """The smallest id created at or after `at` (for time-range queries on ids)."""
    return int(at * 1000) << 16
