"""Public HTML pages for the federation edge: profile and status permalinks (the web UI grows here)."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from actors.announcements import active_announcements
from fediverse.models import Actor, Status
from fediverse.runtime import Runtime
from fediverse.web.account_pages import routes as account_routes
from fediverse.web.auth import signed_in
from fediverse.web.compose import compose_form
from fediverse.web.compose import routes as compose_routes
from fediverse.web.feed_routes import routes as feed_routes
from fediverse.web.neighbourhood_pages import routes as neighbourhood_routes
from fediverse.web.team_pages import routes as team_routes
from fediverse.web.templating import render


def _page(request: Request, template: str, status_code: int = 200, **context: object) -> HTMLResponse:
    runtime: Runtime = request.app.state.runtime
    html = render(runtime.settings.language, template, settings=runtime.settings, **context)
    return HTMLResponse(html, status_code=status_code)


async def _actor(runtime: Runtime, username: str) -> Actor | None:
    async with runtime.sessions() as session:
        actor = await session.scalar(select(Actor).where(Actor.domain_key == "",
                                                         Actor.username_lower == username.lower()))
    if actor is None or actor.deleted_at or actor.suspended_at or actor.kind == "instance":
        return None
    return actor


HOME_ANNOUNCEMENTS = 10


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
    response = _page(request, "home.html", statuses=statuses, announcements=announcements, viewer=viewer,
                     compose=compose)
    if viewer is not None:  # the compose form carries the session's CSRF token: never in a shared cache
        response.headers["Cache-Control"] = "private, no-store"
    return response


async def profile(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    actor = await _actor(runtime, request.path_params["username"])
    if actor is None:
        return _page(request, "not_found.html", status_code=404)
    accept = request.headers.get("accept", "")
    if "activity+json" in accept or "ld+json" in accept:
        return RedirectResponse(actor.uri, status_code=302)
    async with runtime.sessions() as session:
        statuses = (await session.scalars(
            select(Status).where(Status.actor_id == actor.id, Status.visibility == "public",
                                 Status.reblog_of_id.is_(None)).order_by(Status.id.desc()).limit(20))).all()
    return _page(request, "profile.html", actor=actor, statuses=statuses,
                 handle=actor.handle(runtime.settings.domain), viewer=await signed_in(request))


async def status_page(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    actor = await _actor(runtime, request.path_params["username"])
    status_id = request.path_params["status_id"]
    status = None
    if actor is not None and status_id < 2**63:
        async with runtime.sessions() as session:
            status = await session.get(Status, status_id)
    if actor is None or status is None or status.actor_id != actor.id \
            or status.visibility not in ("public", "unlisted"):
        return _page(request, "not_found.html", status_code=404)
    accept = request.headers.get("accept", "")
    if "activity+json" in accept or "ld+json" in accept:
        return RedirectResponse(status.uri, status_code=302)
    return _page(request, "status.html", actor=actor, status=status, handle=actor.handle(runtime.settings.domain),
                 viewer=await signed_in(request))


routes = [
    Route("/", home),
    *feed_routes,  # before any /@{username}/{...} page: /@alice/agenda.ics is a calendar
    Route("/@{username}", profile),
    Route("/@{username}/{status_id:int}", status_page),
    *neighbourhood_routes,
    *account_routes,
    *compose_routes,
    *team_routes,
]
