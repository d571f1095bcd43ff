"""Mastodon client API: polls (read one, vote). A poll is readable when its status is."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from fediverse.api.auth import authenticate, optional_identity, viewer_of
from fediverse.api.domain_calls import command, runtime_of
from fediverse.api.errors import not_found
from fediverse.api.params import as_list, id_value, path_id, read_params
from fediverse.api.serializers.statuses import poll_to_api
from fediverse.api.statuses import visible_status
from fediverse.models import Poll, PollVote
from fediverse.runtime import Runtime
from outbox.commands import Outbox


async def _poll_json(session: AsyncSession, runtime: Runtime, viewer_id: int | None, poll_id: int) -> JSONResponse:
    poll = await session.get(Poll, poll_id, populate_existing=True)
    if poll is None:
        raise not_found()
    await visible_status(session, viewer_id, poll.status_id)
    own_votes = None
    if viewer_id is not None:
        own_votes = sorted((await session.scalars(select(PollVote.choice).where(
            PollVote.status_id == poll.status_id, PollVote.actor_id == viewer_id))).all())
    return JSONResponse(poll_to_api(poll, own_votes))


async def show_poll(request: Request) -> Response:
    identity = await optional_identity(request, "read:statuses")
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        return await _poll_json(session, runtime, viewer_of(identity), path_id(request))


async def vote(request: Request) -> Response:
    """POST /api/v1/polls/:id/votes with `choices[]` (option indexes): once per voter."""
    identity = await authenticate(request, "write:statuses")
    runtime = runtime_of(request)
    poll_id = path_id(request)
    async with runtime.sessions() as session:
        poll = await session.get(Poll, poll_id)
        if poll is None:
            raise not_found()
        await visible_status(session, identity.actor_id, poll.status_id)
    choices = [id_value(c, "choices") for c in as_list((await read_params(request)).get("choices"))]
    await command(Outbox(runtime).vote(identity.actor_id, poll_id, choices))
    async with runtime.sessions() as session:
        return await _poll_json(session, runtime, identity.actor_id, poll_id)


routes: list[BaseRoute] = [
    Route("/api/v1/polls/{id}", show_poll, methods=["GET"]),
    Route("/api/v1/polls/{id}/votes", vote, methods=["POST"]),
]
