"""The small endpoints apps call on start-up or in side panels: emojis, preferences,
trends, follow suggestions, the profile directory, hashtags (followed tags) and scheduled statuses.

Custom emojis have nothing behind them yet; they answer an empty list rather than 404, because
apps treat a 404 there as a broken server. Announcements are in fediverse.api.announcements.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import case, distinct, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from actors.relationships import dismiss_suggestion, not_dismissed_suggestion
from actors.tags import TagError, follow_tag, followed_among, followed_tags_query, normalize_tag, unfollow_tag
from fediverse.api.auth import Identity, authenticate, optional_identity
from fediverse.api.errors import ApiError, not_found
from fediverse.api.pagination import Page, link_header
from fediverse.api.search import hidden_authors, render_tags, truthy, visible_actors
from fediverse.api.serializers.accounts import account_to_api, iso
from fediverse.api.serializers.statuses import StatusRenderer, media_to_api
from fediverse.db import utcnow
from fediverse.models import (
    Actor,
    Attachment,
    Follow,
    Mute,
    ScheduledStatus,
    Status,
    StatusTag,
    TagFollow,
)
from fediverse.runtime import Runtime

TREND_DAYS = 7
DIRECTORY_ORDERS = ("active", "new")
SCHEDULE_MIN_DELAY = timedelta(minutes=5)


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _viewer_id(identity: Identity | None) -> int | None:
    return identity.actor.id if identity is not None and identity.actor is not None else None


def _int_param(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name, "")
    if raw == "":
        return default
    try:
        return max(0, min(int(raw), maximum))
    except ValueError:
        raise ApiError(422, f"Validation failed: {name} must be a number") from None


def _offset_link(request: Request, offset: int, limit: int, returned: int) -> dict[str, str]:
    """Link headers for offset-paginated lists (trends, directory), as Mastodon sends them."""
    base = _runtime(request).settings.base_url + request.url.path
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "offset"]
    links = []
    if returned >= limit > 0:
        links.append(f'<{base}?{urlencode([*params, ("offset", str(offset + limit))])}>; rel="next"')
    if offset > 0:
        links.append(f'<{base}?{urlencode([*params, ("offset", str(max(0, offset - limit)))])}>; rel="prev"')
    return {"Link": ", ".join(links)} if links else {}


async def _body(request: Request) -> dict[str, Any]:
    """JSON or form parameters (Mastodon accepts both; Mastodon.py sends forms)."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = await request.json()
        except ValueError:
            raise ApiError(400, "Request body is not valid JSON") from None
        return data if isinstance(data, dict) else {}
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _path_id(request: Request, name: str = "id") -> int:
    raw = request.path_params[name]
    if not raw.isdigit() or len(raw) > 19:
        raise not_found()
    return int(raw)


# -- emojis, preferences ---------------------------------------------------------------------

async def custom_emojis(request: Request) -> Response:
    await optional_identity(request)
    return JSONResponse([])


async def preferences(request: Request) -> Response:
    identity = await authenticate(request, "read:accounts")
    user = identity.user
    return JSONResponse({
        "posting:default:visibility": user.default_visibility if user else "public",
        "posting:default:sensitive": user.default_sensitive if user else False,
        "posting:default:language": (user.default_language if user else None) or None,
        "reading:expand:media": "default",
        "reading:expand:spoilers": False,
        "reading:autoplay:gifs": False,
    })


# -- hashtags: followed tags, one tag ----------------------------------------------------------

async def _tag_docs(session: AsyncSession, runtime: Runtime, names: list[str],
                    identity: Identity | None) -> list[dict[str, Any]]:
    """Tag entities with `following` for a logged-in viewer (render_tags does not know it)."""
    docs = await render_tags(session, runtime.settings, names, identity)
    viewer_id = _viewer_id(identity)
    if viewer_id is not None:
        followed = await followed_among(session, viewer_id, names)
        for doc in docs:
            doc["following"] = doc["name"] in followed
    return docs


def _tag_name(request: Request) -> str:
    try:
        return normalize_tag(request.path_params["name"])
    except TagError:
        raise not_found() from None


async def followed_tags(request: Request) -> Response:
    """The viewer's followed hashtags, most recently followed first."""
    runtime = _runtime(request)
    identity = await authenticate(request, "read:follows")
    page = Page.from_request(request, default=100, maximum=200)
    async with runtime.sessions() as session:
        query = page.apply(followed_tags_query(identity.actor_id), TagFollow.id)
        rows = page.order((await session.execute(query)).all())
        body = await _tag_docs(session, runtime, [name for _, name in rows], identity)
    return JSONResponse(body, headers=link_header(request, [row_id for row_id, _ in rows]))


