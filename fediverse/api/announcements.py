"""Announcements for apps: the collectivity's institutional messages, read and dismissed per reader.

Messages are the collectivity's themed public statuses (outbox.institutional); apps show them above
the home timeline. Mastodon's entity links the status in `statuses`; our extensions are `urgent`
(alerts, listed first) and `theme`, which is also given as the only entry of `tags` so that apps
that know nothing of themes still show it. Reactions are accepted but not stored.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from actors.announcements import Shown, active_announcements, dismiss_announcement, get_announcement
from fediverse.api.auth import authenticate
from fediverse.api.errors import not_found
from fediverse.api.params import path_id, truthy
from fediverse.api.serializers.accounts import iso
from fediverse.runtime import Runtime


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def announcement_to_api(shown: Shown, base_url: str) -> dict[str, Any]:
    """Mastodon's Announcement entity, with `urgent` and `theme` as extensions."""
    row, status = shown.row, shown.status
    return {
        "id": str(row.id),
        "content": shown.content,
        "starts_at": iso(row.starts_at),
        "ends_at": iso(row.ends_at),
        "all_day": row.all_day,
        "published_at": iso(row.published_at),
        "updated_at": iso(shown.updated_at),
        "read": shown.read,
        "mentions": [],
        "statuses": [{"id": str(status.id), "url": status.url or status.uri}] if status is not None else [],
        "tags": [{"name": row.theme, "url": f"{base_url}/tags/{row.theme}"}] if row.theme else [],
        "emojis": [],
        "reactions": [],
        "urgent": row.urgent,
        "theme": row.theme,
    }


async def announcements(request: Request) -> Response:
    """The current announcements, urgent ones first, each with the reader's `read`; ended ones are gone.

    Like Mastodon, dismissed ones are included (shown as read) unless `with_dismissed=false`.
    """
    identity = await authenticate(request)  # Mastodon asks for a user token, whatever its scopes
    raw = request.query_params.get("with_dismissed")
    with_dismissed = raw is None or raw == "" or truthy(raw)
    runtime = _runtime(request)
    async with runtime.sessions() as session:
        rows = await active_announcements(session, identity.actor_id, with_dismissed=with_dismissed)
    return JSONResponse([announcement_to_api(shown, runtime.settings.base_url) for shown in rows])


async def announcement_dismiss(request: Request) -> Response:
    identity = await authenticate(request, "write:accounts")
    announcement_id = path_id(request)
    async with _runtime(request).transaction() as session:
        if not await dismiss_announcement(session, identity.actor_id, announcement_id):
            raise not_found()
    return JSONResponse({})


async def announcement_reaction(request: Request) -> Response:
    """Reactions are accepted (so apps do not show an error) but not stored or counted."""
    await authenticate(request, "write:favourites")
    announcement_id = path_id(request)
    async with _runtime(request).sessions() as session:
        if await get_announcement(session, announcement_id) is None:
            raise not_found()
    return JSONResponse({})


routes: list[BaseRoute] = [
    Route("/api/v1/announcements", announcements, methods=["GET"]),
    Route("/api/v1/announcements/{id}/dismiss", announcement_dismiss, methods=["POST"]),
    Route("/api/v1/announcements/{id}/reactions/{name}", announcement_reaction, methods=["PUT", "DELETE"]),
]
