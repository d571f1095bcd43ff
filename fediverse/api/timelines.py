"""Mastodon client API: home, public, hashtag and list timelines.

Also the request helpers the reading-side modules share (Rails-style parameters, statuses
rendered with the viewer's filter results), since every one of them renders statuses the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from actors.timelines import (
    FilterMatch,
    FilterRules,
    FilterSet,
    Missing,
    TimelineError,
    home_timeline,
    list_timeline,
    normalize_tags,
    public_timeline,
    tag_timeline,
)
from fediverse.api.auth import authenticate, optional_identity
from fediverse.api.errors import ApiError, not_found, unprocessable
from fediverse.api.pagination import Page, link_header
from fediverse.api.serializers.accounts import iso
from fediverse.api.serializers.statuses import StatusRenderer
from fediverse.config import Settings
from fediverse.models import Status
from fediverse.runtime import Runtime

_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART_RE = re.compile(r"\[([^\[\]]*)\]")
FALSE_VALUES = frozenset({"", "0", "f", "false", "off"})  # Rails' boolean casting


# -- request parameters ----------------------------------------------------------------------------


def _assign(target: dict[str, Any], parts: list[str], value: Any) -> None:
    """Place one Rails-style parameter: `a[]` appends, `a[b]` nests, `a[][b]` starts a new hash when b repeats."""
    head, rest = parts[0], parts[1:]
    if not rest:
        target[head] = value
        return
    if rest[0] == "":
        items = target.get(head)
        if not isinstance(items, list):
            items = target[head] = []
        if len(rest) == 1:
            items.append(value)
            return
        if not items or not isinstance(items[-1], dict) or rest[1] in items[-1]:
            items.append({})
        _assign(items[-1], rest[1:], value)
        return
    child = target.get(head)
    if not isinstance(child, dict):
        child = target[head] = {}
    _assign(child, rest, value)


def unfold(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Rails-style flat keys (`home[last_read_id]`, `account_ids[]`, `keywords_attributes[0][keyword]`) as
    nested dicts and lists, which is how every Mastodon client encodes form and query parameters."""
    result: dict[str, Any] = {}
    for key, value in items:
        match = _KEY_RE.match(key)
        if not match:
            result[key] = value
            continue
        _assign(result, [match.group(1), *_PART_RE.findall(match.group(2))], value)
    return result


async def read_params(request: Request) -> dict[str, Any]:
    """Query string merged with the body (JSON, urlencoded or multipart), as Mastodon reads them."""
    params = unfold(request.query_params.multi_items())
    if request.method in ("GET", "HEAD"):
        return params
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        body = await request.body()
        if body.strip():
            try:
                data = json.loads(body)
            except ValueError:
                raise ApiError(400, "Invalid JSON body") from None
            if not isinstance(data, dict):
                raise ApiError(400, "Invalid JSON body")
            params.update(data)
    elif content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        params.update(unfold((k, v) for k, v in form.multi_items() if isinstance(v, str)))
    return params


def as_list(value: Any) -> list[Any]:
    """A parameter that may come as a list, a single value, or an index-keyed dict (`a[0]=..`)."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value[k] for k in sorted(value, key=lambda k: int(k) if str(k).isdigit() else 0)]
    return [value]


def strings(params: dict[str, Any], name: str) -> list[str]:
    return [str(v) for v in as_list(params.get(name)) if isinstance(v, str | int) and str(v)]


def boolean(value: Any, default: bool = False) -> bool:
    """Rails' boolean casting: only a few spellings of false are false."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() not in FALSE_VALUES


def id_value(value: Any, name: str = "id") -> int:
    text = str(value) if isinstance(value, int | str) else ""
    if not text.isdigit() or len(text) > 19:
        raise unprocessable(f"{name} must be an id", name)
    return int(text)


def path_id(request: Request, name: str = "id") -> int:
    """Ids in paths are numbers; anything else is a record that does not exist."""
    text = request.path_params.get(name, "")
    if not isinstance(text, str) or not text.isdigit() or len(text) > 19:
        raise not_found()
    return int(text)


def domain_errors(exc: TimelineError) -> ApiError:
    return not_found(str(exc)) if isinstance(exc, Missing) else unprocessable(str(exc))


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


# -- filters as entities ---------------------------------------------------------------------------