async def show_tag(request: Request) -> Response:
    """A hashtag with its last week of use, known or not (as Mastodon: any valid name)."""
    runtime = _runtime(request)
    identity = await optional_identity(request)
    name = _tag_name(request)
    async with runtime.sessions() as session:
        return JSONResponse((await _tag_docs(session, runtime, [name], identity))[0])


async def _change_tag_follow(request: Request, *, following: bool) -> Response:
    runtime = _runtime(request)
    identity = await authenticate(request, "write:follows")
    name = _tag_name(request)
    async with runtime.transaction() as session:
        if following:
            await follow_tag(session, identity.actor_id, name)
        else:
            await unfollow_tag(session, identity.actor_id, name)
    async with runtime.sessions() as session:
        return JSONResponse((await _tag_docs(session, runtime, [name], identity))[0])


async def tag_follow(request: Request) -> Response:
    return await _change_tag_follow(request, following=True)


async def tag_unfollow(request: Request) -> Response:
    return await _change_tag_follow(request, following=False)


# -- trends ------------------------------------------------------------------------------------

def _trend_since() -> datetime:
    return utcnow() - timedelta(days=TREND_DAYS)


async def trending_tag_names(session: AsyncSession, limit: int, offset: int) -> list[str]:
    """Hashtags of public statuses of the last week, by number of authors then of uses."""
    query = (select(StatusTag.name).join(Status, Status.id == StatusTag.status_id)
             .join(Actor, Actor.id == Status.actor_id)
             .where(Status.visibility == "public", Status.published >= _trend_since(),
                    Status.reblog_of_id.is_(None), Actor.suspended_at.is_(None))
             .group_by(StatusTag.name)
             .order_by(func.count(distinct(Status.actor_id)).desc(), func.count(StatusTag.id).desc(), StatusTag.name)
             .offset(offset).limit(limit))
    return list(await session.scalars(query))


async def trends_tags(request: Request) -> Response:
    runtime = _runtime(request)
    identity = await optional_identity(request)
    limit = _int_param(request, "limit", 10, 20) or 10
    offset = _int_param(request, "offset", 0, 10_000)
    async with runtime.sessions() as session:
        names = await trending_tag_names(session, limit, offset)
        body = await _tag_docs(session, runtime, names, identity)
    return JSONResponse(body, headers=_offset_link(request, offset, limit, len(body)))


async def trends_statuses(request: Request) -> Response:
    """Local public statuses of the last week with the most boosts and favourites."""
    runtime = _runtime(request)
    identity = await optional_identity(request)
    viewer_id = _viewer_id(identity)
    limit = _int_param(request, "limit", 20, 40) or 20
    offset = _int_param(request, "offset", 0, 10_000)
    score = Status.reblogs_count + Status.favourites_count
    query = (select(Status).join(Actor, Actor.id == Status.actor_id)
             .where(Status.local.is_(True), Status.visibility == "public", Status.reblog_of_id.is_(None),
                    Status.published >= _trend_since(), score > 0,
                    Actor.suspended_at.is_(None), Actor.deleted_at.is_(None))
             .order_by(score.desc(), Status.id.desc()).offset(offset).limit(limit))
    if viewer_id is not None:
        query = query.where(~hidden_authors(viewer_id))
    async with runtime.sessions() as session:
        statuses = list(await session.scalars(query))
        body = await StatusRenderer(session, runtime.settings, viewer_id).render(statuses)
    return JSONResponse(body, headers=_offset_link(request, offset, limit, len(body)))


async def trends_links(request: Request) -> Response:
    """No preview cards are stored, so no link can trend."""
    await optional_identity(request)
    return JSONResponse([])


# -- suggestions -------------------------------------------------------------------------------

async def suggested_accounts(session: AsyncSession, viewer_id: int, limit: int) -> list[tuple[str, Actor]]:
    """Local associations first, then the local accounts that posted most recently; never someone
    the viewer already follows (or asked to), muted, blocked or dismissed."""
    base = [Actor.domain.is_(None), Actor.id != viewer_id, Actor.discoverable.is_(True),
            *visible_actors(viewer_id),
            ~exists().where(Follow.follower_id == viewer_id, Follow.followee_id == Actor.id),
            ~exists().where(Mute.actor_id == viewer_id, Mute.target_id == Actor.id),
            not_dismissed_suggestion(viewer_id)]
    associations = list(await session.scalars(
        select(Actor).where(*base, Actor.kind == "association")
        .order_by(Actor.followers_count.desc(), Actor.id).limit(limit)))
    found = [("association", a) for a in associations]
    if len(found) < limit:
        active = await session.scalars(
            select(Actor).where(*base, Actor.kind != "association", Actor.last_status_at.is_not(None))
            .order_by(Actor.last_status_at.desc(), Actor.id).limit(limit - len(found)))
        found += [("active", a) for a in active]
    return found


