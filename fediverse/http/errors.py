"""Why a fetch or a delivery failed, in the one exception the queues read."""

from __future__ import annotations


class FetchError(Exception):
    """A remote fetch or delivery failed; `permanent` tells queues whether a retry can help.

    `status` is the HTTP status when the server answered, `retry_after` the delay (seconds) it
    asked for in a Retry-After header, if any.
    """

    def __init__(
        self,
        url: str,
        message: str,
        *,
        status: int | None = None,
        permanent: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.url = url
        self.message = message
        self.status = status
        self.permanent = permanent
        self.retry_after = retry_after
        super().__init__(f"{message} [{url}]")


class RefusedAddress(FetchError):
    """Raised by the resolver, which only knows the host; the client re-raises it with the URL."""
