"""Mastodon client API: content filters, v2 (`/api/v2/filters` with keywords and statuses) and the
v1 view of the same keywords (`/api/v1/filters`, which many clients still call).

The filters are applied where statuses are read (timelines, notifications): see
`actors.timelines.FilterSet`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from actors import timelines as domain
from fediverse.api.auth import Identity, authenticate
from fediverse.api.domain_calls import reading, writing
from fediverse.api.errors import ApiError
from fediverse.api.params import as_list, boolean, id_value, path_id, read_params, string, strings
from fediverse.api.serializers.filters import filter_status_to_api, filter_to_api, keyword_to_api, legacy_filter_to_api


def _expiry(params: dict[str, Any]) -> dict[str, Any]:
    """`expires_in` seconds; present but empty means "never" (so an update can remove the expiry)."""
    if "expires_in" not in params:
        return {"set_expiry": False}
    value = params["expires_in"]
    if value in (None, ""):
        return {"set_expiry": True, "expires_in": None}
    return {"set_expiry": True, "expires_in": id_value(value, "expires_in")}


def _keyword_changes(params: dict[str, Any]) -> list[domain.KeywordChange]:
    changes = []
    for item in as_list(params.get("keywords_attributes")):
        if not isinstance(item, dict):
            continue
        raw_id = item.get("id")
        whole_word = item.get("whole_word")
        changes.append(domain.KeywordChange(
            id=id_value(raw_id, "keywords_attributes") if raw_id not in (None, "") else None,
            keyword=string(item, "keyword"),
            whole_word=None if whole_word is None else boolean(whole_word),
            destroy=boolean(item.get("_destroy"))))
    return changes


def _context(params: dict[str, Any]) -> list[str] | None:
    return strings(params, "context") if "context" in params else None


async def _identity(request: Request) -> Identity:
    """`read:filters` to read, `write:filters` to change."""
    return await authenticate(request, "read:filters" if request.method == "GET" else "write:filters")


async def _write(request: Request, action: Any) -> Any:
    """Run a write in one transaction, domain errors as 404/422."""
    async with writing(request) as session:
        return await action(session)


async def _read(request: Request, action: Any) -> Any:
    async with reading(request) as session:
        return await action(session)


async def _filter(request: Request, identity: Identity, filter_id: int) -> domain.FilterRules:
    return await _read(request, lambda s: domain.get_filter(s, identity.actor_id, filter_id))


# -- v2 --------------------------------------------------------------------------------------------


async def filters_v2(request: Request) -> Response:
    identity = await _identity(request)
    if request.method == "GET":
        rules = await _read(request, lambda s: domain.filters_of(s, identity.actor_id))
        return JSONResponse([filter_to_api(r) for r in rules])
    params = await read_params(request)
    rules = await _write(request, lambda s: domain.save_filter(
        s, identity.actor_id, None, title=string(params, "title") or "", context=_context(params) or [],
        action=string(params, "filter_action"), keywords=_keyword_changes(params), **_expiry(params)))
    return JSONResponse(filter_to_api(rules))


async def filter_v2(request: Request) -> Response:
    filter_id = path_id(request)
    identity = await _identity(request)
    if request.method == "GET":
        return JSONResponse(filter_to_api(await _filter(request, identity, filter_id)))
    if request.method == "DELETE":
        await _write(request, lambda s: domain.delete_filter(s, identity.actor_id, filter_id))
        return JSONResponse({})
    params = await read_params(request)
    rules = await _write(request, lambda s: domain.save_filter(
        s, identity.actor_id, filter_id, title=string(params, "title"), context=_context(params),
        action=string(params, "filter_action"), keywords=_keyword_changes(params), **_expiry(params)))
    return JSONResponse(filter_to_api(rules))


async def filter_keywords(request: Request) -> Response:
    filter_id = path_id(request)
    identity = await _identity(request)
    if request.method == "GET":
        return JSONResponse([keyword_to_api(k) for k in (await _filter(request, identity, filter_id)).keywords])
    params = await read_params(request)
    row = await _write(request, lambda s: domain.add_keyword(
        s, identity.actor_id, filter_id, string(params, "keyword") or "", boolean(params.get("whole_word"), True)))
    return JSONResponse(keyword_to_api(row))


async def keyword(request: Request) -> Response:
    keyword_id = path_id(request)
    identity = await _identity(request)
    if request.method == "GET":
        row, _ = await _read(request, lambda s: domain.get_keyword(s, identity.actor_id, keyword_id))
        return JSONResponse(keyword_to_api(row))
    if request.method == "DELETE":
        await _write(request, lambda s: domain.delete_keyword(s, identity.actor_id, keyword_id))
        return JSONResponse({})
    params = await read_params(request)
    whole_word = params.get("whole_word")
    row = await _write(request, lambda s: domain.update_keyword(
        s, identity.actor_id, keyword_id, string(params, "keyword"),
        None if whole_word is None else boolean(whole_word)))
    return JSONResponse(keyword_to_api(row))


async def filter_statuses(request: Request) -> Response:
    filter_id = path_id(request)
    identity = await _identity(request)
    if request.method == "GET":
        items = (await _filter(request, identity, filter_id)).statuses
        return JSONResponse([filter_status_to_api(item) for item in items])
    status_id = id_value((await read_params(request)).get("status_id"), "status_id")
    row = await _write(request, lambda s: domain.add_filter_status(s, identity.actor_id, filter_id, status_id))
    return JSONResponse(filter_status_to_api(row))


async def filter_status(request: Request) -> Response:
    item_id = path_id(request)
    identity = await _identity(request)
    if request.method == "GET":
        row = await _read(request, lambda s: domain.get_filter_status(s, identity.actor_id, item_id))
        return JSONResponse(filter_status_to_api(row))
    await _write(request, lambda s: domain.delete_filter_status(s, identity.actor_id, item_id))
    return JSONResponse({})


# -- v1 --------------------------------------------------------------------------------------------


async def filters_v1(request: Request) -> Response:
    identity = await _identity(request)
    if request.method == "GET":
        rules = await _read(request, lambda s: domain.filters_of(s, identity.actor_id))
        return JSONResponse([legacy_filter_to_api(k, r.row, r.context) for r in rules for k in r.keywords])
    params = await read_params(request)
    phrase = string(params, "phrase") or ""
    if not phrase.strip():
        raise ApiError(422, "Validation failed: Keywords keyword can't be blank")
    irreversible = boolean(params.get("irreversible"))
    rules = await _write(request, lambda s: domain.save_filter(
        s, identity.actor_id, None, title=phrase, context=_context(params) or [],
        action="hide" if irreversible else "warn", **_expiry(params),
        keywords=[domain.KeywordChange(keyword=phrase, whole_word=boolean(params.get("whole_word"), True))]))
    return JSONResponse(legacy_filter_to_api(rules.keywords[-1], rules.row, rules.context))


async def filter_v1(request: Request) -> Response:
    keyword_id = path_id(request)
    identity = await _identity(request)
    if request.method == "GET":
        row, owner = await _read(request, lambda s: domain.get_keyword(s, identity.actor_id, keyword_id))
        return JSONResponse(legacy_filter_to_api(row, owner, domain.FilterRules(owner).context))
    if request.method == "DELETE":
        await _write(request, lambda s: domain.delete_keyword(s, identity.actor_id, keyword_id,
                                                              drop_empty_filter=True))
        return JSONResponse({})
    params = await read_params(request)

    async def change(session: Any) -> dict[str, Any]:
        row, owner = await domain.get_keyword(session, identity.actor_id, keyword_id)
        whole_word = params.get("whole_word")
        irreversible = params.get("irreversible")
        rules = await domain.save_filter(
            session, identity.actor_id, owner.id, context=_context(params),
            action=None if irreversible is None else ("hide" if boolean(irreversible) else "warn"),
            keywords=[domain.KeywordChange(row.id, string(params, "phrase"),
                                           None if whole_word is None else boolean(whole_word))],
            **_expiry(params))
        updated = next(k for k in rules.keywords if k.id == row.id)
        return legacy_filter_to_api(updated, rules.row, rules.context)

    return JSONResponse(await _write(request, change))


routes: list[BaseRoute] = [
    Route("/api/v2/filters", filters_v2, methods=["GET", "POST"]),
    Route("/api/v2/filters/keywords/{id}", keyword, methods=["GET", "PUT", "DELETE"]),
    Route("/api/v2/filters/statuses/{id}", filter_status, methods=["GET", "DELETE"]),
    Route("/api/v2/filters/{id}", filter_v2, methods=["GET", "PUT", "DELETE"]),
    Route("/api/v2/filters/{id}/keywords", filter_keywords, methods=["GET", "POST"]),
    Route("/api/v2/filters/{id}/statuses", filter_statuses, methods=["GET", "POST"]),
    Route("/api/v1/filters", filters_v1, methods=["GET", "POST"]),
    Route("/api/v1/filters/{id}", filter_v1, methods=["GET", "PUT", "DELETE"]),
]
