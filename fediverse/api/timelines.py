"""Mastodon client API: home, public, hashtag and list timelines, and the neighbourhood ("voisinage")
timeline, also readable as the built-in list `neighbourhood`."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from actors.neighbourhood import NEIGHBOURHOOD_LIST_ID
from actors.timelines import (
    FilterSet,
    home_timeline,
    list_timeline,
    neighbourhood_timeline,
    normalize_tags,
    public_timeline,
    tag_timeline,
)
from fediverse.api.auth import authenticate, optional_identity, viewer_of
from fediverse.api.domain_calls import reading, runtime_of
from fediverse.api.pagination import Page, link_header
from fediverse.api.params import boolean, path_id, strings, unfold
from fediverse.api.serializers.statuses import render_statuses
from fediverse.models import Status


async def _respond(request: Request, session: AsyncSession, viewer_id: int | None, statuses: list[Status],
                   filters: FilterSet) -> Response:
    docs = await render_statuses(session, runtime_of(request).settings, viewer_id, statuses, filters)
    return JSONResponse(docs, headers=link_header(request, [s.id for s in statuses]))


async def home(request: Request) -> Response:
    identity = await authenticate(request, "read:statuses")
    page = Page.from_request(request)
    async with reading(request) as session:
        filters = await FilterSet.load(session, identity.actor_id, "home")
        statuses = await home_timeline(session, identity.actor_id, page, filters)
        return await _respond(request, session, identity.actor_id, statuses, filters)


def _feed_options(request: Request) -> dict[str, bool]:
    query = request.query_params
    return {"local": boolean(query.get("local")), "remote": boolean(query.get("remote")),
            "only_media": boolean(query.get("only_media"))}


async def public(request: Request) -> Response:
    """The public timeline; anonymous readers are allowed (Mastodon's default setting)."""
    viewer_id = viewer_of(await optional_identity(request, "read:statuses"))
    page = Page.from_request(request)
    async with reading(request) as session:
        filters = await FilterSet.load(session, viewer_id, "public")
        statuses = await public_timeline(session, viewer_id, page, filters=filters, **_feed_options(request))
        return await _respond(request, session, viewer_id, statuses, filters)


async def hashtag(request: Request) -> Response:
    viewer_id = viewer_of(await optional_identity(request, "read:statuses"))
    page = Page.from_request(request)
    params = unfold(request.query_params.multi_items())
    any_tags = normalize_tags([request.path_params["hashtag"], *strings(params, "any")])
    all_tags = normalize_tags(strings(params, "all"))
    none_tags = normalize_tags(strings(params, "none"))
    async with reading(request) as session:
        filters = await FilterSet.load(session, viewer_id, "public")
        statuses = await tag_timeline(session, viewer_id, page, any_tags=any_tags, all_tags=all_tags,
                                      none_tags=none_tags, filters=filters, **_feed_options(request))
        return await _respond(request, session, viewer_id, statuses, filters)


async def neighbourhood(request: Request) -> Response:
    """Public statuses located in the viewer's neighbourhood (extension; see fediverse.api.neighbourhood)."""
    identity = await authenticate(request, "read:statuses")
    return await _neighbourhood_feed(request, identity.actor_id)


async def _neighbourhood_feed(request: Request, viewer_id: int) -> Response:
    page = Page.from_request(request)
    async with reading(request) as session:
        filters = await FilterSet.load(session, viewer_id, "public")
        statuses = await neighbourhood_timeline(session, viewer_id, page, filters)
        return await _respond(request, session, viewer_id, statuses, filters)


async def list_feed(request: Request) -> Response:
    identity = await authenticate(request, "read:lists")
    if request.path_params.get("id") == NEIGHBOURHOOD_LIST_ID:
        return await _neighbourhood_feed(request, identity.actor_id)
    list_id = path_id(request)
    page = Page.from_request(request)
    async with reading(request) as session:
        filters = await FilterSet.load(session, identity.actor_id, "home")
        statuses = await list_timeline(session, identity.actor_id, list_id, page, filters)
        return await _respond(request, session, identity.actor_id, statuses, filters)


routes: list[BaseRoute] = [
    Route("/api/v1/timelines/home", home, methods=["GET"]),
    Route("/api/v1/timelines/public", public, methods=["GET"]),
    Route("/api/v1/timelines/tag/{hashtag}", hashtag, methods=["GET"]),
    Route("/api/v1/timelines/list/{id}", list_feed, methods=["GET"]),
    Route("/api/v1/timelines/neighbourhood", neighbourhood, methods=["GET"]),
]
