"""Why an upload or a media request is refused."""

from __future__ import annotations


class MediaError(ValueError):
    """The upload cannot be accepted; the message says why in words a person can act on."""

    def __init__(self, message: str, field: str = "file") -> None:
        super().__init__(message)
        self.field = field


class MediaNotFound(LookupError):
    """No such media, or not the caller's (the API answers 404 either way)."""


class MediaInUse(Exception):
    """The media belongs to a posted or scheduled status and cannot be deleted on its own."""
