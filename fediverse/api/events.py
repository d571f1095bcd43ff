"""Client API extension: the agenda (events), local and federated.

`POST /api/v1/events` publishes an event (scope write:statuses; form or JSON), `GET /api/v1/events`
lists the agenda with filters, `GET /api/v1/events/:id` shows one, `PUT` changes it (only the fields
sent), `POST /api/v1/events/:id/cancel` cancels it, `DELETE` removes it. Writes go through
`outbox.events.EventCommands`, which publishes an `Event` status; refusals are 422 with the reason.

The agenda is ordered by start time; its `Link: <...>; rel="next"` carries a `cursor` parameter
(`<unix seconds of the last start>_<last event id>`), to be sent back as is.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, time
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from actors.events import (
    DEFAULT_TIMEZONE,
    AgendaError,
    AgendaFilter,
    Cursor,
    agenda_page,
    event_zone,
    find_event,
    find_organizer,
    iso_in_zone,
    summary_line,
)
from actors.neighbourhood import MAX_RADIUS_KM
from actors.teams import record_if_team_action
from fediverse.api.auth import Identity, authenticate, optional_identity, viewer_of
from fediverse.api.domain_calls import command, runtime_of
from fediverse.api.errors import not_found, unprocessable
from fediverse.api.params import as_list, flag_param, id_value, int_param, optional_id, path_id, read_params
from fediverse.api.serializers.accounts import account_to_api, iso
from fediverse.api.serializers.statuses import media_to_api
from fediverse.api.statuses import filter_visible
from fediverse.config import Settings
from fediverse.models import Actor, Attachment, Commune, Event, NeighbourCommune, Status
from fediverse.models.agenda import EVENT_CATEGORIES
from outbox.drafts import INSEE_RE
from outbox.events import EventCommands, event_spec, spec_of

SPEC_FIELDS = ("title", "description", "start", "end", "timezone", "category", "capacity", "join_mode",
               "external_url", "online_url", "status", "language", "place", "commune")
MAX_QUERY = 100
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# -- rendering ------------------------------------------------------------------------------------------

async def events_to_api(session: AsyncSession, settings: Settings, events: list[Event]) -> list[dict[str, Any]]:
    """Events as JSON, with a fixed number of queries whatever their number."""
    if not events:
        return []
    status_ids = [e.status_id for e in events]
    statuses = {s.id: s for s in await session.scalars(select(Status).where(Status.id.in_(status_ids)))}
    actor_ids = {e.actor_id for e in events} | {e.attributed_to_id for e in events if e.attributed_to_id}
    actors = {a.id: a for a in await session.scalars(select(Actor).where(Actor.id.in_(actor_ids)))}
    banners: dict[int, Attachment] = {}
    for item in await session.scalars(select(Attachment).where(Attachment.status_id.in_(status_ids))
                                      .order_by(Attachment.position.desc(), Attachment.id.desc())):
        banners[item.status_id or 0] = item  # the lowest position wins
    codes = {e.commune_insee for e in events if e.commune_insee}
    names: dict[str, str] = {}
    if codes:
        names.update((n.insee, n.name) for n in await session.scalars(
            select(NeighbourCommune).where(NeighbourCommune.insee.in_(codes))))
        names.update((c.insee, c.name) for c in await session.scalars(select(Commune).where(Commune.insee.in_(codes))))
    return [_event(e, statuses[e.status_id], actors, banners.get(e.status_id), names, settings)
            for e in events if e.status_id in statuses]


def _event(event: Event, status: Status, actors: dict[int, Actor], banner: Attachment | None,
           names: dict[str, str], settings: Settings) -> dict[str, Any]:
    zone = event_zone(event)
    extra = json.loads(status.extra_json) if status.extra_json else {}
    description = extra.get("content") if isinstance(extra.get("content"), str) else status.content
    remaining = max(event.capacity - event.participant_count, 0) if event.capacity else None
    organizer = actors.get(event.actor_id)
    attributed = actors.get(event.attributed_to_id) if event.attributed_to_id else None
    return {
        "id": str(event.id),
        "status_id": str(status.id),
        "uri": status.uri,
        "url": status.url or status.uri,
        "uuid": event.uuid,
        "local": event.local,
        "title": event.title,
        "description": description,
        "summary": summary_line(event),
        "start": iso_in_zone(event.starts_at, zone),
        "end": iso_in_zone(event.ends_at, zone),
        "timezone": zone.key,
        "place": {"name": event.place_name, "street": event.street, "postal_code": event.postal_code,
                  "locality": event.locality, "commune": event.commune_insee,
                  "latitude": event.latitude, "longitude": event.longitude},
        "commune": {"insee": event.commune_insee, "name": names.get(event.commune_insee)}
        if event.commune_insee else None,
        "category": event.category,
        "join_mode": event.join_mode,
        "capacity": event.capacity,
        "remaining": remaining,
        "participant_count": event.participant_count,
        "status": event.event_status,
        "cancelled": event.event_status == "CANCELLED",
        "organizer": account_to_api(organizer, settings) if organizer is not None else None,
        "attributed_to": account_to_api(attributed or organizer, settings)
        if (attributed or organizer) is not None else None,
        "banner": media_to_api(banner, settings) if banner is not None else None,
        "online_url": event.online_url,
        "external_url": event.external_url,
        "created_at": iso(event.created_at),
        "updated_at": iso(status.updated or status.published),
    }


async def _render(request: Request, event_id: int, viewer: int | None) -> JSONResponse:
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        event = await _visible_event(session, viewer, event_id)
        return JSONResponse((await events_to_api(session, runtime.settings, [event]))[0])


async def _visible_event(session: AsyncSession, viewer: int | None, event_id: int) -> Event:
    event = await find_event(session, event_id)
    status = await session.get(Status, event.status_id) if event is not None else None
    if event is None or status is None or not await filter_visible(session, viewer, [status]):
        raise not_found()
    return event


# -- writing --------------------------------------------------------------------------------------------

def _raw(params: dict[str, Any]) -> dict[str, Any]:
    return {key: params[key] for key in SPEC_FIELDS if key in params}


def _media_ids(params: dict[str, Any]) -> list[int] | None:
    if "media_ids" not in params:
        return None
    return [id_value(v, "media_ids") for v in as_list(params.get("media_ids")) if v != ""]


def _user_id(identity: Identity) -> int | None:
    return identity.user.id if identity.user is not None else None


async def create_event(request: Request) -> Response:
    identity = await authenticate(request, "write:statuses")
    runtime = runtime_of(request)
    params = await read_params(request)
    commands = EventCommands(runtime)
    spec = await command(_spec(params))
    event = await command(commands.create_event(
        identity.actor_id, spec, media_ids=_media_ids(params) or [],
        attributed_to_id=optional_id(params, "attributed_to"), user_id=_user_id(identity)))
    async with runtime.sessions() as session:
        status = await session.get(Status, event.status_id)
    await record_if_team_action(runtime, identity, "event.create", status.uri if status else None)
    return await _render(request, event.id, identity.actor_id)


async def _spec(params: dict[str, Any], current: Any = None) -> Any:
    """`event_spec` as an awaitable, so its CommandError becomes a 422 like any command's."""
    return event_spec(_raw(params), current)


