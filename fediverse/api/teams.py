"""Extension endpoints for association teams (not in Mastodon): the shared accounts a user belongs to,
accepting or leaving a team, and the team's action log (who did what as the account).

- `GET /api/v1/teams`: `[{"account": Account, "role": "admin"|"editor", "state": "active"|"invited"}]`
- `POST /api/v1/teams/:account_id/accept`, `POST /api/v1/teams/:account_id/leave`
- `GET /api/v1/teams/:account_id/actions?max_id=&limit=`: `[{"id", "action", "object_uri", "created_at",
  "member": Account|null}]`, newest first, for active members of that team only (404 otherwise, so the
  log does not even tell outsiders which accounts have a team).

They answer for the login behind the token (its user), whichever identity the token acts as.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from actors import teams as domain
from fediverse.api.auth import Identity, authenticate
from fediverse.api.domain_calls import reading, runtime_of, writing
from fediverse.api.errors import ApiError, not_found, unprocessable
from fediverse.api.params import path_id
from fediverse.api.serializers.accounts import account_to_api, iso
from fediverse.models import Actor, User


def _user(identity: Identity) -> User:
    if identity.user is None:
        raise ApiError(422, "This method requires an authenticated user")
    return identity.user


def _limit(request: Request) -> int:
    text = request.query_params.get("limit") or "40"
    return max(1, min(int(text), 80)) if text.isdigit() else 40


async def index(request: Request) -> Response:
    identity = await authenticate(request, "read:accounts")
    user = _user(identity)
    settings = runtime_of(request).settings
    async with reading(request) as session:
        rows = await domain.teams_of(session, user)
    return JSONResponse([{"account": account_to_api(actor, settings), "role": row.role, "state": row.state}
                         for row, actor in rows])


async def _team(session: Any, account_id: int) -> Actor:
    actor = await session.get(Actor, account_id)
    if actor is None or actor.domain is not None or actor.deleted_at is not None:
        raise not_found()
    return actor


async def accept(request: Request) -> Response:
    identity = await authenticate(request, "write:accounts")
    user = _user(identity)
    async with writing(request) as session:
        team = await _team(session, path_id(request))
        try:
            row = await domain.accept_invitation(session, team, user)
        except domain.TeamError:
            raise not_found() from None
        body = {"account": account_to_api(team, runtime_of(request).settings), "role": row.role, "state": row.state}
    return JSONResponse(body)


async def leave(request: Request) -> Response:
    identity = await authenticate(request, "write:accounts")
    user = _user(identity)
    async with writing(request) as session:
        team = await _team(session, path_id(request))
        if await domain.membership(session, team.id, user.id) is None:
            raise not_found()
        try:
            await domain.leave_team(session, team, user)
        except domain.TeamError as exc:
            raise unprocessable(str(exc)) from None
    return JSONResponse({})


async def actions(request: Request) -> Response:
    identity = await authenticate(request, "read:accounts")
    user = _user(identity)
    max_text = request.query_params.get("max_id") or ""
    max_id = int(max_text) if max_text.isdigit() and len(max_text) <= 18 else None
    settings = runtime_of(request).settings
    async with reading(request) as session:
        team = await _team(session, path_id(request))
        if not await domain.is_active_member(session, team.id, user.id):
            raise not_found()
        rows = await domain.team_actions(session, team.id, limit=_limit(request),
                                         max_id=max_id)
    return JSONResponse([{"id": str(row.id), "action": row.action, "object_uri": row.object_uri,
                          "created_at": iso(row.created_at),
                          "member": account_to_api(member, settings) if member is not None else None}
                         for row, member in rows])


routes: list[BaseRoute] = [
    Route("/api/v1/teams", index, methods=["GET"]),
    Route("/api/v1/teams/{id}/accept", accept, methods=["POST"]),
    Route("/api/v1/teams/{id}/leave", leave, methods=["POST"]),
    Route("/api/v1/teams/{id}/actions", actions, methods=["GET"]),
]
