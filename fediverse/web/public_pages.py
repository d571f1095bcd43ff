"""The territory's home page and the profile pages of local accounts."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.announcements import active_announcements
from fediverse.models import Actor, Status
from fediverse.runtime import Runtime
from fediverse.web.auth import page, signed_in
from fediverse.web.compose import compose_form

HOME_ANNOUNCEMENTS = 10


async def local_actor(runtime: Runtime, username: str) -> Actor | None:
    """A local account that has a public page (not deleted, suspended or the instance actor)."""
    async with runtime.sessions() as session:
        actor = await session.scalar(select(Actor).where(Actor.domain_key == "",
                                                         Actor.username_lower == username.lower()))
    if actor is None or actor.deleted_at or actor.suspended_at or actor.kind == "instance":
        return None
    return actor


def wants_activitypub(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "activity+json" in accept or "ld+json" in accept


async def home(request: Request) -> Response:
    """The latest local posts, under the collectivity's current institutional messages (urgent first)."""
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session:
        announcements = await active_announcements(session, None, limit=HOME_ANNOUNCEMENTS)
        statuses = (await session.execute(
            select(Status, Actor).join(Actor, Actor.id == Status.actor_id)
            .where(Status.local.is_(True), Status.visibility == "public", Status.reblog_of_id.is_(None))
            .order_by(Status.id.desc()).limit(20))).all()
    viewer = await signed_in(request)
    compose = await compose_form(runtime, viewer) if viewer is not None else None
    return page(request, "home.html", viewer, statuses=statuses, announcements=announcements, compose=compose)


async def profile(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    actor = await local_actor(runtime, request.path_params["username"])
    viewer = await signed_in(request)
    if actor is None:
        return page(request, "not_found.html", viewer, status_code=404)
    if wants_activitypub(request):
        return RedirectResponse(actor.uri, status_code=302)
    async with runtime.sessions() as session:
        statuses = (await session.scalars(
            select(Status).where(Status.actor_id == actor.id, Status.visibility == "public",
                                 Status.reblog_of_id.is_(None)).order_by(Status.id.desc()).limit(20))).all()
    return page(request, "profile.html", viewer, actor=actor, statuses=statuses,
                handle=actor.handle(runtime.settings.domain),
                alternates=[("application/activity+json", actor.uri, None)])


routes: list[BaseRoute] = [
    Route("/", home),
    Route("/@{username}", profile),
]