async def update_event(request: Request) -> Response:
    identity = await authenticate(request, "write:statuses")
    runtime = runtime_of(request)
    event_id = path_id(request)
    params = await read_params(request)
    async with runtime.sessions() as session:
        event = await _visible_event(session, identity.actor_id, event_id)
        status = await session.get(Status, event.status_id)
        assert status is not None
        current = spec_of(event, status)
    spec = await command(_spec(params, current))
    await command(EventCommands(runtime).update_event(event_id, spec, actor_id=identity.actor_id,
                                                      user_id=_user_id(identity), media_ids=_media_ids(params)))
    await record_if_team_action(runtime, identity, "event.update", status.uri)
    return await _render(request, event_id, identity.actor_id)


async def cancel_event(request: Request) -> Response:
    identity = await authenticate(request, "write:statuses")
    runtime = runtime_of(request)
    event_id = path_id(request)
    async with runtime.sessions() as session:
        event = await _visible_event(session, identity.actor_id, event_id)
        status = await session.get(Status, event.status_id)
    await command(EventCommands(runtime).cancel_event(event_id, actor_id=identity.actor_id,
                                                      user_id=_user_id(identity)))
    await record_if_team_action(runtime, identity, "event.cancel", status.uri if status else None)
    return await _render(request, event_id, identity.actor_id)


async def delete_event(request: Request) -> Response:
    """Answers with the event as it was."""
    identity = await authenticate(request, "write:statuses")
    runtime = runtime_of(request)
    event_id = path_id(request)
    async with runtime.sessions() as session:
        event = await _visible_event(session, identity.actor_id, event_id)
        status = await session.get(Status, event.status_id)
        doc = (await events_to_api(session, runtime.settings, [event]))[0]
    await command(EventCommands(runtime).delete_event(event_id, actor_id=identity.actor_id,
                                                      user_id=_user_id(identity)))
    await record_if_team_action(runtime, identity, "event.delete", status.uri if status else None)
    return JSONResponse(doc)


# -- reading --------------------------------------------------------------------------------------------

