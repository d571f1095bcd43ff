"""Following and unfollowing accounts from the website, as the identity the person acts as.

A local account is followed at `/@username/follow`, any account (a remote one too) at
`/accounts/ID/follow`; both go through `Outbox.follow` / `Outbox.unfollow`, so a local account that
approves its followers gets a follow request, and a remote one receives the Follow (or its Undo)
exactly as from a Mastodon app. Unfollowing a pending request withdraws it.

`follow_relationship` gives the follow button (templates/social/_follow_button.html) its state.
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.relationships import Relationship, relationship
from fediverse.models import Actor
from fediverse.runtime import Runtime
from fediverse.web.auth import SignedIn
from fediverse.web.social_common import back_to, not_found, path_id, problem, runtime_of, say, signed_form
from outbox.commands import CommandError, Outbox


async def follow_relationship(runtime: Runtime, viewer: SignedIn | None, target: Actor) -> Relationship | None:
    """How the acting identity stands towards `target` (following, requested, followed by, blocked...);
    None for an anonymous visitor."""
    if viewer is None:
        return None
    async with runtime.sessions() as session:
        return await relationship(session, viewer.acting.id, target.id)


def profile_path(actor: Actor) -> str:
    """The website's page of an account: `/@username` here, `/@username@domain` for a remote one."""
    return f"/@{actor.username}" if actor.domain is None else f"/@{actor.username}@{actor.domain}"


async def _target(request: Request) -> Actor | None:
    """The account named by the path: a local username, or any account's id; never a deleted,
    suspended account or the instance's own actor."""
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        if "username" in request.path_params:
            actor = await session.scalar(select(Actor).where(
                Actor.domain_key == "", Actor.username_lower == str(request.path_params["username"]).lower()))
        else:
            actor_id = path_id(request, "actor_id")
            actor = await session.get(Actor, actor_id) if actor_id else None
    if actor is None or actor.deleted_at or actor.suspended_at or actor.kind == "instance":
        return None
    return actor


async def _change_follow(request: Request, *, follow: bool) -> Response:
    answer = await signed_form(request)
    if isinstance(answer, Response):
        return answer
    viewer, fields = answer
    target = await _target(request)
    if target is None:
        return not_found(request, viewer)
    back = back_to(fields, profile_path(target))
    outbox = Outbox(runtime_of(request))
    try:
        if follow:
            await outbox.follow(viewer.acting.id, target.id)
        else:
            await outbox.unfollow(viewer.acting.id, target.id)
    except CommandError as exc:
        return problem(request, viewer, say(request, viewer, exc), back=back)
    return RedirectResponse(back, status_code=303)


async def follow(request: Request) -> Response:
    return await _change_follow(request, follow=True)


async def unfollow(request: Request) -> Response:
    return await _change_follow(request, follow=False)


routes: list[BaseRoute] = [
    Route("/@{username}/follow", follow, methods=["POST"]),
    Route("/@{username}/unfollow", unfollow, methods=["POST"]),
    Route("/accounts/{actor_id:int}/follow", follow, methods=["POST"]),
    Route("/accounts/{actor_id:int}/unfollow", unfollow, methods=["POST"]),
]
