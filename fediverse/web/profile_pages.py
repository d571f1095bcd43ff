"""Profile pages of every kind of account: `/@alice` (local), `/@bob@other.example` (a known remote
account, shown here with a link to its origin), their photo gallery `/@alice/media`, their documents
`/@alice/documents`, and the RSS feed of their public posts `/@alice.rss` (as Mastodon has).

A profile shows the header image, avatar, name, handle, kind, commune, the admin's verification
(in words), presentation, fields, counts and posts; an organisation's (association, shop, town
hall, elected official) also shows its photos, documents, team and upcoming events. A group's
page is a group page (fediverse/web/group_pages.py). What a viewer may read follows the API's
rules (actors/profile_views.py). Asked with an ActivityPub Accept header, a local profile
redirects to the actor document.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors import profile_views
from actors.feeds import FeedInfo
from actors.groups import is_group
from actors.post_feeds import MAX_FEED_POSTS, post_items, posts_feed
from actors.status_views import StatusView, status_views
from fediverse.models import Actor, Commune
from fediverse.runtime import Runtime
from fediverse.sanitize import html_to_text
from fediverse.web import group_pages
from fediverse.web.auth import SignedIn, page, signed_in
from fediverse.web.feed_routes import FEED_TYPES, conditional
from fediverse.web.follow_pages import follow_relationship
from fediverse.web.profile_common import BadLink, account_path, bad_link, cursor, wants_activitypub
from fediverse.web.social_common import not_found

NEWS_PAGE = 20
PREVIEW_PHOTOS = 8
PREVIEW_DOCUMENTS = 5
PROFILE_EVENTS = 5
GALLERY_PAGE = 24
DOCUMENTS_PAGE = 20
# Accounts whose page is an organisation's: photos, documents, team and events in their own sections.
ORGANISATION_KINDS = ("association", "shop", "collectivity", "official")


def viewer_id(viewer: SignedIn | None) -> int | None:
    return viewer.acting.id if viewer is not None else None


@dataclass
class ProfileContext:
    """What every page of an account shows in its header."""

    actor: Actor
    handle: str
    path: str
    fields: list[profile_views.ProfileField]
    commune: Commune | None
    organisation: bool
    relationship: Any = None  # actors.relationships.Relationship for a signed-in viewer (the follow button)
    organises: bool = False  # has events: its calendar feed is offered

    @property
    def remote(self) -> bool:
        return self.actor.domain is not None


async def find_account(runtime: Runtime, handle: str) -> Actor | None:
    async with runtime.sessions() as session:
        return await profile_views.find_profile(session, handle, runtime.settings.domain)


async def profile_context(runtime: Runtime, viewer: SignedIn | None, actor: Actor) -> ProfileContext:
    async with runtime.sessions() as session:
        commune = await session.get(Commune, actor.commune_insee) if actor.commune_insee else None
    return ProfileContext(actor=actor, handle=actor.handle(runtime.settings.domain), path=account_path(actor),
                          fields=profile_views.profile_fields(actor), commune=commune,
                          organisation=actor.kind in ORGANISATION_KINDS and actor.domain is None,
                          relationship=await follow_relationship(runtime, viewer, actor))


def sharing(runtime: Runtime, profile: ProfileContext, *, title: str) -> dict[str, Any]:
    """OpenGraph and rel=alternate of an account's pages: its name, presentation, avatar; its actor
    document, and for a local account its RSS feed and, when it organises events, its calendar."""
    actor = profile.actor
    og = {"title": title, "description": html_to_text(actor.summary or ""), "image": actor.icon_url,
          "type": "profile", "url": f"{runtime.settings.base_url}{profile.path}"}
    alternates: list[tuple[str, str, str | None]] = [("application/activity+json", actor.uri, None)]
    if actor.domain is None:
        alternates.append(("application/rss+xml", f"/@{actor.username}.rss", None))
        if profile.organises:
            alternates.append(("text/calendar", f"/@{actor.username}/agenda.ics", None))
    return {"og": og, "alternates": alternates}


async def profile(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    viewer = await signed_in(request)
    name = request.path_params["username"]
    actor = await find_account(runtime, name)
    if actor is None and name.endswith(".rss"):
        return await account_feed(request, name.removesuffix(".rss"))
    if actor is None:
        return not_found(request, viewer)
    if actor.domain is None and wants_activitypub(request):
        return RedirectResponse(actor.uri, status_code=302)
    try:
        before = cursor(request)
    except BadLink:
        return bad_link(request, viewer)
    profile_info = await profile_context(runtime, viewer, actor)
    if is_group(actor):
        return await group_pages.group_page(request, viewer, profile_info, before)
    reader = viewer_id(viewer)
    async with runtime.sessions() as session:
        news = await profile_views.news(session, actor, reader, before=before, limit=NEWS_PAGE)
        statuses: list[StatusView] = await status_views(session, reader, news.rows)
        first_page = before is None
        photos = await profile_views.photos(session, actor, reader, limit=PREVIEW_PHOTOS) if first_page else None
        documents = await profile_views.documents(session, actor, reader, limit=PREVIEW_DOCUMENTS) \
            if first_page and profile_info.organisation else None
        team = await profile_views.team(session, actor) if first_page and profile_info.organisation else []
        events = await profile_views.upcoming_cards(session, actor, runtime.settings.domain, PROFILE_EVENTS) \
            if first_page else []
        profile_info.organises = actor.domain is None and await profile_views.organises(session, actor)
    title = f"{actor.display_name or actor.username} (@{profile_info.handle})"
    return page(request, "profile.html", viewer, profile=profile_info, actor=actor, statuses=statuses,
                older=news.older, photos=photos, documents=documents, team=team, events=events,
                first_page=first_page, **sharing(runtime, profile_info, title=title))


async def gallery(request: Request, viewer: SignedIn | None, actor: Actor, which: str, *, status_code: int = 200,
                  **form: Any) -> Response:
    """`/@user/media` or `/@user/documents`: every photo (or PDF document) of the account's readable posts;
    the documents page also has the publishing form for whoever acts as the account (`form`: its
    error and the values typed, when it comes back refused)."""
    runtime: Runtime = request.app.state.runtime
    try:
        before = cursor(request)
    except BadLink:
        return bad_link(request, viewer)
    profile_info = await profile_context(runtime, viewer, actor)
    async with runtime.sessions() as session:
        if which == "media":
            items = await profile_views.photos(session, actor, viewer_id(viewer), before=before, limit=GALLERY_PAGE)
        else:
            items = await profile_views.documents(session, actor, viewer_id(viewer), before=before,
                                                  limit=DOCUMENTS_PAGE)
        profile_info.organises = actor.domain is None and await profile_views.organises(session, actor)
    can_publish = which == "documents" and viewer is not None and viewer.acting.id == actor.id
    template = "profiles/media.html" if which == "media" else "profiles/documents.html"
    name = actor.display_name or actor.username
    return page(request, template, viewer, status_code=status_code, profile=profile_info, actor=actor,
                items=items.rows, older=items.older, can_publish=can_publish,
                published=request.query_params.get("published") == "1", form=form,
                idempotency_key=secrets.token_urlsafe(18), **sharing(runtime, profile_info, title=name))


async def _gallery_page(request: Request, which: str) -> Response:
    runtime: Runtime = request.app.state.runtime
    viewer = await signed_in(request)
    actor = await find_account(runtime, request.path_params["username"])
    if actor is None:
        return not_found(request, viewer)
    return await gallery(request, viewer, actor, which)


async def media_page(request: Request) -> Response:
    return await _gallery_page(request, "media")


async def documents_page(request: Request) -> Response:
    return await _gallery_page(request, "documents")


async def account_feed(request: Request, username: str) -> Response:
    """`/@alice.rss`: the latest public posts of a local account (not replies to others, not boosts)."""
    runtime: Runtime = request.app.state.runtime
    actor = await find_account(runtime, username)
    if actor is None or actor.domain is not None:
        return not_found(request, await signed_in(request))
    async with runtime.sessions() as session:
        news = await profile_views.news(session, actor, None, limit=MAX_FEED_POSTS)
        items = await post_items(session, [status for status in news.rows if status.visibility == "public"])
    settings = runtime.settings
    name = actor.display_name or actor.username
    info = FeedInfo(title=f"{name} (@{actor.handle(settings.domain)})", self_url=f"{settings.base_url}/@{username}.rss",
                    page_url=f"{settings.base_url}/@{actor.username}", language=settings.language,
                    subtitle=html_to_text(actor.summary or "") or name)
    body = await asyncio.to_thread(posts_feed, items, info, "rss")
    modified = max((item.status.updated or item.status.published for item in items), default=None)
    return conditional(request, body, FEED_TYPES["rss"], modified=modified)


async def account_by_id(request: Request) -> Response:
    """`/accounts/ID`: the page of any known account, by its id (links from pages that only know the id)."""
    runtime: Runtime = request.app.state.runtime
    actor_id = request.path_params["actor_id"]
    async with runtime.sessions() as session:
        actor = await session.get(Actor, actor_id) if 0 < actor_id < 2**63 else None
    if not profile_views.live(actor) or actor is None or (actor.domain is None and actor.kind == "instance"):
        return not_found(request, await signed_in(request))
    return RedirectResponse(account_path(actor), status_code=301)


routes: list[BaseRoute] = [
    Route("/@{username}", profile),
    Route("/@{username}/media", media_page),
    Route("/@{username}/documents", documents_page, methods=["GET"]),
    Route("/accounts/{actor_id:int}", account_by_id, methods=["GET"]),
]
