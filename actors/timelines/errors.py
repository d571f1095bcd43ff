"""Why a read or a change of the reader's own records is refused."""

from __future__ import annotations


class TimelineError(ValueError):
    """A request that cannot be honoured; the message is shown to the client (HTTP 422)."""


class Missing(TimelineError):
    """The record does not exist or belongs to someone else (HTTP 404)."""