async def _suggestions(request: Request) -> tuple[Runtime, list[tuple[str, Actor]]]:
    runtime = _runtime(request)
    identity = await authenticate(request, "read")
    limit = _int_param(request, "limit", 40, 80) or 40
    viewer_id = identity.actor_id
    async with runtime.sessions() as session:
        found = await suggested_accounts(session, viewer_id, limit)
    return runtime, found


async def suggestions_v1(request: Request) -> Response:
    runtime, found = await _suggestions(request)
    return JSONResponse([account_to_api(actor, runtime.settings) for _, actor in found])


async def suggestions_v2(request: Request) -> Response:
    runtime, found = await _suggestions(request)
    return JSONResponse([
        {"source": "staff" if why == "association" else "global",
         "sources": ["featured"] if why == "association" else ["most_interactions"],
         "account": account_to_api(actor, runtime.settings)}
        for why, actor in found
    ])


async def suggestion_delete(request: Request) -> Response:
    """Stop suggesting an account to the viewer, for good (Mastodon answers {} even for unknown ids)."""
    identity = await authenticate(request, "read")
    raw = request.path_params["account_id"]
    if raw.isdigit() and len(raw) <= 19:
        await dismiss_suggestion(_runtime(request), identity.actor_id, int(raw))
    return JSONResponse({})


# -- directory ---------------------------------------------------------------------------------

async def directory(request: Request) -> Response:
    """Discoverable accounts; `kind` (resident, association, ...), `commune` (INSEE code), `theme` (sport,
    culture, ...) and `verified` (true/false) narrow it."""
    runtime = _runtime(request)
    identity = await optional_identity(request)
    params = request.query_params
    limit = _int_param(request, "limit", 40, 80) or 40
    offset = _int_param(request, "offset", 0, 100_000)
    order = params.get("order") or "active"
    if order not in DIRECTORY_ORDERS:
        raise ApiError(422, "Validation failed: order must be active or new")
    query = select(Actor).where(Actor.discoverable.is_(True), *visible_actors(_viewer_id(identity)))
    if truthy(params.get("local")):
        query = query.where(Actor.domain.is_(None))
    if params.get("kind"):
        query = query.where(Actor.kind == params["kind"])
    if params.get("commune"):
        query = query.where(Actor.commune_insee == params["commune"])
    if params.get("theme"):
        query = query.where(Actor.theme == params["theme"].strip().lower())
    if params.get("verified") is not None and params.get("verified") != "":
        # `verified=true`: only accounts an admin has verified (officials, associations, shops, collectivity).
        verified = truthy(params.get("verified"))
        query = query.where(Actor.verified_at.is_not(None) if verified else Actor.verified_at.is_(None))
    if order == "active":
        query = query.order_by(case((Actor.last_status_at.is_(None), 1), else_=0), Actor.last_status_at.desc(),
                               Actor.id.desc())
    else:
        query = query.order_by(Actor.published.desc(), Actor.id.desc())
    async with runtime.sessions() as session:
        actors = list(await session.scalars(query.offset(offset).limit(limit)))
    body = [account_to_api(a, runtime.settings) for a in actors]
    return JSONResponse(body, headers=_offset_link(request, offset, limit, len(body)))


# -- scheduled statuses ------------------------------------------------------------------------

