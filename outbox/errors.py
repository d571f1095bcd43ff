"""Why an outbox command refused: shown to the user (HTTP 404/422 at the API edge)."""

from __future__ import annotations


class CommandError(ValueError):
    """The action cannot be done; the message is shown to the user (HTTP 422 at the API edge)."""


class NotFound(CommandError):
    pass


class AlreadyPublished(CommandError):
    """A scheduled status that another worker (or an earlier run) already published."""

