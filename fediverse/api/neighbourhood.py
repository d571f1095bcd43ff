"""Client API extension: the resident's neighbourhood ("voisinage") settings.

`GET /api/v1/neighbourhood` shows the home commune, the mode (a radius in km, or an explicit list of
communes) and the communes it includes, nearest first. `PUT` changes them: `home_commune` (one of
the territory's communes), `radius_km` (radius mode) or `communes[]` (list mode; ours or a neighbour
instance's). Its timeline is `GET /api/v1/timelines/neighbourhood` (fediverse.api.timelines), also
offered to apps as the built-in list "Voisinage" (fediverse.api.lists).
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from actors.neighbourhood import (
    KnownCommune,
    Neighbourhood,
    NeighbourhoodError,
    load_neighbourhood,
    update_neighbourhood,
)
from fediverse.api.auth import authenticate
from fediverse.api.domain_calls import command, runtime_of
from fediverse.api.errors import unprocessable
from fediverse.api.params import read_params, strings
from outbox.commands import Outbox


def _commune(commune: KnownCommune) -> dict[str, Any]:
    return {"insee": commune.insee, "name": commune.name, "postal_codes": list(commune.postal_codes),
            "latitude": commune.latitude, "longitude": commune.longitude}


def neighbourhood_to_api(hood: Neighbourhood) -> dict[str, Any]:
    return {
        "home_commune": _commune(hood.home) if hood.home else None,
        "radius_km": hood.radius_km,
        "communes": hood.communes,
        "included": [{"insee": item.commune.insee, "name": item.commune.name, "distance_km": item.distance_km,
                      "domain": item.commune.domain} for item in hood.included],
    }


def _radius(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise unprocessable("radius_km must be a number", "radius_km")
    try:
        radius = float(str(value).strip()) if isinstance(value, str) else float(value)
    except ValueError:
        raise unprocessable("radius_km must be a number", "radius_km") from None
    if not math.isfinite(radius):
        raise unprocessable("radius_km must be a number", "radius_km")
    return radius


def _home(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise unprocessable("home_commune must be an INSEE code", "home_commune")
    return str(value)


async def show(request: Request) -> Response:
    identity = await authenticate(request, "read:accounts")
    async with runtime_of(request).sessions() as session:
        try:
            hood = await load_neighbourhood(session, identity.actor_id)
        except NeighbourhoodError as exc:
            raise unprocessable(str(exc)) from None
    return JSONResponse(neighbourhood_to_api(hood))


async def change(request: Request) -> Response:
    """PUT: only what is sent changes; `radius_km` and `communes[]` each switch the mode."""
    identity = await authenticate(request, "write:accounts")
    params = await read_params(request)
    listed = strings(params, "communes") if "communes" in params else None
    home, radius = _home(params.get("home_commune")), _radius(params.get("radius_km"))
    runtime = runtime_of(request)
    try:
        async with runtime.transaction() as session:
            moved = await update_neighbourhood(session, identity.actor_id, home_commune=home, radius_km=radius,
                                               communes=listed)
    except NeighbourhoodError as exc:
        raise unprocessable(str(exc)) from None
    if moved:  # followers' servers learn the account's new `location`
        await command(Outbox(runtime).update_profile(identity.actor_id))
    async with runtime.sessions() as session:
        hood = await load_neighbourhood(session, identity.actor_id)
    return JSONResponse(neighbourhood_to_api(hood))


routes: list[BaseRoute] = [
    Route("/api/v1/neighbourhood", show, methods=["GET"]),
    Route("/api/v1/neighbourhood", change, methods=["PUT"]),
]