def _as_str_id(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def scheduled_to_api(row: ScheduledStatus, media: list[Attachment], runtime: Runtime) -> dict[str, Any]:
    try:
        params = json.loads(row.params_json or "{}")
    except ValueError:
        params = {}
    params = params if isinstance(params, dict) else {}
    media_ids = [str(m) for m in json.loads(row.media_ids_json or "[]")]
    return {
        "id": str(row.id),
        "scheduled_at": iso(row.scheduled_at),
        "params": {
            "text": params.get("text", params.get("status", "")) or "",
            "poll": params.get("poll"),
            "media_ids": media_ids or None,
            "sensitive": params.get("sensitive"),
            "spoiler_text": params.get("spoiler_text"),
            "visibility": params.get("visibility"),
            "in_reply_to_id": _as_str_id(params.get("in_reply_to_id")),
            "language": params.get("language"),
            "application_id": _as_str_id(params.get("application_id")),
            "scheduled_at": None,
            "idempotency": params.get("idempotency"),
            "with_rate_limit": bool(params.get("with_rate_limit", False)),
        },
        "media_attachments": [media_to_api(m, runtime.settings) for m in media],
    }


async def _render_scheduled(session: AsyncSession, runtime: Runtime, rows: list[ScheduledStatus],
                            actor_id: int) -> list[dict[str, Any]]:
    wanted: set[int] = set()
    for row in rows:
        wanted.update(int(m) for m in json.loads(row.media_ids_json or "[]") if str(m).isdigit())
    media = {m.id: m for m in await session.scalars(select(Attachment).where(
        Attachment.id.in_(wanted), Attachment.actor_id == actor_id))} if wanted else {}
    return [scheduled_to_api(row, [media[int(m)] for m in json.loads(row.media_ids_json or "[]")
                                   if str(m).isdigit() and int(m) in media], runtime) for row in rows]


async def _own_scheduled(session: AsyncSession, request: Request, actor_id: int) -> ScheduledStatus:
    raw = request.path_params["id"]
    row = await session.get(ScheduledStatus, int(raw)) if raw.isdigit() and len(raw) <= 19 else None
    if row is None or row.actor_id != actor_id:
        raise not_found()
    return row


async def scheduled_statuses(request: Request) -> Response:
    runtime = _runtime(request)
    identity = await authenticate(request, "read:statuses")
    page = Page.from_request(request)
    async with runtime.sessions() as session:
        rows = page.order(list(await session.scalars(page.apply(
            select(ScheduledStatus).where(ScheduledStatus.actor_id == identity.actor_id), ScheduledStatus.id))))
        body = await _render_scheduled(session, runtime, rows, identity.actor_id)
    return JSONResponse(body, headers=link_header(request, [r.id for r in rows]))


async def scheduled_status(request: Request) -> Response:
    runtime = _runtime(request)
    if request.method == "GET":
        identity = await authenticate(request, "read:statuses")
        async with runtime.sessions() as session:
            row = await _own_scheduled(session, request, identity.actor_id)
            return JSONResponse((await _render_scheduled(session, runtime, [row], identity.actor_id))[0])
    identity = await authenticate(request, "write:statuses")
    if request.method == "DELETE":
        async with runtime.transaction() as session:
            await session.delete(await _own_scheduled(session, request, identity.actor_id))
        return JSONResponse({})
    body = await _body(request)
    when = _parse_datetime(body.get("scheduled_at"))
    if when is None or when < utcnow() + SCHEDULE_MIN_DELAY:
        raise ApiError(422, "Validation failed: Scheduled at The scheduled date must be in the future",
                       {"scheduled_at": [{"error": "ERR_INVALID",
                                          "description": "The scheduled date must be in the future"}]})
    async with runtime.transaction() as session:
        row = await _own_scheduled(session, request, identity.actor_id)
        row.scheduled_at = when
        await session.flush()
        rendered = (await _render_scheduled(session, runtime, [row], identity.actor_id))[0]
    return JSONResponse(rendered)


def _parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


routes: list[BaseRoute] = [
    Route("/api/v1/custom_emojis", custom_emojis, methods=["GET"]),
    Route("/api/v1/preferences", preferences, methods=["GET"]),
    Route("/api/v1/followed_tags", followed_tags, methods=["GET"]),
    Route("/api/v1/tags/{name}", show_tag, methods=["GET"]),
    Route("/api/v1/tags/{name}/follow", tag_follow, methods=["POST"]),
    Route("/api/v1/tags/{name}/unfollow", tag_unfollow, methods=["POST"]),
    Route("/api/v1/trends", trends_tags, methods=["GET"]),
    Route("/api/v1/trends/tags", trends_tags, methods=["GET"]),
    Route("/api/v1/trends/statuses", trends_statuses, methods=["GET"]),
    Route("/api/v1/trends/links", trends_links, methods=["GET"]),
    Route("/api/v1/suggestions", suggestions_v1, methods=["GET"]),
    Route("/api/v2/suggestions", suggestions_v2, methods=["GET"]),
    Route("/api/v1/suggestions/{account_id}", suggestion_delete, methods=["DELETE"]),
    Route("/api/v1/directory", directory, methods=["GET"]),
    Route("/api/v1/scheduled_statuses", scheduled_statuses, methods=["GET"]),
    Route("/api/v1/scheduled_statuses/{id}", scheduled_status, methods=["GET", "PUT", "DELETE"]),
]
