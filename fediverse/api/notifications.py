"""Mastodon client API: notifications (`/api/v1/notifications`), v1 shape (grouped v2 is not served)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from actors import timelines as domain
from fediverse.api.auth import authenticate
from fediverse.api.domain_calls import reading, runtime_of, writing
from fediverse.api.errors import not_found
from fediverse.api.pagination import Page, link_header
from fediverse.api.params import id_value, optional_id, path_id, query_int, read_params, strings, unfold
from fediverse.api.serializers.accounts import account_to_api, iso
from fediverse.api.serializers.statuses import render_statuses
from fediverse.config import Settings
from fediverse.models import Actor, Notification, Status

STATUS_TYPES = frozenset({"favourite", "reblog", "status", "mention", "poll", "update"})
DEFAULT_LIMIT = 40
MAX_LIMIT = 80
UNREAD_DEFAULT_LIMIT = 100
UNREAD_MAX_LIMIT = 1000


async def render_notifications(session: AsyncSession, settings: Settings, viewer_id: int,
                               rows: list[Notification], filters: domain.FilterSet) -> list[dict[str, Any]]:
    """Notification entities in a fixed number of queries; one whose status cannot be shown is left out."""
    actor_ids = {n.from_actor_id for n in rows}
    actors = {a.id: a for a in await session.scalars(select(Actor).where(Actor.id.in_(actor_ids)))} \
        if actor_ids else {}
    status_ids = {n.status_id for n in rows if n.status_id and n.kind in STATUS_TYPES}
    statuses = list(await session.scalars(select(Status).where(Status.id.in_(status_ids)))) if status_ids else []
    rendered = {doc["id"]: doc for doc in await render_statuses(session, settings, viewer_id, statuses, filters)}
    result = []
    for row in rows:
        actor = actors.get(row.from_actor_id)
        if actor is None:
            continue
        doc: dict[str, Any] = {"id": str(row.id), "type": row.kind, "created_at": iso(row.created_at),
                               "group_key": f"ungrouped-{row.id}", "account": account_to_api(actor, settings)}
        if row.kind in STATUS_TYPES:
            status = rendered.get(str(row.status_id))
            if status is None:
                continue
            doc["status"] = status
        if row.kind == "admin.report":
            doc["report"] = None  # reports have no client entity yet (moderation comes later)
        result.append(doc)
    return result


def _type_filters(params: dict[str, Any]) -> dict[str, Any]:
    asked = strings(params, "types")
    return {"types": [t for t in asked if t in domain.NOTIFICATION_TYPES] if asked else None,
            "exclude_types": strings(params, "exclude_types"), "account_id": optional_id(params, "account_id")}


async def index(request: Request) -> Response:
    identity = await authenticate(request, "read:notifications")
    params = unfold(request.query_params.multi_items())
    page = Page.from_request(request, DEFAULT_LIMIT, MAX_LIMIT)
    settings = runtime_of(request).settings
    async with reading(request) as session:
        filters = await domain.FilterSet.load(session, identity.actor_id, "notifications")
        rows = await domain.notifications_page(session, identity.actor_id, page, filters=filters,
                                               **_type_filters(params))
        docs = await render_notifications(session, settings, identity.actor_id, rows, filters)
    return JSONResponse(docs, headers=link_header(request, [n.id for n in rows]))


async def one(request: Request) -> Response:
    identity = await authenticate(request, "read:notifications")
    notification_id = path_id(request)
    async with reading(request) as session:
        row = await domain.get_notification(session, identity.actor_id, notification_id)
        filters = await domain.FilterSet.load(session, identity.actor_id, "notifications")
        docs = await render_notifications(session, runtime_of(request).settings, identity.actor_id, [row], filters)
    if not docs:
        raise not_found()
    return JSONResponse(docs[0])


async def unread_count(request: Request) -> Response:
    """Notifications after the `notifications` marker, up to `limit` (default 100, at most 1000)."""
    identity = await authenticate(request, "read:notifications")
    params = unfold(request.query_params.multi_items())
    limit = query_int(request, "limit", UNREAD_DEFAULT_LIMIT)
    async with reading(request) as session:
        count = await domain.unread_notifications(session, identity.actor_id,
                                                  limit=max(1, min(limit, UNREAD_MAX_LIMIT)), **_type_filters(params))
    return JSONResponse({"count": count})


async def clear(request: Request) -> Response:
    identity = await authenticate(request, "write:notifications")
    async with writing(request) as session:
        await domain.clear_notifications(session, identity.actor_id)
    return JSONResponse({})


async def dismiss(request: Request) -> Response:
    """POST /api/v1/notifications/:id/dismiss, and the older POST /api/v1/notifications/dismiss with `id`."""
    identity = await authenticate(request, "write:notifications")
    if "id" in request.path_params:
        notification_id = path_id(request)
    else:
        notification_id = id_value((await read_params(request)).get("id"))
    async with writing(request) as session:
        await domain.dismiss_notification(session, identity.actor_id, notification_id)
    return JSONResponse({})


routes: list[BaseRoute] = [
    Route("/api/v1/notifications", index, methods=["GET"]),
    Route("/api/v1/notifications/unread_count", unread_count, methods=["GET"]),
    Route("/api/v1/notifications/clear", clear, methods=["POST"]),
    Route("/api/v1/notifications/dismiss", dismiss, methods=["POST"]),
    Route("/api/v1/notifications/{id}", one, methods=["GET"]),
    Route("/api/v1/notifications/{id}/dismiss", dismiss, methods=["POST"]),
]
