"""Search (`/api/v2/search`, and the old `/api/v1/search`): accounts, hashtags and statuses.

Everything here runs on plain `LIKE` so it works unchanged on SQLite and PostgreSQL; the
territory's volume (thousands of accounts, not millions) does not need a search engine.
With `resolve=true`, a handle (`user@domain`) is looked up by WebFinger and a URL is fetched
from its origin, which is how people find accounts and posts of other servers.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from actors.remote import ActorResolver
from fediverse.api.auth import Identity, optional_identity, viewer_of
from fediverse.api.errors import ApiError
from fediverse.api.pagination import Page
from fediverse.api.params import id_value, query_int, truthy
from fediverse.api.serializers.accounts import account_to_api
from fediverse.api.serializers.statuses import StatusRenderer
from fediverse.config import Settings
from fediverse.http import FetchError
from fediverse.models import Actor, Block, Follow, Mention, Mute, Status, StatusTag
from fediverse.runtime import Runtime
from inbox.fetch_objects import known_object, resolve_remote_object
from webfinger.client import parse_handle, resolve_handle

TYPES = ("accounts", "hashtags", "statuses")
HISTORY_DAYS = 7
MAX_WORDS = 8
TAG_RE = re.compile(r"\w{1,100}")


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains(column: Any, text: str) -> Any:
    return func.lower(column).like(f"%{like_escape(text.lower())}%", escape="\\")


def starts_with(column: Any, text: str) -> Any:
    return func.lower(column).like(f"{like_escape(text.lower())}%", escape="\\")


def valid_tag(name: str) -> bool:
    """A hashtag Mastodon would link: word characters, not only digits."""
    return bool(TAG_RE.fullmatch(name)) and not name.isdigit() and not name.startswith("_")


# -- hashtags ------------------------------------------------------------------------------------

def day_starts(now: datetime, days: int = HISTORY_DAYS) -> list[datetime]:
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return [today - timedelta(days=i) for i in range(days)]


async def tag_histories(session: AsyncSession, names: list[str]) -> dict[str, list[dict[str, str]]]:
    """Mastodon's `history`: per day (newest first) the statuses using the tag and their authors."""
    starts = day_starts(datetime.now(UTC))
    uses: dict[tuple[str, int], int] = defaultdict(int)
    authors: dict[tuple[str, int], set[int]] = defaultdict(set)
    if names:
        rows = await session.execute(
            select(StatusTag.name, Status.published, Status.actor_id)
            .join(Status, Status.id == StatusTag.status_id)
            .where(StatusTag.name.in_(names), Status.published >= starts[-1], Status.reblog_of_id.is_(None)))
        for name, published, actor_id in rows.all():
            published = published if published.tzinfo else published.replace(tzinfo=UTC)
            day = (starts[0] - published.replace(hour=0, minute=0, second=0, microsecond=0)).days
            if 0 <= day < len(starts):
                uses[(name, day)] += 1
                authors[(name, day)].add(actor_id)
    return {name: [{"day": str(int(start.timestamp())), "uses": str(uses[(name, i)]),
                    "accounts": str(len(authors[(name, i)]))} for i, start in enumerate(starts)]
            for name in names}


