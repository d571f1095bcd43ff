"""Mastodon client API: reading accounts — one account, a batch, a lookup by handle, a search (with
WebFinger resolution of a remote handle), and an account's statuses, followers, following,
featured tags and endorsements.

A thin edge: parameters come through the shared parser (`fediverse.api.params`), rows are read
here or through `actors.relationships` (search, visibility of statuses, endorsements) and
rendered as Mastodon's entities. The signed-in account's own profile is in `credentials`, the
viewer's relationships in `account_relations`, the viewer's own lists in `account_collections`.
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from actors.relationships import endorsements_query, search_accounts, statuses_visible_clause
from fediverse.api.account_common import MAX_BATCH_IDS, account_page, find_account, render_accounts, visible
from fediverse.api.auth import authenticate, optional_identity, viewer_of
from fediverse.api.domain_calls import runtime_of
from fediverse.api.errors import not_found, unprocessable
from fediverse.api.pagination import Page, link_header
from fediverse.api.params import as_list, flag_param, id_list, int_param, path_id, read_params, scalar_text
from fediverse.api.search import resolve_account
from fediverse.api.serializers.statuses import StatusRenderer
from fediverse.models import Actor, Attachment, Block, Endorsement, FeaturedStatus, Follow, Status, StatusTag
from webfinger.client import WebFingerError, parse_handle


async def show_account(request: Request) -> JSONResponse:
    await optional_identity(request)
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        actor = await find_account(session, path_id(request))
        return JSONResponse((await render_accounts(session, runtime.settings, [actor]))[0])


async def list_accounts(request: Request) -> JSONResponse:
    """`GET /api/v1/accounts?id[]=...`: the known ones, in the order asked."""
    await optional_identity(request)
    runtime = runtime_of(request)
    params = await read_params(request)
    if len(as_list(params.get("id"))) > MAX_BATCH_IDS:
        raise unprocessable(f"at most {MAX_BATCH_IDS} ids", "id")
    ids = id_list(params, "id", MAX_BATCH_IDS)
    async with runtime.sessions() as session:
        found = {a.id: a for a in await session.scalars(select(Actor).where(Actor.id.in_(ids)))} if ids else {}
        actors = [found[i] for i in ids if visible(found.get(i))]
        return JSONResponse(await render_accounts(session, runtime.settings, actors))


async def lookup_account(request: Request) -> JSONResponse:
    """`acct` is `name` (local) or `name@domain` of an account we already know; no network call."""
    await optional_identity(request)
    runtime = runtime_of(request)
    text = (request.query_params.get("acct") or "").strip().removeprefix("@")
    username, _, domain = text.partition("@")
    if not username:
        raise not_found()
    domain = domain.lower()
    if domain == runtime.settings.domain:
        domain = ""
    async with runtime.sessions() as session:
        actor = await session.scalar(select(Actor).where(
            Actor.username_lower == username.lower(), Actor.domain_key == domain))
        if not visible(actor):
            raise not_found()
        assert actor is not None
        return JSONResponse((await render_accounts(session, runtime.settings, [actor]))[0])


# -- search ---------------------------------------------------------------------------------------


def _looks_like_remote_handle(query: str, local_domain: str) -> bool:
    try:
        _, domain = parse_handle(query)
    except WebFingerError:
        return False
    return domain != local_domain


async def search(request: Request) -> JSONResponse:
    identity = await authenticate(request, "read:accounts")
    runtime = runtime_of(request)
    params = await read_params(request)
    query = (scalar_text(params, "q") or "").strip()
    limit = max(1, min(int_param(params, "limit", 40) or 40, 80))
    offset = max(0, int_param(params, "offset", 0))
    following = bool(flag_param(params, "following"))
    viewer = identity.actor_id
    async with runtime.sessions() as session:
        found = await search_accounts(session, query, viewer, local_domain=runtime.settings.domain, limit=limit,
                                      offset=offset, following=following)
    if flag_param(params, "resolve") and offset == 0 and _looks_like_remote_handle(query, runtime.settings.domain):
        username, domain = parse_handle(query)
        exact = any(a.username_lower == username.lower() and a.domain == domain for a in found)
        if not exact:
            resolved = await resolve_account(runtime, query)
            if resolved is not None and (not following or resolved.id in {a.id for a in found}):
                found = [resolved, *[a for a in found if a.id != resolved.id]][:limit]
    async with runtime.sessions() as session:
        return JSONResponse(await render_accounts(session, runtime.settings, found))


# -- what an account shows ------------------------------------------------------------------------


async def account_statuses(request: Request) -> JSONResponse:
    identity = await optional_identity(request, "read:statuses")
    runtime = runtime_of(request)
    params = await read_params(request)
    page = Page.from_request(request, default=20, maximum=40)
    viewer = viewer_of(identity)
    async with runtime.sessions() as session:
        author = await find_account(session, path_id(request))
        stmt = select(Status).where(await statuses_visible_clause(session, author.id, viewer))
        if flag_param(params, "pinned"):
            stmt = stmt.where(Status.id.in_(select(FeaturedStatus.status_id).where(
                FeaturedStatus.actor_id == author.id)))
        if flag_param(params, "exclude_replies"):
            # Mastodon keeps an author's replies to themself (threads) in this view.
            stmt = stmt.where((Status.in_reply_to_uri.is_(None)) | (Status.in_reply_to_actor_id == author.id))
        if flag_param(params, "exclude_reblogs"):
            stmt = stmt.where(Status.reblog_of_id.is_(None))
        if flag_param(params, "exclude_direct"):
            stmt = stmt.where(Status.visibility != "direct")
        if flag_param(params, "only_media"):
            stmt = stmt.where(Status.id.in_(select(Attachment.status_id).where(Attachment.status_id.is_not(None))))
        tagged = (scalar_text(params, "tagged") or "").strip().removeprefix("#").lower()
        if tagged:
            stmt = stmt.where(Status.id.in_(select(StatusTag.status_id).where(StatusTag.name == tagged)))
        rows = page.order(list(await session.scalars(page.apply(stmt, Status.id))))
        docs = await StatusRenderer(session, runtime.settings, viewer).render(rows)
    return JSONResponse(docs, headers=link_header(request, [s.id for s in rows]))


async def _follow_list(request: Request, *, followers: bool) -> JSONResponse:
    identity = await optional_identity(request, "read:accounts")
    runtime = runtime_of(request)
    page = Page.from_request(request, default=40, maximum=80)
    viewer = viewer_of(identity)
    async with runtime.sessions() as session:
        target = await find_account(session, path_id(request))
        if viewer is not None and viewer != target.id and await session.scalar(
                select(Block.id).where(Block.actor_id == target.id, Block.target_id == viewer)):
            return JSONResponse([])
        other = Follow.follower_id if followers else Follow.followee_id
        this = Follow.followee_id if followers else Follow.follower_id
        stmt = (select(Follow.id, Actor).join(Actor, Actor.id == other)
                .where(this == target.id, Follow.state == "accepted", Actor.suspended_at.is_(None),
                       Actor.deleted_at.is_(None)))
    return await account_page(request, runtime, page, stmt, Follow.id)


async def account_followers(request: Request) -> JSONResponse:
    return await _follow_list(request, followers=True)


async def account_following(request: Request) -> JSONResponse:
    return await _follow_list(request, followers=False)


async def account_featured_tags(request: Request) -> JSONResponse:
    await optional_identity(request)
    async with runtime_of(request).sessions() as session:
        await find_account(session, path_id(request))
    return JSONResponse([])


async def account_endorsements(request: Request) -> JSONResponse:
    """The accounts someone features on their profile (public; Mastodon 4.4)."""
    await optional_identity(request, "read:accounts")
    runtime = runtime_of(request)
    page = Page.from_request(request, default=40, maximum=80)
    async with runtime.sessions() as session:
        account = await find_account(session, path_id(request))
    return await account_page(request, runtime, page, endorsements_query(account.id), Endorsement.id)


# Literal paths under /api/v1/accounts/ (credentials, relationships) are registered before this module's
# `/api/v1/accounts/{id}` in fediverse/api/routes.py; `search` and `lookup` come before it here.
routes: list[BaseRoute] = [
    Route("/api/v1/accounts/search", search, methods=["GET"]),
    Route("/api/v1/accounts/lookup", lookup_account, methods=["GET"]),
    Route("/api/v1/accounts", list_accounts, methods=["GET"]),
    Route("/api/v1/accounts/{id}", show_account, methods=["GET"]),
    Route("/api/v1/accounts/{id}/statuses", account_statuses, methods=["GET"]),
    Route("/api/v1/accounts/{id}/followers", account_followers, methods=["GET"]),
    Route("/api/v1/accounts/{id}/following", account_following, methods=["GET"]),
    Route("/api/v1/accounts/{id}/featured_tags", account_featured_tags, methods=["GET"]),
    Route("/api/v1/accounts/{id}/endorsements", account_endorsements, methods=["GET"]),
]