def _date_param(params: dict[str, Any], name: str, *, end_of_day: bool) -> datetime | None:
    """An ISO 8601 date-time (UTC when it has no offset) or a date (its whole day, in Paris time)."""
    value = params.get(name)
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise unprocessable(f"{name} must be an ISO 8601 date or date-time", name)
    text = value.strip()
    try:
        if _DATE_ONLY.match(text):
            day = datetime.fromisoformat(text).date()
            moment = datetime.combine(day, time.max if end_of_day else time.min, ZoneInfo(DEFAULT_TIMEZONE))
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    except ValueError:
        raise unprocessable(f"{name} must be an ISO 8601 date or date-time", name) from None
    return moment


def _radius(params: dict[str, Any]) -> float | None:
    value = params.get("radius_km")
    if value in (None, ""):
        return None
    try:
        radius = float(str(value).strip()) if not isinstance(value, list | dict | bool) else math.nan
    except ValueError:
        radius = math.nan
    if not (0 < radius <= MAX_RADIUS_KM):
        raise unprocessable(f"radius_km must be more than 0 and at most {MAX_RADIUS_KM:g}", "radius_km")
    return radius


async def _filter(session: AsyncSession, params: dict[str, Any], viewer: int | None, domain: str) -> AgendaFilter:
    start = _date_param(params, "start", end_of_day=False)
    end = _date_param(params, "end", end_of_day=True)
    if start is not None and end is not None and end < start:
        raise unprocessable("end must not be before start", "end")
    category = params.get("category")
    if category not in (None, ""):
        category = str(category).strip().upper()
        if category not in EVENT_CATEGORIES:
            raise unprocessable(f"category must be one of {', '.join(EVENT_CATEGORIES)}", "category")
    commune = params.get("commune")
    if commune not in (None, ""):
        commune = str(commune).strip().upper()
        if not INSEE_RE.match(commune):
            raise unprocessable("commune must be an INSEE code", "commune")
    organizer_id = None
    organizer = params.get("organizer")
    if organizer not in (None, ""):
        if not isinstance(organizer, str | int) or isinstance(organizer, bool):
            raise unprocessable("organizer must be an account id or acct", "organizer")
        found = await find_organizer(session, str(organizer)[:300], domain)
        if found is None:
            raise unprocessable(f"unknown account {str(organizer)[:64]!r}", "organizer")
        organizer_id = found.id
    q = params.get("q")
    q = str(q).strip()[:MAX_QUERY] if isinstance(q, str | int) and str(q).strip() else None
    return AgendaFilter(start=start, end=end, past=bool(flag_param(params, "past")), category=category or None,
                        commune=commune or None, radius_km=_radius(params), organizer_id=organizer_id, q=q,
                        viewer_id=viewer)


async def list_events(request: Request) -> Response:
    viewer = viewer_of(await optional_identity(request, "read:statuses"))
    runtime = runtime_of(request)
    params = await read_params(request)
    limit = max(1, min(int_param(params, "limit", 20), 80))
    async with runtime.sessions() as session:
        try:
            f = await _filter(session, params, viewer, runtime.settings.domain)
            cursor_text = params.get("cursor")
            after = Cursor.parse(str(cursor_text)) if cursor_text not in (None, "") else None
            events = await agenda_page(session, f, after=after, limit=limit)
        except AgendaError as exc:
            raise unprocessable(str(exc)) from None
        docs = await events_to_api(session, runtime.settings, events)
    headers: dict[str, str] = {}
    if len(events) == limit:
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        query = urlencode([*kept, ("cursor", str(Cursor.of(events[-1])))])
        next_url = f"{runtime.settings.base_url}{request.url.path}?{query}"
        headers["Link"] = f'<{next_url}>; rel="next"'
    return JSONResponse(docs, headers=headers)


async def show_event(request: Request) -> Response:
    viewer = viewer_of(await optional_identity(request, "read:statuses"))
    return await _render(request, path_id(request), viewer)


async def event_of_status(request: Request) -> Response:
    """GET /api/v1/statuses/:id/event: the event behind a status (404 when it is not one)."""
    viewer = viewer_of(await optional_identity(request, "read:statuses"))
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        event = await session.scalar(select(Event).where(Event.status_id == path_id(request)))
        if event is None:
            raise not_found()
    return await _render(request, event.id, viewer)


routes: list[BaseRoute] = [
    Route("/api/v1/events", list_events, methods=["GET"]),
    Route("/api/v1/events", create_event, methods=["POST"]),
    Route("/api/v1/events/{id}", show_event, methods=["GET"]),
    Route("/api/v1/events/{id}", update_event, methods=["PUT"]),
    Route("/api/v1/events/{id}", delete_event, methods=["DELETE"]),
    Route("/api/v1/events/{id}/cancel", cancel_event, methods=["POST"]),
    Route("/api/v1/statuses/{id}/event", event_of_status, methods=["GET"]),
]
