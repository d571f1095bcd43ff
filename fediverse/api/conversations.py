"""Mastodon client API: direct-message conversations (`/api/v1/conversations`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from actors import timelines as domain
from fediverse.api.auth import authenticate
from fediverse.api.domain_calls import runtime_of, writing
from fediverse.api.pagination import Page, link_header
from fediverse.api.params import path_id
from fediverse.api.serializers.accounts import account_to_api
from fediverse.api.serializers.statuses import render_statuses
from fediverse.config import Settings

DEFAULT_LIMIT = 20
MAX_LIMIT = 40


async def _render(session: AsyncSession, settings: Settings, viewer_id: int,
                  views: list[domain.ConversationView]) -> list[dict[str, Any]]:
    statuses = await render_statuses(session, settings, viewer_id, [v.last_status for v in views])
    by_id = {doc["id"]: doc for doc in statuses}
    return [{"id": str(v.state.id), "unread": v.state.unread,
             "accounts": [account_to_api(a, settings) for a in v.accounts],
             "last_status": by_id.get(str(v.last_status.id))} for v in views]


async def index(request: Request) -> Response:
    """Conversations are brought up to date while reading, so this GET writes (in one transaction)."""
    identity = await authenticate(request, "read:statuses")
    page = Page.from_request(request, DEFAULT_LIMIT, MAX_LIMIT)
    settings = runtime_of(request).settings
    async with writing(request) as session:
        views = await domain.conversations_page(session, identity.actor_id, page)
        docs = await _render(session, settings, identity.actor_id, views)
    return JSONResponse(docs, headers=link_header(request, [v.last_status.id for v in views]))


async def remove(request: Request) -> Response:
    identity = await authenticate(request, "write:conversations")
    state_id = path_id(request)
    async with writing(request) as session:
        await domain.hide_conversation(session, identity.actor_id, state_id)
    return JSONResponse({})


async def read(request: Request) -> Response:
    identity = await authenticate(request, "write:conversations")
    state_id = path_id(request)
    settings = runtime_of(request).settings
    async with writing(request) as session:
        view = await domain.read_conversation(session, identity.actor_id, state_id)
        if view is None:
            raise domain.Missing("Record not found")
        docs = await _render(session, settings, identity.actor_id, [view])
    return JSONResponse(docs[0])


routes: list[BaseRoute] = [
    Route("/api/v1/conversations", index, methods=["GET"]),
    Route("/api/v1/conversations/{id}", remove, methods=["DELETE"]),
    Route("/api/v1/conversations/{id}/read", read, methods=["POST"]),
]
