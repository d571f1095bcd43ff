"""Status permalinks (`/@username/ID`): the post, with a link to its ActivityPub representation.

An event or an ad is a status too (its ActivityPub `url` is this permalink): the permalink of one is
the event page (fediverse/web/agenda_pages.py `event_page`) or the ad page (fediverse/web/ad_pages.py
`ad_page`)."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from fediverse.models import Ad, Event, Status
from fediverse.runtime import Runtime
from fediverse.web import ad_pages, agenda_pages
from fediverse.web.auth import page, signed_in
from fediverse.web.public_pages import local_actor, wants_activitypub

MAX_ID = 2**63


async def status_page(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    viewer = await signed_in(request)
    actor = await local_actor(runtime, request.path_params["username"])
    status_id = request.path_params["status_id"]
    status = None
    if actor is not None and status_id < MAX_ID:
        async with runtime.sessions() as session:
            status = await session.get(Status, status_id)
    if actor is None or status is None or status.actor_id != actor.id \
            or status.visibility not in ("public", "unlisted"):
        return page(request, "not_found.html", viewer, status_code=404)
    if wants_activitypub(request):
        return RedirectResponse(status.uri, status_code=302)
    async with runtime.sessions() as session:
        event = await session.scalar(select(Event).where(Event.status_id == status.id))
        ad = await session.scalar(select(Ad).where(Ad.status_id == status.id)) if event is None else None
    if event is not None and hasattr(agenda_pages, "event_page"):
        return await agenda_pages.event_page(request, viewer, actor, status, event)
    if ad is not None and hasattr(ad_pages, "ad_page"):
        return await ad_pages.ad_page(request, viewer, actor, status, ad)
    return page(request, "status.html", viewer, actor=actor, status=status,
                handle=actor.handle(runtime.settings.domain),
                alternates=[("application/activity+json", status.uri, None)])


routes: list[BaseRoute] = [Route("/@{username}/{status_id:int}", status_page)]
