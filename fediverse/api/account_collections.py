"""Mastodon client API: the viewer's own collections — the accounts they block, mute and endorse,
their featured tags, and the statuses they favourited or bookmarked. Each is paginated on the id
of the row that links it to the viewer (so `max_id` pages through blocks, not through accounts).
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from actors.relationships import active_mute, endorsements_query
from fediverse.api.account_common import account_page
from fediverse.api.auth import authenticate
from fediverse.api.domain_calls import runtime_of
from fediverse.api.pagination import Page, link_header
from fediverse.api.serializers.accounts import iso
from fediverse.api.serializers.statuses import StatusRenderer
from fediverse.models import Actor, Block, Bookmark, Endorsement, Favourite, Mute, Status


async def blocks(request: Request) -> JSONResponse:
    identity = await authenticate(request, "read:blocks")
    page = Page.from_request(request, default=40, maximum=80)
    stmt = (select(Block.id, Actor).join(Actor, Actor.id == Block.target_id)
            .where(Block.actor_id == identity.actor_id, Actor.deleted_at.is_(None)))
    return await account_page(request, runtime_of(request), page, stmt, Block.id)


async def mutes(request: Request) -> JSONResponse:
    identity = await authenticate(request, "read:mutes")
    page = Page.from_request(request, default=40, maximum=80)
    stmt = (select(Mute.id, Actor, Mute.expires_at).join(Actor, Actor.id == Mute.target_id)
            .where(Mute.actor_id == identity.actor_id, active_mute(), Actor.deleted_at.is_(None)))
    return await account_page(request, runtime_of(request), page, stmt, Mute.id,
                              extra=lambda row: {"mute_expires_at": iso(row[2])})


async def endorsements(request: Request) -> JSONResponse:
    """The accounts the viewer features on their profile, newest first."""
    identity = await authenticate(request, "read:accounts")
    page = Page.from_request(request, default=40, maximum=80)
    return await account_page(request, runtime_of(request), page, endorsements_query(identity.actor_id),
                              Endorsement.id)


async def own_featured_tags(request: Request) -> JSONResponse:
    await authenticate(request, "read:accounts")
    return JSONResponse([])


async def _status_page(request: Request, model: type[Favourite] | type[Bookmark], scope: str) -> JSONResponse:
    identity = await authenticate(request, scope)
    runtime = runtime_of(request)
    page = Page.from_request(request, default=20, maximum=40)
    stmt = select(model.id, Status).join(Status, Status.id == model.status_id).where(
        model.actor_id == identity.actor_id)
    async with runtime.sessions() as session:
        rows = page.order((await session.execute(page.apply(stmt, model.id))).all())
        docs = await StatusRenderer(session, runtime.settings, identity.actor_id).render([s for _, s in rows])
    return JSONResponse(docs, headers=link_header(request, [row_id for row_id, _ in rows]))


async def favourites(request: Request) -> JSONResponse:
    return await _status_page(request, Favourite, "read:favourites")


async def bookmarks(request: Request) -> JSONResponse:
    return await _status_page(request, Bookmark, "read:bookmarks")


routes: list[BaseRoute] = [
    Route("/api/v1/blocks", blocks, methods=["GET"]),
    Route("/api/v1/mutes", mutes, methods=["GET"]),
    Route("/api/v1/endorsements", endorsements, methods=["GET"]),
    Route("/api/v1/featured_tags", own_featured_tags, methods=["GET"]),
    Route("/api/v1/favourites", favourites, methods=["GET"]),
    Route("/api/v1/bookmarks", bookmarks, methods=["GET"]),
]
