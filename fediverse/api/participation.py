"""Client API extension: taking part in events (Mobilizon's participation). `:id` is the event's status id
(what Mastodon apps know) or the event's own id.

- `POST /api/v1/events/:id/join` (optional `message`): free local event -> `accepted`; restricted ->
  `pending` (the organiser gets a `mention` notification of the event from the participant); remote event
  -> `pending` until its organiser's `Accept`/`Reject`; 422 when full, cancelled, over, by invitation or
  with external registration (the message gives the link).
- `POST /api/v1/events/:id/leave`.
- `GET /api/v1/events/:id/participants` (`state`, `max_id`, `min_id`, `limit`): the organiser and their
  team see everyone with state and message; anyone else sees the counts and only their own participation
  (who takes part is not public, as on Mobilizon).
- `POST /api/v1/events/:id/participants/:account_id/authorize|reject`: organiser or team only (403).

Participation entity: `{"id", "event_id", "account": Account, "state": "pending"|"accepted"|"rejected",
"message", "created_at"}`; join/leave answer `{"event_id", "participation": entity|null,
"participant_count", "remaining_capacity"}`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from fediverse.api.auth import Identity, authenticate
from fediverse.api.domain_calls import command, runtime_of
from fediverse.api.errors import ApiError, not_found, unprocessable
from fediverse.api.pagination import Page, link_header
from fediverse.api.params import path_id, read_params, text_value
from fediverse.api.serializers.accounts import account_to_api, iso
from fediverse.api.statuses import visible_status
from fediverse.config import Settings
from fediverse.models import PARTICIPATION_STATES, Actor, Event, Participation, Status
from outbox.errors import NotFound
from outbox.participation import NotOrganiser, ParticipationCommands, load_event, may_manage, participation_of


def participation_to_api(row: Participation, actor: Actor, status_id: int, settings: Settings) -> dict[str, Any]:
    return {"id": str(row.id), "event_id": str(status_id), "account": account_to_api(actor, settings),
            "state": row.state, "message": row.message, "created_at": iso(row.created_at)}


def counts(event: Event) -> dict[str, Any]:
    remaining = max(0, event.capacity - event.participant_count) if event.capacity is not None else None
    return {"participant_count": event.participant_count, "remaining_capacity": remaining}


async def _event(session: AsyncSession, identity: Identity, event_id: int) -> tuple[Event, Status]:
    """The event if the viewer may read its status (404 otherwise, as for statuses)."""
    try:
        event, status = await load_event(session, event_id)
    except NotFound:
        raise not_found() from None
    await visible_status(session, identity.actor_id, status.id)
    return event, status


async def _own_answer(request: Request, identity: Identity, event_id: int) -> JSONResponse:
    settings = runtime_of(request).settings
    async with runtime_of(request).sessions() as session:
        event, status = await _event(session, identity, event_id)
        row = await participation_of(session, event.id, identity.actor_id)
        entity = participation_to_api(row, identity.actor, status.id, settings) \
            if row is not None and identity.actor is not None else None
        return JSONResponse({"event_id": str(status.id), "participation": entity, **counts(event)})


async def join(request: Request) -> Response:
    identity = await authenticate(request, "write:statuses")
    params = await read_params(request)
    message = text_value(params.get("message"))
    if message is not None and len(message) > 2000:
        raise unprocessable("message is longer than 2000 characters", "message")
    async with runtime_of(request).sessions() as session:
        event, _ = await _event(session, identity, path_id(request))
    await command(ParticipationCommands(runtime_of(request)).join(identity.actor_id, event.id, message=message))
    return await _own_answer(request, identity, event.id)


async def leave(request: Request) -> Response:
    identity = await authenticate(request, "write:statuses")
    async with runtime_of(request).sessions() as session:
        event, _ = await _event(session, identity, path_id(request))
    await command(ParticipationCommands(runtime_of(request)).leave(identity.actor_id, event.id))
    return await _own_answer(request, identity, event.id)


async def participants(request: Request) -> Response:
    identity = await authenticate(request, "read:statuses")
    state = request.query_params.get("state") or None
    if state is not None and state not in PARTICIPATION_STATES:
        raise unprocessable(f"state must be one of {', '.join(PARTICIPATION_STATES)}", "state")
    page = Page.from_request(request, default=40, maximum=80)
    settings = runtime_of(request).settings
    async with runtime_of(request).sessions() as session:
        event, status = await _event(session, identity, path_id(request))
        user_id = identity.user.id if identity.user is not None else None
        query = select(Participation, Actor).join(Actor, Actor.id == Participation.actor_id).where(
            Participation.event_id == event.id)
        if not await may_manage(session, event, identity.actor_id, user_id):
            query = query.where(Participation.actor_id == identity.actor_id)
        if state is not None:
            query = query.where(Participation.state == state)
        rows = page.order((await session.execute(page.apply(query, Participation.id))).all())
        body = {"event_id": str(status.id), **counts(event),
                "participants": [participation_to_api(row, actor, status.id, settings) for row, actor in rows]}
    return JSONResponse(body, headers=link_header(request, [row.id for row, _ in rows]))


async def _decide(request: Request, accept: bool) -> Response:
    identity = await authenticate(request, "write:statuses")
    account_id = path_id(request, "account_id")
    settings = runtime_of(request).settings
    async with runtime_of(request).sessions() as session:
        event, status = await _event(session, identity, path_id(request))
    user_id = identity.user.id if identity.user is not None else None
    try:
        row = await command(ParticipationCommands(runtime_of(request)).decide(
            identity.actor_id, event.id, account_id, accept=accept, user_id=user_id))
    except ApiError as exc:
        if isinstance(exc.__cause__, NotOrganiser):
            raise ApiError(403, str(exc.__cause__)) from None
        raise
    async with runtime_of(request).sessions() as session:
        actor = await session.get(Actor, row.actor_id)
        fresh = await session.get(Event, event.id)
        assert actor is not None and fresh is not None
        return JSONResponse({**participation_to_api(row, actor, status.id, settings), **counts(fresh)})


async def authorize(request: Request) -> Response:
    return await _decide(request, True)


async def reject(request: Request) -> Response:
    return await _decide(request, False)


routes: list[BaseRoute] = [
    Route("/api/v1/events/{id}/join", join, methods=["POST"]),
    Route("/api/v1/events/{id}/leave", leave, methods=["POST"]),
    Route("/api/v1/events/{id}/participants", participants, methods=["GET"]),
    Route("/api/v1/events/{id}/participants/{account_id}/authorize", authorize, methods=["POST"]),
    Route("/api/v1/events/{id}/participants/{account_id}/reject", reject, methods=["POST"]),
]
