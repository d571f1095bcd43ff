"""HTTP edge of the calendar and news feeds: iCalendar (`.ics`, subscribable as webcal://), Atom and RSS.

- `GET /events/{id}.ics`: one public or unlisted event (id = event id, status id or uuid).
- `GET /agenda.ics`, `/communes/{insee}/agenda.ics`, `/@{username}/agenda.ics`: the agenda (events still
  running or ended less than 30 days ago) of the whole instance, of one commune, of one account.
- `GET /@{username}/going.ics?token=...`: what that resident is going to (the token comes from
  `GET /api/v1/events/going_feed`); 403 without the right token.
- `GET /agenda.atom`, `/agenda.rss` (upcoming events), `/ads.atom`, `/ads.rss` (open ads), each with an
  optional `?commune=INSEE`.

Answers carry a strong ETag and Last-Modified and answer a matching If-None-Match with a 304 (and
If-Modified-Since for one event), because calendar apps and feed readers poll these URLs all day.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from actors import calendar, feeds
from actors.calendar import AgendaItem
from fediverse.db import utcnow
from fediverse.runtime import Runtime

ICS_TYPE = "text/calendar; charset=utf-8"
FEED_TYPES = {"atom": "application/atom+xml; charset=utf-8", "rss": "application/rss+xml; charset=utf-8"}
PUBLIC_CACHE = "public, max-age=300"
PRIVATE_CACHE = "private, max-age=300"


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match: `*` or a list of (possibly weak) tags; weak comparison, as RFC 9110 wants for GET."""
    if header.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in header.split(","))


def _not_modified_since(header: str, modified: datetime) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    return since.tzinfo is not None and modified.replace(microsecond=0) <= since


def conditional(request: Request, body: bytes, media_type: str, *, modified: datetime | None,
                cache: str = PUBLIC_CACHE, headers: dict[str, str] | None = None, by_date: bool = False) -> Response:
    """The body, or a 304 when the client's copy is still the current one: by ETag, and by date only for
    one event (a list also changes when an event is deleted or ends, which moves no date forward)."""
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    out = {"ETag": etag, "Cache-Control": cache, **(headers or {})}
    if modified is not None:
        out["Last-Modified"] = format_datetime(modified.replace(microsecond=0), usegmt=True)
    if_none_match = request.headers.get("if-none-match")
    if_modified_since = request.headers.get("if-modified-since")
    if if_none_match is not None:
        if _etag_matches(if_none_match, etag):
            return Response(status_code=304, headers=out)
    elif by_date and if_modified_since and modified is not None and _not_modified_since(if_modified_since, modified):
        return Response(status_code=304, headers=out)
    return Response(body, media_type=media_type, headers=out)


async def _ics(request: Request, items: list[AgendaItem], name: str, *, cache: str = PUBLIC_CACHE,
               headers: dict[str, str] | None = None, by_date: bool = False) -> Response:
    # Building a large calendar is CPU work: off the event loop, so other requests keep being served.
    body = await asyncio.to_thread(calendar.build_calendar, items, name)
    modified = max((item.modified for item in items), default=None)
    return conditional(request, body, ICS_TYPE, modified=modified, cache=cache, headers=headers, by_date=by_date)


# ---------------------------------------------------------------------------------------------
# iCalendar
# ---------------------------------------------------------------------------------------------


async def event_ics(request: Request) -> Response:
    key = request.path_params["key"]
    async with _runtime(request).sessions() as session:
        item = await calendar.event_item(session, key)
    if item is None:
        return _error(404, "Record not found")
    filename = re.sub(r"[^A-Za-z0-9_-]", "", item.event.uuid or "")[:64] or str(item.event.id)
    return await _ics(request, [item], item.event.title,
                      headers={"Content-Disposition": f'attachment; filename="{filename}.ics"'}, by_date=True)


async def _commune_param(request: Request, session: Any) -> tuple[str | None, str | None, Response | None]:
    """The `?commune=` filter: (code, name, None), (None, None, None) without it, or a 404 for an unknown one."""
    code = request.query_params.get("commune")
    if not code:
        return None, None, None
    commune = await calendar.known_commune(session, code)
    if commune is None:
        return None, None, _error(404, "Unknown commune")
    return commune.insee, commune.name, None


