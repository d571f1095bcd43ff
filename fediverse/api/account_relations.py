"""Mastodon client API: the viewer's relationship with other accounts — reading relationships and
familiar followers; follow, unfollow, remove from followers, block, mute, private notes,
endorsements; answering follow requests.

A thin edge: what federates goes through `outbox.commands.Outbox`, what stays local (mutes, follow
options, notes, endorsements) through `actors.relationships`; every change answers with the
relationship as it now stands.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from sqlalchemy import and_, select
from sqlalchemy.orm import aliased
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from actors.relationships import (
    RelationshipError,
    clear_follow_options,
    endorse,
    follow_languages,
    is_blocked,
    mute,
    relationships,
    set_account_note,
    set_follow_options,
    unendorse,
    unmute,
)
from fediverse.api.account_common import (
    MAX_BATCH_IDS,
    account_page,
    find_account,
    relationship_response,
    relationship_to_api,
    render_accounts,
    visible,
)
from fediverse.api.auth import authenticate
from fediverse.api.domain_calls import command, runtime_of
from fediverse.api.errors import ApiError, not_found, unprocessable
from fediverse.api.pagination import Page
from fediverse.api.params import as_list, flag_param, id_list, int_param, path_id, read_params, scalar_text
from fediverse.models import Actor, Follow
from fediverse.runtime import Runtime
from outbox.commands import Outbox

MAX_RELATIONSHIP_IDS = 200


# -- reading relationships ------------------------------------------------------------------------


async def get_relationships(request: Request) -> JSONResponse:
    identity = await authenticate(request, "read:follows")
    runtime = runtime_of(request)
    params = await read_params(request)
    ids = id_list(params, "id", MAX_RELATIONSHIP_IDS)
    with_suspended = bool(flag_param(params, "with_suspended"))
    async with runtime.sessions() as session:
        known = {a.id: a for a in await session.scalars(select(Actor).where(Actor.id.in_(ids)))} if ids else {}
        targets = [i for i in ids if i in known and (with_suspended or visible(known[i]))]
        rels = await relationships(session, identity.actor_id, targets)
    return JSONResponse([relationship_to_api(r) for r in rels])


async def familiar_followers(request: Request) -> JSONResponse:
    """For each account: the accounts the viewer follows that also follow it."""
    identity = await authenticate(request, "read:follows")
    runtime = runtime_of(request)
    params = await read_params(request)
    ids = id_list(params, "id", MAX_BATCH_IDS)
    viewer_follow = aliased(Follow)
    async with runtime.sessions() as session:
        known = set(await session.scalars(select(Actor.id).where(Actor.id.in_(ids)))) if ids else set()
        rows = (await session.execute(
            select(Follow.followee_id, Actor)
            .join(Actor, Actor.id == Follow.follower_id)
            .join(viewer_follow, and_(viewer_follow.followee_id == Follow.follower_id,
                                      viewer_follow.follower_id == identity.actor_id,
                                      viewer_follow.state == "accepted"))
            .where(Follow.followee_id.in_(sorted(known)), Follow.state == "accepted", Actor.suspended_at.is_(None),
                   Actor.deleted_at.is_(None))
            .order_by(Follow.id.desc()))).all() if known else []
        by_target: dict[int, list[Actor]] = {i: [] for i in known}
        for target_id, actor in rows:
            by_target[target_id].append(actor)
        result = []
        for target_id in ids:
            if target_id in known:
                accounts = await render_accounts(session, runtime.settings, by_target[target_id])
                result.append({"id": str(target_id), "accounts": accounts})
    return JSONResponse(result)


# -- changing them --------------------------------------------------------------------------------


class Change(NamedTuple):
    """A relationship change asked for: by whom, about which account, with which options."""

    viewer: int
    target: int
    runtime: Runtime
    options: Any = None


async def _change(request: Request, scope: str,
                  read_options: Callable[[dict[str, Any]], Any] | None = None) -> Change:
    """The viewer, the account the path names (404 unless it may be seen) and, for endpoints that take
    parameters, `read_options` of them — read first, so that a bad parameter is a 422 whatever the account."""
    identity = await authenticate(request, scope)
    runtime = runtime_of(request)
    options = read_options(await read_params(request)) if read_options is not None else None
    async with runtime.sessions() as session:
        target = await find_account(session, path_id(request))
    return Change(identity.actor_id, target.id, runtime, options)


def _follow_options(params: dict[str, Any]) -> dict[str, Any]:
    """`reblogs`, `notify` and `languages[]` of a follow (None: not sent; languages [] means all of them)."""
    languages = params.get("languages")
    try:
        chosen = None if languages is None else follow_languages([str(v) for v in as_list(languages)])
    except RelationshipError as exc:
        raise unprocessable(str(exc), "languages") from exc
    return {"reblogs": flag_param(params, "reblogs"), "notify": flag_param(params, "notify"), "languages": chosen}


async def follow(request: Request) -> JSONResponse:
    viewer, target, runtime, options = await _change(request, "write:follows", _follow_options)
    async with runtime.sessions() as session:
        if await is_blocked(session, viewer, target):
            raise ApiError(403, "This action is not allowed")
        existed = await session.scalar(select(Follow.id).where(
            Follow.follower_id == viewer, Follow.followee_id == target)) is not None
    await command(Outbox(runtime).follow(viewer, target))
    await set_follow_options(runtime, viewer, target, **options, reset=not existed)
    return await relationship_response(runtime, viewer, target)


async def unfollow(request: Request) -> JSONResponse:
    viewer, target, runtime, _ = await _change(request, "write:follows")
    await command(Outbox(runtime).unfollow(viewer, target))
    await clear_follow_options(runtime, viewer, target)
    return await relationship_response(runtime, viewer, target)


async def remove_from_followers(request: Request) -> JSONResponse:
    """Make an account stop following the viewer (a remote server is sent a Reject of its Follow)."""
    viewer, target, runtime, _ = await _change(request, "write:follows")
    async with runtime.sessions() as session:
        following = await session.scalar(select(Follow.id).where(
            Follow.follower_id == target, Follow.followee_id == viewer, Follow.state == "accepted"))
    if following is not None:
        await command(Outbox(runtime).answer_follow_request(viewer, target, accept=False))
    return await relationship_response(runtime, viewer, target)


async def block(request: Request) -> JSONResponse:
    viewer, target, runtime, _ = await _change(request, "write:blocks")
    if target == viewer:
        raise unprocessable("you cannot block yourself")
    await command(Outbox(runtime).block(viewer, target))
    await clear_follow_options(runtime, viewer, target)
    return await relationship_response(runtime, viewer, target)


async def unblock(request: Request) -> JSONResponse:
    viewer, target, runtime, _ = await _change(request, "write:blocks")
    await command(Outbox(runtime).unblock(viewer, target))
    return await relationship_response(runtime, viewer, target)


def _mute_options(params: dict[str, Any]) -> dict[str, Any]:
    """`notifications` (muted too unless said otherwise) and `duration` in seconds (0: until unmuted)."""
    notifications = flag_param(params, "notifications")
    return {"notifications": True if notifications is None else notifications,
            "duration": int_param(params, "duration", 0)}


async def _local_change(change: Change, action: Awaitable[None], field: str | None = None) -> JSONResponse:
    """Run a change that stays on this server (mutes, notes, endorsements): its refusal is a 422 naming
    `field`; the answer is the relationship as it now stands."""
    try:
        await action
    except RelationshipError as exc:
        raise unprocessable(str(exc), field) from exc
    return await relationship_response(change.runtime, change.viewer, change.target)


async def mute_account(request: Request) -> JSONResponse:
    change = await _change(request, "write:mutes", _mute_options)
    return await _local_change(change, mute(change.runtime, change.viewer, change.target, **change.options))


async def unmute_account(request: Request) -> JSONResponse:
    change = await _change(request, "write:mutes")
    return await _local_change(change, unmute(change.runtime, change.viewer, change.target))


async def account_note(request: Request) -> JSONResponse:
    """The viewer's private note on an account (`comment`; empty removes it), shown in the relationship."""
    change = await _change(request, "write:accounts", lambda params: scalar_text(params, "comment") or "")
    return await _local_change(change, set_account_note(change.runtime, change.viewer, change.target,
                                                        change.options), "comment")


