"""Search (`/search?q=`) and hashtag pages (`/tags/brocante`, with its RSS feed `/tags/brocante.rss`).

One query looks everywhere a resident would: accounts (local and known remote), public posts,
hashtags, open petites annonces and upcoming events (the ads' and the agenda's own text filters).
Like Mastodon's search with `resolve`, a signed-in person who types `@user@other.example` or pastes
the address of a post or a profile on another server gets it fetched from its origin (WebFinger
and a signed fetch); a visitor only finds what this server already knows. `type=` narrows the
page to one kind of result, with more of them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors import search
from actors.ad_views import AdCard, AdWindow, list_ad_cards
from actors.ads import MAX_QUERY_LENGTH as MAX_AD_QUERY
from actors.ads import AdFilter
from actors.agenda_views import EventCard, event_cards, upcoming_events
from actors.directory import communes_by_code
from actors.events import AgendaFilter
from actors.feeds import FeedInfo
from actors.post_feeds import MAX_FEED_POSTS, post_items, posts_feed
from actors.profile_views import find_profile, live
from actors.remote import ActorResolver
from actors.status_views import StatusView, status_views
from actors.tags import TagError, normalize_tag
from actors.timelines import tag_timeline
from fediverse.http import FetchError
from fediverse.models import Actor, Status
from fediverse.runtime import Runtime
from fediverse.templating import translations
from fediverse.web.auth import SignedIn, language_of, page, signed_in
from fediverse.web.feed_routes import FEED_TYPES, conditional
from fediverse.web.profile_common import BadLink, account_cards, account_path, bad_link, cursor
from fediverse.web.social_common import not_found
from inbox.fetch_objects import known_object, resolve_remote_object
from webfinger.client import resolve_handle

TYPES = ("accounts", "posts", "tags", "ads", "events")
LIMITS = {"accounts": 8, "posts": 10, "tags": 8, "ads": 6, "events": 6}
NARROWED_LIMIT = 40
TAG_PAGE = 20


@dataclass
class Results:
    """Everything one query found, by kind."""

    accounts: list[Any] = field(default_factory=list)
    posts: list[StatusView] = field(default_factory=list)
    tags: list[search.TagUse] = field(default_factory=list)
    ads: list[AdCard] = field(default_factory=list)
    events: list[EventCard] = field(default_factory=list)
    older_posts: int | None = None

    @property
    def empty(self) -> bool:
        return not (self.accounts or self.posts or self.tags or self.ads or self.events)


def _is_url(q: str) -> bool:
    return q.startswith(("https://", "http://")) and " " not in q


def _is_remote_handle(q: str, local_domain: str) -> bool:
    username, at, domain = q.lstrip("@").partition("@")
    return bool(at and username and domain and " " not in q and domain.lower() != local_domain.lower())


async def resolve_account(runtime: Runtime, handle: str) -> Actor | None:
    """`user@domain` -> the actor, fetched from its server (WebFinger, then a signed fetch)."""
    try:
        actor = await ActorResolver(runtime).get(await resolve_handle(runtime, handle))
    except (ValueError, FetchError, RuntimeError):
        return None
    return actor if live(actor) else None


async def _found_by_address(runtime: Runtime, viewer: SignedIn | None, q: str) -> Actor | Status | None:
    """What a pasted address or a full handle names: known, or (signed in) fetched from its origin."""
    if _is_url(q):
        found = await resolve_remote_object(runtime, q) if viewer is not None else await known_object(runtime, q)
        if isinstance(found, Status) and found.visibility != "public":
            return None
        return found if isinstance(found, Status) or live(found) else None
    async with runtime.sessions() as session:
        known = await find_profile(session, q, runtime.settings.domain)
    if known is None and viewer is not None and _is_remote_handle(q, runtime.settings.domain):
        return await resolve_account(runtime, q.lstrip("@"))
    return known


async def run_search(runtime: Runtime, viewer: SignedIn | None, q: str, kind: str | None, before: int | None,
                     exact: Actor | Status | None) -> Results:
    """Every kind of result (or only `kind`) for `q`; `exact` is what the query names as an address."""
    reader = viewer.acting.id if viewer is not None else None
    results = Results()
    wanted = [kind] if kind else list(TYPES)
    limits = {name: NARROWED_LIMIT if kind else LIMITS[name] for name in TYPES}
    async with runtime.sessions() as session:
        if "accounts" in wanted:
            actors = [exact] if isinstance(exact, Actor) else []
            found_accounts = await search.find_accounts(session, q, reader, local_domain=runtime.settings.domain,
                                                        limit=limits["accounts"])
            actors += [a for a in found_accounts if all(a.id != other.id for other in actors)]
            results.accounts = account_cards(actors[:limits["accounts"]], await communes_by_code(session),
                                             runtime.settings.domain)
        if "posts" in wanted:
            statuses = [exact] if isinstance(exact, Status) and before is None else []
            found = await search.find_posts(session, q, reader, before=before, limit=limits["posts"] + 1)
            statuses += [s for s in found[:limits["posts"]] if all(s.id != other.id for other in statuses)]
            results.posts = await status_views(session, reader, statuses)
            results.older_posts = found[limits["posts"] - 1].id if len(found) > limits["posts"] else None
        if "tags" in wanted:
            results.tags = await search.find_tags(session, q, limit=limits["tags"])
        if "ads" in wanted:
            results.ads = await list_ad_cards(session, AdFilter(q=q[:MAX_AD_QUERY]), AdWindow(limit=limits["ads"]),
                                              reader)
        if "events" in wanted:
            events = await upcoming_events(session, AgendaFilter(q=q, viewer_id=reader), limit=limits["events"])
            results.events = await event_cards(session, events, runtime.settings.domain)
    return results


async def search_page(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    viewer = await signed_in(request)
    gettext = translations(language_of(request, viewer)).gettext
    q = " ".join((request.query_params.get("q") or "").split())
    kind = request.query_params.get("type") or None
    if kind is not None and kind not in TYPES:
        return bad_link(request, viewer, gettext("This kind of result is not one the search knows."))
    if len(q) > search.MAX_QUERY:
        return bad_link(request, viewer, gettext("The search text is too long: at most %(max)d characters.")
                        % {"max": search.MAX_QUERY})
    try:
        before = cursor(request)
    except BadLink:
        return bad_link(request, viewer)
    exact = await _found_by_address(runtime, viewer, q) if q and ("@" in q or _is_url(q)) else None
    if isinstance(exact, Actor) and _is_url(q) and kind is None:  # a pasted profile address: that profile
        return RedirectResponse(account_path(exact), status_code=303)
    results = await run_search(runtime, viewer, q, kind, before, exact) if q else Results()
    older_link = None
    if results.older_posts is not None:
        older_link = "/search?" + urlencode({"q": q, "type": "posts", "max_id": results.older_posts})
    title = gettext("Search: %(query)s") % {"query": q} if q else gettext("Search")
    return page(request, "search.html", viewer, q=q, kind=kind, results=results, title=title, types=TYPES,
                older_link=older_link, narrowed=kind is not None, max_query=search.MAX_QUERY,
                signed=viewer is not None, og={"title": title})


def _tag_name(request: Request) -> str | None:
    try:
        return normalize_tag(request.path_params["tag"])
    except TagError:
        return None


async def tag_page(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    viewer = await signed_in(request)
    name = _tag_name(request)
    if name is None:
        return not_found(request, viewer)
    if name != request.path_params["tag"]:
        return RedirectResponse(f"/tags/{name}", status_code=301)
    try:
        before = cursor(request)
    except BadLink:
        return bad_link(request, viewer)
    reader = viewer.acting.id if viewer is not None else None
    async with runtime.sessions() as session:
        rows = await tag_timeline(session, reader, search.Older(before, TAG_PAGE + 1), any_tags=[name])
        statuses = await status_views(session, reader, rows[:TAG_PAGE])
        count = await search.tag_post_count(session, name)
    older = rows[TAG_PAGE - 1].id if len(rows) > TAG_PAGE else None
    settings = runtime.settings
    return page(request, "directory/tag.html", viewer, tag=name, statuses=statuses, count=count,
                older_link=f"/tags/{name}?max_id={older}" if older else None, first_page=before is None,
                og={"title": f"#{name}", "url": f"{settings.base_url}/tags/{name}"},
                alternates=[("application/rss+xml", f"/tags/{name}.rss", f"#{name} (RSS)")])


async def tag_feed(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    name = _tag_name(request)
    if name is None:
        return not_found(request, await signed_in(request))
    async with runtime.sessions() as session:
        rows = await tag_timeline(session, None, search.Older(None, MAX_FEED_POSTS), any_tags=[name])
        items = await post_items(session, rows)
    settings = runtime.settings
    site = settings.instance_name or settings.domain
    info = FeedInfo(title=f"#{name} – {site}", self_url=f"{settings.base_url}/tags/{name}.rss",
                    page_url=f"{settings.base_url}/tags/{name}", language=settings.language, subtitle=f"#{name}")
    body = await asyncio.to_thread(posts_feed, items, info, "rss")
    modified = max((item.status.updated or item.status.published for item in items), default=None)
    return conditional(request, body, FEED_TYPES["rss"], modified=modified)


routes: list[BaseRoute] = [
    Route("/search", search_page, methods=["GET"]),
    Route("/tags/{tag}.rss", tag_feed, methods=["GET"]),
    Route("/tags/{tag}", tag_page, methods=["GET"]),
]
