"""Client API extension: the signed-in resident's personal "I'm going" calendar link.

`GET /api/v1/events/going_feed` (scope `read`) answers `{"url": "webcal://<domain>/@<username>/going.ics?token=…",
"https_url": "https://…"}`: the events the user's own account takes part in (participation accepted), for a
calendar app to subscribe to without signing in. The token is an HMAC of the user id under the instance's
secret key (actors/calendar.py); anyone holding the link can read that list, so apps should show it as
private. The link is the user's, whichever identity (association) the token acts as.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from actors import calendar
from fediverse.api.auth import authenticate
from fediverse.api.domain_calls import reading, runtime_of
from fediverse.api.errors import ApiError
from fediverse.models import Actor


async def going_feed(request: Request) -> Response:
    identity = await authenticate(request, "read")
    if identity.user is None:
        raise ApiError(422, "This method requires an authenticated user")
    settings = runtime_of(request).settings
    async with reading(request) as session:
        person = await session.get(Actor, identity.user.actor_id)
    if person is None:
        raise ApiError(422, "This method requires an authenticated user")
    path = calendar.going_path(person.username, calendar.going_token(settings, identity.user.id))
    return JSONResponse({"url": f"webcal://{settings.domain}{path}", "https_url": f"{settings.base_url}{path}"})


routes: list[BaseRoute] = [
    Route("/api/v1/events/going_feed", going_feed, methods=["GET"]),
]
