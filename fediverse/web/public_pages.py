"""The territory's home page, and the routes of the account pages (fediverse/web/profile_pages.py).

The home page puts first what a resident comes for: the collectivity's current messages (urgent
first), the next events, the latest petites annonces, the newest associations and the latest
posts. A visitor also gets the invitation to join (sign up here, or follow the territory's
accounts from any Mastodon app); a signed-in person gets the compose form instead.
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from actors.ad_views import latest_ad_cards
from actors.announcements import active_announcements
from actors.directory import communes_by_code, listed, newest_of_kind
from actors.status_views import status_views
from actors.territory import get_territory
from fediverse.models import Actor, Status
from fediverse.runtime import Runtime
from fediverse.web import document_pages, profile_pages
from fediverse.web.agenda_pages import upcoming_event_cards
from fediverse.web.auth import page, signed_in
from fediverse.web.compose import compose_form
from fediverse.web.profile_common import account_cards, wants_activitypub

HOME_ANNOUNCEMENTS = 10
HOME_EVENTS = 6
HOME_ADS = 6
HOME_ASSOCIATIONS = 6
HOME_POSTS = 10

__all__ = ["home", "local_actor", "routes", "wants_activitypub"]


async def local_actor(runtime: Runtime, username: str) -> Actor | None:
    """A local account that has a public page (not deleted, suspended or the instance actor)."""
    async with runtime.sessions() as session:
        actor = await session.scalar(select(Actor).where(Actor.domain_key == "",
                                                         Actor.username_lower == username.lower()))
    if actor is None or actor.deleted_at or actor.suspended_at or actor.kind == "instance":
        return None
    return actor


async def home(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    viewer = await signed_in(request)
    reader = viewer.acting.id if viewer is not None else None
    async with runtime.sessions() as session:
        announcements = await active_announcements(session, reader, limit=HOME_ANNOUNCEMENTS)
        associations = account_cards(await newest_of_kind(session, "association", HOME_ASSOCIATIONS),
                                     await communes_by_code(session), runtime.settings.domain)
        rows = list(await session.scalars(
            select(Status).join(Actor, Actor.id == Status.actor_id)
            .where(Status.local.is_(True), Status.visibility == "public", Status.reblog_of_id.is_(None),
                   Status.in_reply_to_uri.is_(None), Actor.suspended_at.is_(None), Actor.deleted_at.is_(None))
            .order_by(Status.id.desc()).limit(HOME_POSTS)))
        statuses = await status_views(session, reader, rows)
        territory = await get_territory(session)
        town_hall = await session.scalar(select(Actor).where(*listed(), Actor.kind == "collectivity")
                                         .order_by(Actor.id).limit(1))
    events = await upcoming_event_cards(runtime, HOME_EVENTS)
    ads = await latest_ad_cards(runtime, HOME_ADS)
    compose = await compose_form(runtime, viewer) if viewer is not None else None
    settings = runtime.settings
    name = settings.instance_name or settings.domain
    og = {"title": name, "description": territory.name if territory is not None else "", "type": "website",
          "url": f"{settings.base_url}/"}
    return page(request, "home.html", viewer, statuses=statuses, announcements=announcements, compose=compose,
                events=events, ads=ads, associations=associations, territory=territory,
                town_hall=town_hall, og=og)


routes: list[BaseRoute] = [
    Route("/", home),
    *document_pages.routes,
    *profile_pages.routes,
]