async def endorse_account(request: Request) -> JSONResponse:
    """Feature a followed account on the profile (`pin`, renamed `endorse` in Mastodon 4.4)."""
    change = await _change(request, "write:accounts")
    return await _local_change(change, endorse(change.runtime, change.viewer, change.target))


async def unendorse_account(request: Request) -> JSONResponse:
    change = await _change(request, "write:accounts")
    return await _local_change(change, unendorse(change.runtime, change.viewer, change.target))


# -- follow requests ------------------------------------------------------------------------------


async def follow_requests(request: Request) -> JSONResponse:
    identity = await authenticate(request, "read:follows")
    runtime = runtime_of(request)
    page = Page.from_request(request, default=40, maximum=80)
    stmt = (select(Follow.id, Actor).join(Actor, Actor.id == Follow.follower_id)
            .where(Follow.followee_id == identity.actor_id, Follow.state == "pending",
                   Actor.suspended_at.is_(None), Actor.deleted_at.is_(None)))
    return await account_page(request, runtime, page, stmt, Follow.id)


async def _answer_request(request: Request, *, accept: bool) -> JSONResponse:
    identity = await authenticate(request, "write:follows")
    runtime = runtime_of(request)
    follower_id = path_id(request)
    async with runtime.sessions() as session:
        pending = await session.scalar(select(Follow.id).where(
            Follow.follower_id == follower_id, Follow.followee_id == identity.actor_id, Follow.state == "pending"))
    if pending is None:
        raise not_found()
    await command(Outbox(runtime).answer_follow_request(identity.actor_id, follower_id, accept=accept))
    return await relationship_response(runtime, identity.actor_id, follower_id)