async def agenda_ics(request: Request) -> Response:
    runtime = _runtime(request)
    async with runtime.sessions() as session:
        code, commune_name, error = await _commune_param(request, session)
        if error is not None:
            return error
        name = commune_name or await calendar.territory_name(session, runtime.settings)
        items = await calendar.agenda_items(session, since=calendar.agenda_since(), commune_insee=code)
    return await _ics(request, items, f"Agenda – {name}")


async def commune_ics(request: Request) -> Response:
    async with _runtime(request).sessions() as session:
        commune = await calendar.known_commune(session, request.path_params["insee"])
        if commune is None:
            return _error(404, "Unknown commune")
        items = await calendar.agenda_items(session, since=calendar.agenda_since(), commune_insee=commune.insee)
    return await _ics(request, items, f"Agenda – {commune.name}")


async def account_ics(request: Request) -> Response:
    async with _runtime(request).sessions() as session:
        actor = await calendar.local_account(session, request.path_params["username"])
        if actor is None:
            return _error(404, "Record not found")
        items = await calendar.agenda_items(session, since=calendar.agenda_since(), account_id=actor.id)
    return await _ics(request, items, f"Agenda – {calendar.clean_text(actor.display_name) or actor.username}")


async def going_ics(request: Request) -> Response:
    runtime = _runtime(request)
    async with runtime.sessions() as session:
        actor = await calendar.local_account(session, request.path_params["username"])
        if actor is None:
            return _error(404, "Record not found")
        user = await calendar.user_of(session, actor)
        if user is None or not calendar.check_going_token(runtime.settings, user.id,
                                                          request.query_params.get("token")):
            return _error(403, "This calendar needs the link given by the app (its token is missing or wrong)")
        items = await calendar.going_items(session, actor.id, since=calendar.agenda_since())
    name = calendar.clean_text(actor.display_name) or actor.username
    # Personal: never in a shared cache, and its URL (the token) never sent on as a Referer.
    return await _ics(request, items, f"{name} – J'y vais", cache=PRIVATE_CACHE,
                      headers={"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"})


# ---------------------------------------------------------------------------------------------
# Atom and RSS
# ---------------------------------------------------------------------------------------------


def _info(request: Request, title: str, subtitle: str) -> feeds.FeedInfo:
    settings = _runtime(request).settings
    self_url = f"{settings.base_url}{request.url.path}"
    if request.url.query:
        self_url += f"?{request.url.query}"
    return feeds.FeedInfo(title=title, self_url=self_url, page_url=f"{settings.base_url}/",
                          language=settings.language, subtitle=subtitle)


def _feed_route(kind: str, what: str) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        runtime = _runtime(request)
        async with runtime.sessions() as session:
            code, commune_name, error = await _commune_param(request, session)
            if error is not None:
                return error
            name = commune_name or await calendar.territory_name(session, runtime.settings)
            if what == "agenda":
                events = await calendar.agenda_items(session, since=utcnow(), commune_insee=code,
                                                     limit=feeds.MAX_FEED_EVENTS)
                ads: list[feeds.AdItem] = []
            else:
                ads = await feeds.open_ads(session, commune_insee=code)
                events = []
        if what == "agenda":
            info = _info(request, f"Agenda – {name}", f"Les prochains événements – {name}")
            body = await asyncio.to_thread(feeds.events_feed, events, info, kind)
            modified = max((item.modified for item in events), default=None)
        else:
            info = _info(request, f"Petites annonces – {name}", f"Les annonces en cours – {name}")
            body = await asyncio.to_thread(feeds.ads_feed, ads, info, kind)
            modified = max((item.modified for item in ads), default=None)
        return conditional(request, body, FEED_TYPES[kind], modified=modified)

    endpoint.__name__ = f"{what}_{kind}"
    return endpoint


routes = [
    Route("/events/{key}.ics", event_ics),
    Route("/agenda.ics", agenda_ics),
    Route("/communes/{insee}/agenda.ics", commune_ics),
    Route("/@{username}/agenda.ics", account_ics),
    Route("/@{username}/going.ics", going_ics),
    Route("/agenda.atom", _feed_route("atom", "agenda")),
    Route("/agenda.rss", _feed_route("rss", "agenda")),
    Route("/ads.atom", _feed_route("atom", "ads")),
    Route("/ads.rss", _feed_route("rss", "ads")),
]
