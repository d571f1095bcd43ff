"""Mastodon client API: read markers (`/api/v1/markers`) for the home timeline and notifications."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from actors import timelines as domain
from fediverse.api.auth import authenticate
from fediverse.api.domain_calls import reading, runtime_of
from fediverse.api.errors import unprocessable
from fediverse.api.params import read_params, strings, unfold
from fediverse.api.serializers.accounts import iso
from fediverse.models import Marker


def marker_to_api(marker: Marker) -> dict[str, Any]:
    return {"last_read_id": marker.last_read_id, "version": marker.version, "updated_at": iso(marker.updated_at)}


async def index(request: Request) -> Response:
    """Only the timelines asked for (`timeline[]`), like Mastodon."""
    identity = await authenticate(request, "read:statuses")
    timelines = strings(unfold(request.query_params.multi_items()), "timeline")
    async with reading(request) as session:
        markers = await domain.get_markers(session, identity.actor_id, timelines)
    return JSONResponse({name: marker_to_api(m) for name, m in markers.items()})


async def save(request: Request) -> Response:
    """`home[last_read_id]` / `notifications[last_read_id]`, as a form or as JSON."""
    identity = await authenticate(request, "write:statuses")
    params = await read_params(request)
    positions: dict[str, str] = {}
    for timeline in domain.MARKER_TIMELINES:
        value = params.get(timeline)
        if isinstance(value, dict):
            last_read_id = value.get("last_read_id")
            positions[timeline] = str(last_read_id) if isinstance(last_read_id, str | int) else ""
    try:
        async with runtime_of(request).transaction() as session:
            markers = await domain.set_markers(session, identity.actor_id, positions)
    except domain.TimelineError as exc:
        raise unprocessable(str(exc), "last_read_id") from None
    return JSONResponse({name: marker_to_api(m) for name, m in markers.items()})


routes: list[BaseRoute] = [
    Route("/api/v1/markers", index, methods=["GET"]),
    Route("/api/v1/markers", save, methods=["POST"]),
]