def filter_to_api(rules: FilterRules, *, with_rules: bool = True) -> dict[str, Any]:
    """Mastodon's Filter (v2); inside a FilterResult it comes without keywords and statuses."""
    doc: dict[str, Any] = {
        "id": str(rules.row.id),
        "title": rules.row.title,
        "context": rules.context,
        "expires_at": iso(rules.row.expires_at),
        "filter_action": rules.row.action,
    }
    if with_rules:
        doc["keywords"] = [{"id": str(k.id), "keyword": k.keyword, "whole_word": k.whole_word}
                           for k in rules.keywords]
        doc["statuses"] = [{"id": str(s.id), "status_id": str(s.status_id)} for s in rules.statuses]
    return doc


def filter_result_to_api(match: FilterMatch) -> dict[str, Any]:
    return {"filter": filter_to_api(match.rules, with_rules=False), "keyword_matches": match.keyword_matches,
            "status_matches": match.status_matches}


async def render_statuses(session: AsyncSession, settings: Settings, viewer_id: int | None,
                          statuses: Sequence[Status], filters: FilterSet | None = None) -> list[dict[str, Any]]:
    """Statuses as entities; a matching warn filter goes into `filtered` of the status it judged
    (the boosted one for a boost, as Mastodon does)."""
    docs = await StatusRenderer(session, settings, viewer_id).render(statuses)
    if not filters:
        return docs
    pending = [s for s in statuses if (s.reblog_of_id or s.id) not in filters.results]
    if pending:
        await filters.keep(pending)
    for doc in docs:
        target = doc["reblog"] or doc
        target["filtered"] = [filter_result_to_api(m) for m in filters.matches(int(target["id"]))]
    return docs


# -- timelines -------------------------------------------------------------------------------------


async def _respond(request: Request, session: AsyncSession, viewer_id: int | None, statuses: list[Status],
                   filters: FilterSet) -> Response:
    docs = await render_statuses(session, runtime_of(request).settings, viewer_id, statuses, filters)
    return JSONResponse(docs, headers=link_header(request, [s.id for s in statuses]))


async def home(request: Request) -> Response:
    identity = await authenticate(request, "read:statuses")
    page = Page.from_request(request)
    async with runtime_of(request).sessions() as session:
        filters = await FilterSet.load(session, identity.actor_id, "home")
        statuses = await home_timeline(session, identity.actor_id, page, filters)
        return await _respond(request, session, identity.actor_id, statuses, filters)


def _feed_options(request: Request) -> dict[str, bool]:
    query = request.query_params
    return {"local": boolean(query.get("local")), "remote": boolean(query.get("remote")),
            "only_media": boolean(query.get("only_media"))}


async def public(request: Request) -> Response:
    """The public timeline; anonymous readers are allowed (Mastodon's default setting)."""
    identity = await optional_identity(request, "read:statuses")
    viewer_id = identity.actor.id if identity and identity.actor else None
    page = Page.from_request(request)
    async with runtime_of(request).sessions() as session:
        filters = await FilterSet.load(session, viewer_id, "public")
        statuses = await public_timeline(session, viewer_id, page, filters=filters, **_feed_options(request))
        return await _respond(request, session, viewer_id, statuses, filters)


async def hashtag(request: Request) -> Response:
    identity = await optional_identity(request, "read:statuses")
    viewer_id = identity.actor.id if identity and identity.actor else None
    page = Page.from_request(request)
    params = unfold(request.query_params.multi_items())
    any_tags = normalize_tags([request.path_params["hashtag"], *strings(params, "any")])
    all_tags = normalize_tags(strings(params, "all"))
    none_tags = normalize_tags(strings(params, "none"))
    async with runtime_of(request).sessions() as session:
        filters = await FilterSet.load(session, viewer_id, "public")
        statuses = await tag_timeline(session, viewer_id, page, any_tags=any_tags, all_tags=all_tags,
                                      none_tags=none_tags, filters=filters, **_feed_options(request))
        return await _respond(request, session, viewer_id, statuses, filters)


async def list_feed(request: Request) -> Response:
    identity = await authenticate(request, "read:lists")
    list_id = path_id(request)
    page = Page.from_request(request)
    async with runtime_of(request).sessions() as session:
        filters = await FilterSet.load(session, identity.actor_id, "home")
        try:
            statuses = await list_timeline(session, identity.actor_id, list_id, page, filters)
        except TimelineError as exc:
            raise domain_errors(exc) from None
        return await _respond(request, session, identity.actor_id, statuses, filters)


routes: list[BaseRoute] = [
    Route("/api/v1/timelines/home", home, methods=["GET"]),
    Route("/api/v1/timelines/public", public, methods=["GET"]),
    Route("/api/v1/timelines/tag/{hashtag}", hashtag, methods=["GET"]),
    Route("/api/v1/timelines/list/{id}", list_feed, methods=["GET"]),
]
