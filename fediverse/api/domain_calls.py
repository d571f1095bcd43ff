"""Calling the domain layer from an endpoint: the runtime, a session or a transaction, and the
domain's refusals turned into Mastodon's HTTP errors (a missing record is a 404, anything else the
domain refuses is a 422 with its message)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from actors.timelines import Missing, TimelineError
from fediverse.api.errors import ApiError, not_found, unprocessable
from fediverse.runtime import Runtime
from outbox.commands import CommandError, NotFound

T = TypeVar("T")


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


def domain_errors(exc: TimelineError) -> ApiError:
    return not_found(str(exc)) if isinstance(exc, Missing) else unprocessable(str(exc))


@asynccontextmanager
async def _refusals_as_errors(sessions: AbstractAsyncContextManager[AsyncSession]) -> AsyncIterator[AsyncSession]:
    try:
        async with sessions as session:
            yield session
    except TimelineError as exc:
        raise domain_errors(exc) from None


def reading(request: Request) -> AbstractAsyncContextManager[AsyncSession]:
    """A session for reads; a TimelineError raised inside becomes the HTTP error."""
    return _refusals_as_errors(runtime_of(request).sessions())


def writing(request: Request) -> AbstractAsyncContextManager[AsyncSession]:
    """One transaction for a change; a TimelineError raised inside rolls it back and becomes the HTTP error."""
    return _refusals_as_errors(runtime_of(request).transaction())


async def command(action: Awaitable[T]) -> T:
    """Run an outbox command; its refusals become Mastodon's 404 / 422."""
    try:
        return await action
    except NotFound as exc:
        raise not_found() from exc
    except CommandError as exc:
        raise unprocessable(str(exc)) from exc