def tag_to_api(name: str, settings: Settings, history: list[dict[str, str]],
               identity: Identity | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": name, "url": f"{settings.base_url}/tags/{name}", "history": history}
    if identity is not None and identity.actor is not None:
        doc["following"] = False  # followed tags are not implemented yet
    return doc


async def render_tags(session: AsyncSession, settings: Settings, names: list[str],
                      identity: Identity | None) -> list[dict[str, Any]]:
    histories = await tag_histories(session, names)
    return [tag_to_api(name, settings, histories[name], identity) for name in names]


async def search_hashtags(session: AsyncSession, q: str, limit: int, offset: int) -> list[str]:
    """Used tags starting with the query, most used first; the exact tag even if nobody used it yet."""
    term = q.strip().lstrip("#").lower()
    if not term or not valid_tag(term):
        return []
    uses = func.count(StatusTag.id)
    names = list(await session.scalars(
        select(StatusTag.name).where(starts_with(StatusTag.name, term)).group_by(StatusTag.name)
        .order_by(case((StatusTag.name == term, 0), else_=1), uses.desc(), StatusTag.name)
        .offset(offset).limit(limit)))
    if offset == 0 and term not in names:
        names = [term, *names][:limit]
    return names


# -- accounts ------------------------------------------------------------------------------------

def visible_actors(viewer_id: int | None) -> list[Any]:
    """Conditions hiding gone accounts, the instance actors, and anyone in a block with the viewer."""
    conditions: list[Any] = [Actor.suspended_at.is_(None), Actor.deleted_at.is_(None), Actor.kind != "instance"]
    if viewer_id is not None:
        conditions.append(~exists().where(or_(
            and_(Block.actor_id == viewer_id, Block.target_id == Actor.id),
            and_(Block.actor_id == Actor.id, Block.target_id == viewer_id))))
    return conditions


async def resolve_account(runtime: Runtime, q: str) -> Actor | None:
    """`user@domain` -> the actor (WebFinger, then a signed fetch of the actor document)."""
    try:
        uri = await resolve_handle(runtime, q)
        actor = await ActorResolver(runtime).get(uri)
    except (ValueError, FetchError, RuntimeError):
        return None
    return actor if actor.suspended_at is None and actor.deleted_at is None else None


def handle_parts(q: str, local_domain: str) -> tuple[str, str] | None:
    """(username, domain key) when the query is a full handle; the domain key is '' for ours."""
    text = q.strip()
    if " " in text or "@" not in text.lstrip("@"):
        return None
    try:
        user, domain = parse_handle(text)
    except ValueError:
        return None
    return user.lower(), "" if domain == local_domain else domain


async def search_accounts(runtime: Runtime, session: AsyncSession, q: str, *, viewer_id: int | None,
                          resolve: bool, following: bool, limit: int, offset: int) -> list[Actor]:
    found: list[Actor] = []
    handle = handle_parts(q, runtime.settings.domain)
    if handle is not None:
        exact = await session.scalar(select(Actor).where(
            Actor.username_lower == handle[0], Actor.domain_key == handle[1], *visible_actors(viewer_id)))
        if exact is None and resolve:
            exact = await resolve_account(runtime, q)
        if exact is not None and following and viewer_id is not None:
            exact = exact if await session.scalar(select(Follow.id).where(
                Follow.follower_id == viewer_id, Follow.followee_id == exact.id, Follow.state == "accepted")) else None
        if exact is not None and offset == 0:
            found.append(exact)
        term = handle[0]
    else:
        term = q.strip().lstrip("@")
    if not term:
        return found
    query = select(Actor).where(
        or_(starts_with(Actor.username, term), starts_with(Actor.display_name, term),
            contains(Actor.display_name, f" {term}")),
        *visible_actors(viewer_id))
    if handle is not None:
        query = query.where(Actor.domain_key == handle[1])
    if following and viewer_id is not None:
        query = query.where(exists().where(Follow.follower_id == viewer_id, Follow.followee_id == Actor.id,
                                           Follow.state == "accepted"))
    query = query.order_by(
        case((Actor.username_lower == term.lower(), 0), else_=1), case((Actor.domain.is_(None), 0), else_=1),
        Actor.followers_count.desc(), Actor.id).offset(offset).limit(limit)
    for actor in await session.scalars(query):
        if all(actor.id != other.id for other in found):
            found.append(actor)
    return found[:limit]


# -- statuses ------------------------------------------------------------------------------------

async def visible_to(session: AsyncSession, status: Status, viewer_id: int | None) -> bool:
    """Whether the viewer may see this status (the visibility rules of Mastodon's StatusPolicy)."""
    if status.visibility in ("public", "unlisted"):
        return True
    if viewer_id is None:
        return False
    if status.actor_id == viewer_id:
        return True
    mentioned = await session.scalar(select(Mention.id).where(
        Mention.status_id == status.id, Mention.actor_id == viewer_id).limit(1))
    if mentioned is not None:
        return True
    if status.visibility == "private":
        follows = await session.scalar(select(Follow.id).where(
            Follow.follower_id == viewer_id, Follow.followee_id == status.actor_id, Follow.state == "accepted"))
        return follows is not None
    return False


def hidden_authors(viewer_id: int) -> Any:
    """Statuses of accounts the viewer blocked or muted, or that blocked the viewer."""
    return or_(
        exists().where(Block.actor_id == viewer_id, Block.target_id == Status.actor_id),
        exists().where(Block.actor_id == Status.actor_id, Block.target_id == viewer_id),
        exists().where(Mute.actor_id == viewer_id, Mute.target_id == Status.actor_id),
    )


async def search_statuses(session: AsyncSession, q: str, *, viewer_id: int, account_id: int | None,
                          page: Page, offset: int) -> list[Status]:
    """Every word of the query in the text, among statuses the viewer can see, newest first."""
    words = [w for w in q.split() if w][:MAX_WORDS]
    if not words:
        return []
    text_matches = [or_(contains(Status.content, w), contains(Status.source_text, w), contains(Status.summary, w))
                    for w in words]
    query = (select(Status).join(Actor, Actor.id == Status.actor_id)
             .where(*text_matches, Status.reblog_of_id.is_(None),
                    or_(Status.visibility.in_(("public", "unlisted")), Status.actor_id == viewer_id),
                    Actor.suspended_at.is_(None), Actor.deleted_at.is_(None), ~hidden_authors(viewer_id)))
    if account_id is not None:
        query = query.where(Status.actor_id == account_id)
    rows = list(await session.scalars(page.apply(query, Status.id).offset(offset)))
    return page.order(rows)


# -- endpoint ------------------------------------------------------------------------------------

def _is_url(q: str) -> bool:
    text = q.strip()
    return text.startswith(("https://", "http://")) and " " not in text


async def _search(request: Request, *, v1: bool) -> Response:
    runtime: Runtime = request.app.state.runtime
    identity = await optional_identity(request, "read:search")
    viewer_id = viewer_of(identity)
    params = request.query_params
    q = (params.get("q") or "").strip()
    if not q:
        raise ApiError(400, "param is missing or the value is empty: q")
    kind = params.get("type") or None
    if kind is not None and kind not in TYPES:
        raise ApiError(422, "Validation failed: type must be accounts, hashtags or statuses")
    resolve = truthy(params.get("resolve"))
    offset = max(0, query_int(request, "offset", 0))
    limit = max(0, min(query_int(request, "limit", 20), 40)) or 20
    if viewer_id is None and (resolve or offset):
        raise ApiError(401, "Search queries that resolve remote resources or use pagination are not "
                            "supported without authentication")
    account = params.get("account_id")
    account_id = id_value(account, "account_id") if account is not None else None
    page = Page.from_request(request, default=limit, maximum=40)
    settings = runtime.settings
    result: dict[str, list[Any]] = {"accounts": [], "statuses": [], "hashtags": []}

    if _is_url(q):
        found = await resolve_remote_object(runtime, q) if resolve else await known_object(runtime, q)
        async with runtime.sessions() as session:
            if isinstance(found, Actor) and kind in (None, "accounts") and found.suspended_at is None:
                result["accounts"] = [account_to_api(found, settings)]
            elif isinstance(found, Status) and kind in (None, "statuses") and viewer_id is not None \
                    and await visible_to(session, found, viewer_id):
                result["statuses"] = await StatusRenderer(session, settings, viewer_id).render([found])
        return JSONResponse(result)

    async with runtime.sessions() as session:
        if kind in (None, "accounts"):
            actors = await search_accounts(runtime, session, q, viewer_id=viewer_id, resolve=resolve,
                                           following=truthy(params.get("following")), limit=limit, offset=offset)
            result["accounts"] = [account_to_api(a, settings) for a in actors]
        if kind in (None, "hashtags"):
            names = await search_hashtags(session, q, limit, offset)
            result["hashtags"] = names if v1 else await render_tags(session, settings, names, identity)
        if kind in (None, "statuses") and viewer_id is not None:
            statuses = await search_statuses(session, q, viewer_id=viewer_id,
                                             account_id=account_id,
                                             page=page, offset=offset)
            result["statuses"] = await StatusRenderer(session, settings, viewer_id).render(statuses)
    return JSONResponse(result)


async def search_v2(request: Request) -> Response:
    return await _search(request, v1=False)


async def search_v1(request: Request) -> Response:
    """Mastodon 2's search: the same results, hashtags as plain names."""
    return await _search(request, v1=True)


routes: list[BaseRoute] = [
    Route("/api/v2/search", search_v2, methods=["GET"]),
    Route("/api/v1/search", search_v1, methods=["GET"]),
]
