"""Status permalinks (`/@username/ID`): the post in its thread (what it answers, and the replies),
with sharing previews and a link to its ActivityPub representation; `/statuses/ID` shows a remote
post the same way (a local one redirects to its permalink).

Only what the viewer may read is shown (actors/threads.py): an anonymous visitor sees public and
unlisted posts; a signed-in person also sees the followers-only posts of accounts they follow and
the private messages addressed to them. Anything else is answered "not found", so that a private
message's existence is never revealed.

An event or an ad is a status too (its ActivityPub `url` is this permalink): the permalink of one is
the event page (fediverse/web/agenda_pages.py `event_page`) or the ad page (fediverse/web/ad_pages.py
`ad_page`)."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.status_views import status_views
from actors.threads import readable_status, thread_of
from fediverse.models import Ad, Event, Status
from fediverse.web import ad_pages, agenda_pages
from fediverse.web.auth import SignedIn, page, signed_in
from fediverse.web.follow_pages import follow_relationship
from fediverse.web.public_pages import local_actor, wants_activitypub
from fediverse.web.social_common import not_found, path_id, runtime_of


def viewer_id(viewer: SignedIn | None) -> int | None:
    """Whose eyes a page is shown through: the identity the person acts as."""
    return viewer.acting.id if viewer is not None else None


async def status_page(request: Request) -> Response:
    runtime = runtime_of(request)
    viewer = await signed_in(request)
    actor = await local_actor(runtime, request.path_params["username"])
    status_id = path_id(request)
    status = None
    if actor is not None and status_id is not None:
        async with runtime.sessions() as session:
            status = await readable_status(session, viewer_id(viewer), status_id)
    if actor is None or status is None or status.actor_id != actor.id or status.reblog_of_id is not None:
        return not_found(request, viewer)
    if wants_activitypub(request):
        return RedirectResponse(status.uri, status_code=302)
    async with runtime.sessions() as session:
        event = await session.scalar(select(Event).where(Event.status_id == status.id))
        ad = await session.scalar(select(Ad).where(Ad.status_id == status.id)) if event is None else None
    if event is not None and hasattr(agenda_pages, "event_page"):
        return await agenda_pages.event_page(request, viewer, actor, status, event)
    if ad is not None and hasattr(ad_pages, "ad_page"):
        return await ad_pages.ad_page(request, viewer, actor, status, ad)
    return await thread_page(request, viewer, status)


async def any_status_page(request: Request) -> Response:
    """`/statuses/ID`: a remote post read here (to reply, like or boost it); a local one redirects to
    its permalink."""
    runtime = runtime_of(request)
    viewer = await signed_in(request)
    status_id = path_id(request)
    status = None
    if status_id is not None:
        async with runtime.sessions() as session:
            status = await readable_status(session, viewer_id(viewer), status_id)
            if status is not None and status.reblog_of_id is not None:
                status = await readable_status(session, viewer_id(viewer), status.reblog_of_id)
    if status is None:
        return not_found(request, viewer)
    if status.local and status.url:
        return RedirectResponse(status.url, status_code=303)
    return await thread_page(request, viewer, status)


async def thread_page(request: Request, viewer: SignedIn | None, status: Status) -> Response:
    """The status with its ancestors and replies, as the viewer may read them."""
    runtime = runtime_of(request)
    reader = viewer_id(viewer)
    async with runtime.sessions() as session:
        thread = await thread_of(session, reader, status)
        views = await status_views(session, reader, [*thread.ancestors, status, *(s for s, _ in thread.descendants)])
    by_id = {view.id: view for view in views}
    focus = by_id.get(status.id)
    if focus is None:  # its author's row is gone
        return not_found(request, viewer)
    ancestors = [by_id[s.id] for s in thread.ancestors if s.id in by_id]
    replies = [(by_id[s.id], depth) for s, depth in thread.descendants if s.id in by_id]
    author = focus.author
    handle = author.handle(runtime.settings.domain)
    image = focus.images[0] if focus.images else None
    og = {"title": f"{author.display_name or author.username} (@{handle})", "description": focus.excerpt,
          "type": "article", "url": status.url or status.uri,
          "image": (image.preview_url or image.url) if image is not None else author.icon_url}
    relationship = await follow_relationship(runtime, viewer, author)
    return page(request, "status.html", viewer, focus=focus, ancestors=ancestors, replies=replies, handle=handle,
                og=og, author_relationship=relationship, indexable=status.local and status.visibility == "public",
                alternates=[("application/activity+json", status.uri, None)])


routes: list[BaseRoute] = [
    Route("/@{username}/{status_id:int}", status_page),
    Route("/statuses/{status_id:int}", any_status_page, methods=["GET"]),
]