async def authorize_follow_request(request: Request) -> JSONResponse:
    return await _answer_request(request, accept=True)


async def reject_follow_request(request: Request) -> JSONResponse:
    return await _answer_request(request, accept=False)


routes: list[BaseRoute] = [
    Route("/api/v1/accounts/relationships", get_relationships, methods=["GET"]),
    Route("/api/v1/accounts/familiar_followers", familiar_followers, methods=["GET"]),
    Route("/api/v1/accounts/{id}/follow", follow, methods=["POST"]),
    Route("/api/v1/accounts/{id}/unfollow", unfollow, methods=["POST"]),
    Route("/api/v1/accounts/{id}/remove_from_followers", remove_from_followers, methods=["POST"]),
    Route("/api/v1/accounts/{id}/block", block, methods=["POST"]),
    Route("/api/v1/accounts/{id}/unblock", unblock, methods=["POST"]),
    Route("/api/v1/accounts/{id}/mute", mute_account, methods=["POST"]),
    Route("/api/v1/accounts/{id}/unmute", unmute_account, methods=["POST"]),
    Route("/api/v1/accounts/{id}/note", account_note, methods=["POST"]),
    Route("/api/v1/accounts/{id}/pin", endorse_account, methods=["POST"]),
    Route("/api/v1/accounts/{id}/unpin", unendorse_account, methods=["POST"]),
    Route("/api/v1/accounts/{id}/endorse", endorse_account, methods=["POST"]),
    Route("/api/v1/accounts/{id}/unendorse", unendorse_account, methods=["POST"]),
    Route("/api/v1/follow_requests", follow_requests, methods=["GET"]),
    Route("/api/v1/follow_requests/{id}/authorize", authorize_follow_request, methods=["POST"]),
    Route("/api/v1/follow_requests/{id}/reject", reject_follow_request, methods=["POST"]),
]
