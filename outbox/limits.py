"""Mastodon's limits on what a local account writes, also advertised by /api/v2/instance
(configuration.statuses and .polls)."""

from __future__ import annotations

from datetime import timedelta

MAX_TEXT_LENGTH = 5000
MAX_MEDIA = 4
MAX_MENTIONS = 50
MAX_PINNED = 5
MAX_POLL_OPTIONS = 4
MAX_POLL_OPTION_CHARS = 50
MIN_POLL_EXPIRATION = 300
MAX_POLL_EXPIRATION = 2_629_746
MAX_SCHEDULED = 300
MIN_SCHEDULE_DELAY = timedelta(minutes=5)
IDEMPOTENCY_WINDOW = timedelta(hours=24)
