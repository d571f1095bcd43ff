"""The only write API for local actions. Each command is one transaction that stores the rows,
the outgoing activity and its deliveries together (all or nothing), then wakes the delivery worker.

`Outbox` is composed from one class per subject (statuses, posting from drafts, boosts and
favourites, follows, blocks, profile); the errors, limits and draft types callers need are
importable from here too.
"""

from __future__ import annotations

from outbox.blocks import BlockCommands
from outbox.drafts import KEEP, Keep, PollSpec, StatusDraft
from outbox.errors import AlreadyPublished, CommandError, NotFound
from outbox.follows import FollowCommands
from outbox.interactions import InteractionCommands
from outbox.limits import (
    IDEMPOTENCY_WINDOW,
    MAX_MEDIA,
    MAX_MENTIONS,
    MAX_PINNED,
    MAX_POLL_EXPIRATION,
    MAX_POLL_OPTION_CHARS,
    MAX_POLL_OPTIONS,
    MAX_SCHEDULED,
    MAX_TEXT_LENGTH,
    MIN_POLL_EXPIRATION,
    MIN_SCHEDULE_DELAY,
)
from outbox.posting import PostingCommands
from outbox.profile import ProfileCommands

__all__ = [
    "IDEMPOTENCY_WINDOW", "KEEP", "MAX_MEDIA", "MAX_MENTIONS", "MAX_PINNED", "MAX_POLL_EXPIRATION",
    "MAX_POLL_OPTIONS", "MAX_POLL_OPTION_CHARS", "MAX_SCHEDULED", "MAX_TEXT_LENGTH", "MIN_POLL_EXPIRATION",
    "MIN_SCHEDULE_DELAY", "AlreadyPublished", "CommandError", "Keep", "NotFound", "Outbox", "PollSpec", "StatusDraft",
]


class Outbox(PostingCommands, InteractionCommands, FollowCommands, BlockCommands, ProfileCommands):
    """Every local write: `Outbox(runtime).publish(...)`, `.follow(...)`, `.block(...)`..."""
