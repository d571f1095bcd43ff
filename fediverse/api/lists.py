"""Mastodon client API: lists of followed accounts (`/api/v1/lists`) and their members.

The first list is built in: "Voisinage" (id `neighbourhood`), whose timeline is the resident's
neighbourhood timeline, so any Mastodon app shows it. It is maintained automatically: it cannot be
renamed, deleted or given members (422), and it has no members to list.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from actors import timelines as domain
from actors.neighbourhood import NEIGHBOURHOOD_LIST_ID, NEIGHBOURHOOD_LIST_TITLE
from fediverse.api.auth import authenticate
from fediverse.api.domain_calls import reading, runtime_of, writing
from fediverse.api.errors import unprocessable
from fediverse.api.pagination import Page, link_header
from fediverse.api.params import boolean, id_value, path_id, read_params, string, strings
from fediverse.api.serializers.accounts import account_to_api
from fediverse.models import UserList

MEMBERS_DEFAULT_LIMIT = 40
MEMBERS_MAX_LIMIT = 80


BUILT_IN_REFUSAL = (f"the {NEIGHBOURHOOD_LIST_TITLE} list is maintained automatically from your neighbourhood: "
                    "change it with PUT /api/v1/neighbourhood")


def list_to_api(row: UserList) -> dict[str, Any]:
    return {"id": str(row.id), "title": row.title, "replies_policy": row.replies_policy, "exclusive": row.exclusive}


def neighbourhood_list() -> dict[str, Any]:
    return {"id": NEIGHBOURHOOD_LIST_ID, "title": NEIGHBOURHOOD_LIST_TITLE, "replies_policy": "none",
            "exclusive": False}


def _built_in(request: Request) -> bool:
    return request.path_params.get("id") == NEIGHBOURHOOD_LIST_ID


async def index(request: Request) -> Response:
    identity = await authenticate(request, "read:lists")
    async with reading(request) as session:
        rows = await domain.lists_of(session, identity.actor_id)
    return JSONResponse([neighbourhood_list(), *(list_to_api(r) for r in rows)])


async def create(request: Request) -> Response:
    identity = await authenticate(request, "write:lists")
    params = await read_params(request)
    title = string(params, "title")
    if title is None:
        raise unprocessable("Title can't be blank", "title")
    async with writing(request) as session:
        row = await domain.create_list(session, identity.actor_id, title, _policy(params),
                                       boolean(params.get("exclusive")))
    return JSONResponse(list_to_api(row))


def _policy(params: dict[str, Any]) -> str | None:
    return string(params, "replies_policy") or None


async def one(request: Request) -> Response:
    """GET, PUT and DELETE /api/v1/lists/:id."""
    if _built_in(request):
        if request.method == "GET":
            await authenticate(request, "read:lists")
            return JSONResponse(neighbourhood_list())
        await authenticate(request, "write:lists")
        raise unprocessable(BUILT_IN_REFUSAL)
    list_id = path_id(request)
    if request.method == "GET":
        identity = await authenticate(request, "read:lists")
        async with reading(request) as session:
            row = await domain.get_list(session, identity.actor_id, list_id)
        return JSONResponse(list_to_api(row))
    identity = await authenticate(request, "write:lists")
    if request.method == "DELETE":
        async with writing(request) as session:
            await domain.delete_list(session, identity.actor_id, list_id)
        return JSONResponse({})
    params = await read_params(request)
    exclusive = params.get("exclusive")
    async with writing(request) as session:
        row = await domain.update_list(session, identity.actor_id, list_id, title=string(params, "title"),
                                       replies_policy=_policy(params),
                                       exclusive=None if exclusive is None else boolean(exclusive))
    return JSONResponse(list_to_api(row))


async def accounts(request: Request) -> Response:
    """GET (paginated by account id; limit=0 for all), POST and DELETE `account_ids[]`."""
    if _built_in(request):
        if request.method == "GET":
            await authenticate(request, "read:lists")
            return JSONResponse([])
        await authenticate(request, "write:lists")
        raise unprocessable(BUILT_IN_REFUSAL)
    list_id = path_id(request)
    if request.method == "GET":
        identity = await authenticate(request, "read:lists")
        everything = request.query_params.get("limit") == "0"
        page = None if everything else Page.from_request(request, MEMBERS_DEFAULT_LIMIT, MEMBERS_MAX_LIMIT)
        settings = runtime_of(request).settings
        async with reading(request) as session:
            members = await domain.list_accounts(session, identity.actor_id, list_id, page)
        headers = {} if everything else link_header(request, [a.id for a in members])
        return JSONResponse([account_to_api(a, settings) for a in members], headers=headers)
    identity = await authenticate(request, "write:lists")
    params = await read_params(request)
    ids = [id_value(v, "account_ids") for v in strings(params, "account_ids")]
    async with writing(request) as session:
        if request.method == "POST":
            await domain.add_list_accounts(session, identity.actor_id, list_id, ids)
        else:
            await domain.remove_list_accounts(session, identity.actor_id, list_id, ids)
    return JSONResponse({})


async def lists_with_account(request: Request) -> Response:
    """GET /api/v1/accounts/:id/lists: the viewer's lists this account belongs to."""
    identity = await authenticate(request, "read:lists")
    account_id = path_id(request)
    async with reading(request) as session:
        rows = await domain.lists_containing(session, identity.actor_id, account_id)
    return JSONResponse([list_to_api(r) for r in rows])


routes: list[BaseRoute] = [
    Route("/api/v1/lists", index, methods=["GET"]),
    Route("/api/v1/lists", create, methods=["POST"]),
    Route("/api/v1/lists/{id}", one, methods=["GET", "PUT", "DELETE"]),
    Route("/api/v1/lists/{id}/accounts", accounts, methods=["GET", "POST", "DELETE"]),
    Route("/api/v1/accounts/{id}/lists", lists_with_account, methods=["GET"]),
]
