"""Client API extension: petites annonces (`/api/v1/ads`).

`GET /api/v1/ads` lists open, unexpired ads, local and federated, newest first with Link
pagination; filters `category`, `purpose` (offer/request), `commune` (INSEE), `radius_km` (around
`commune`, else the signed-in resident's home commune), `q` (text of title and description) and
`status` (open, closed, expired). Reading needs no token. Writing (`POST`, `PUT /:id`,
`POST /:id/close`, `DELETE /:id`) needs `write:statuses` and goes through the outbox: an ad is a
public status, so it is also visible (and editable) as a status from any Mastodon app.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from actors.ad_views import description_of
from actors.ads import AdFilter, AdQueryError, ad_with_status, find_ads
from actors.teams import record_if_team_action
from fediverse.ad_terms import AdInputError, format_amount, parse_price
from fediverse.api.auth import authenticate, optional_identity, viewer_of
from fediverse.api.domain_calls import command, runtime_of
from fediverse.api.errors import not_found, unprocessable
from fediverse.api.pagination import Page, link_header
from fediverse.api.params import as_list, flag_param, id_value, path_id, read_params, scalar_text
from fediverse.api.serializers.accounts import account_to_api, iso
from fediverse.api.serializers.statuses import media_to_api
from fediverse.api.statuses import filter_visible
from fediverse.as2 import parse_datetime
from fediverse.config import Settings
from fediverse.db import utcnow
from fediverse.models import Actor, Ad, Attachment, Status
from outbox.ad_commands import close_ad, delete_ad, edit_ad, post_ad
from outbox.ads import AdSpec
from outbox.commands import Outbox

MAX_EXPIRES_IN_DAYS = 90


# -- rendering --------------------------------------------------------------------------------------

def ad_to_api(ad: Ad, status: Status, author: Actor, media: list[Attachment], settings: Settings) -> dict[str, Any]:
    place = json.loads(status.location_json) if status.location_json else None
    name = place.get("name") if isinstance(place, dict) else None
    now = utcnow()
    return {
        "id": str(ad.id),
        "status_id": str(status.id),
        "uri": status.uri,
        "url": status.url or status.uri,
        "title": ad.title,
        "description": description_of(ad, status),
        "category": ad.category,
        "purpose": ad.purpose,
        "price": format_amount(ad.price_cents) if ad.price_cents is not None and not ad.free else None,
        "currency": ad.currency,
        "free": ad.free,
        "commune": {"insee": ad.commune_insee, "name": name} if ad.commune_insee else None,
        "latitude": ad.latitude,
        "longitude": ad.longitude,
        "created_at": iso(status.published),
        "expires_at": iso(ad.expires_at),
        "expired": ad.state == "open" and (ad.expired_at is not None or ad.expires_at <= now),
        "state": ad.state,
        "closed_reason": ad.closed_reason,
        "local": ad.local,
        "account": account_to_api(author, settings),
        "media_attachments": [media_to_api(m, settings) for m in media],
    }


async def render_ads(session: AsyncSession, settings: Settings, rows: list[tuple[Ad, Status]]) -> list[dict[str, Any]]:
    """Several ads with a fixed number of queries (authors and media in one go each)."""
    if not rows:
        return []
    status_ids = [status.id for _, status in rows]
    authors = {a.id: a for a in await session.scalars(select(Actor).where(
        Actor.id.in_(list({status.actor_id for _, status in rows}))))}
    media: dict[int, list[Attachment]] = {}
    for item in await session.scalars(select(Attachment).where(Attachment.status_id.in_(status_ids))
                                      .order_by(Attachment.position, Attachment.id)):
        media.setdefault(item.status_id or 0, []).append(item)
    return [ad_to_api(ad, status, authors[status.actor_id], media.get(status.id, []), settings)
            for ad, status in rows]


async def _render_one(request: Request, ad_id: int, viewer_id: int | None) -> dict[str, Any]:
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        found = await ad_with_status(session, ad_id)
        if found is None or not await filter_visible(session, viewer_id, [found[1]]):
            raise not_found()
        return (await render_ads(session, runtime.settings, [found]))[0]


# -- parameters -------------------------------------------------------------------------------------

def _text(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, list | dict):
        raise unprocessable(f"{name} must be text", name)
    return str(value)


def _radius(params: dict[str, Any]) -> float | None:
    raw = scalar_text(params, "radius_km")
    if raw is None or raw.strip() == "":
        return None
    try:
        radius = float(raw)
    except ValueError:
        raise unprocessable("radius_km must be a number", "radius_km") from None
    if not math.isfinite(radius):
        raise unprocessable("radius_km must be a number", "radius_km")
    return radius


def _expiry(params: dict[str, Any]) -> datetime | None:
    if params.get("expires_at") not in (None, ""):
        expires_at = parse_datetime(_text(params, "expires_at"))
        if expires_at is None:
            raise unprocessable("expires_at must be an ISO 8601 date", "expires_at")
        return expires_at
    if params.get("expires_in_days") not in (None, ""):
        days = scalar_text(params, "expires_in_days") or ""
        if not days.strip().isdigit() or not 1 <= int(days) <= MAX_EXPIRES_IN_DAYS:
            raise unprocessable(f"expires_in_days must be a whole number from 1 to {MAX_EXPIRES_IN_DAYS}",
                                "expires_in_days")
        return utcnow() + timedelta(days=int(days))
    return None


def _price(params: dict[str, Any]) -> tuple[int | None, bool] | None:
    """(cents, free) when the request says something about the price, else None."""
    free = flag_param(params, "free")
    raw = _text(params, "price")
    if raw is not None and raw.strip() != "":
        try:
            cents = parse_price(raw)
        except AdInputError as exc:
            raise unprocessable(str(exc), "price") from None
        if free:
            raise unprocessable("an ad is either free or has a price, not both", "price")
        return cents, False
    if free is not None:
        return None, free
    return None


def _spec(params: dict[str, Any], current: AdSpec | None) -> AdSpec:
    """The ad described by the parameters; on an edit, what is not sent stays as it is."""
    visibility = _text(params, "visibility")
    if visibility not in (None, "", "public"):
        raise unprocessable("an ad is always public", "visibility")
    title = _text(params, "title")
    category = _text(params, "category")
    purpose = _text(params, "purpose")
    description = _text(params, "description")
    if current is None and not (title or "").strip():
        raise unprocessable("title is required", "title")
    if current is None and not category:
        raise unprocessable("category is required", "category")
    price = _price(params)
    media_ids = [id_value(v, "media_ids") for v in as_list(params.get("media_ids"))] \
        if "media_ids" in params else None
    commune = (_text(params, "commune") or "").strip().upper() or None
    category = (category or (current.category if current else "")).strip().lower()
    base = current or AdSpec("", "", category, "", None, False, None)
    return AdSpec(
        title=title if title is not None else base.title,
        description=description if description is not None else base.description,
        category=category,
        purpose=_purpose(purpose, current, category),
        price_cents=price[0] if price is not None else base.price_cents,
        free=price[1] if price is not None else (base.free if current else category == "don"),
        expires_at=_expiry(params),
        commune=commune,
        media_ids=media_ids,
    )


def _purpose(given: str | None, current: AdSpec | None, category: str) -> str:
    """As sent; else unchanged on an edit that keeps the category; else what the category implies."""
    if given and given.strip():
        return given.strip().lower()
    if current is not None and current.category == category:
        return current.purpose
    return "request" if category == "recherche" else "offer"


def _current_spec(ad: Ad, status: Status) -> AdSpec:
    return AdSpec(ad.title, description_of(ad, status), ad.category, ad.purpose, ad.price_cents, ad.free, None)


def _filter(request: Request) -> AdFilter:
    params = dict(request.query_params)
    return AdFilter(
        category=(params.get("category") or "").strip().lower() or None,
        purpose=(params.get("purpose") or "").strip().lower() or None,
        commune=(params.get("commune") or "").strip().upper() or None,
        radius_km=_radius(params),
        q=(params.get("q") or "").strip() or None,
        state=(params.get("status") or "open").strip().lower(),
    )


# -- endpoints --------------------------------------------------------------------------------------

async def list_ads(request: Request) -> Response:
    viewer = viewer_of(await optional_identity(request, "read:statuses"))
    runtime = runtime_of(request)
    page = Page.from_request(request)
    flt = _filter(request)
    async with runtime.sessions() as session:
        try:
            rows = await find_ads(session, flt, page, viewer)
        except AdQueryError as exc:
            raise unprocessable(str(exc)) from None
        docs = await render_ads(session, runtime.settings, rows)
    return JSONResponse(docs, headers=link_header(request, [ad.id for ad, _ in rows]))


async def show_ad(request: Request) -> Response:
    viewer = viewer_of(await optional_identity(request, "read:statuses"))
    return JSONResponse(await _render_one(request, path_id(request), viewer))


async def create_ad(request: Request) -> Response:
    identity = await authenticate(request, "write:statuses")
    runtime = runtime_of(request)
    spec = _spec(await read_params(request), None)
    ad = await command(post_ad(Outbox(runtime), identity.actor_id, spec))
    async with runtime.sessions() as session:
        status = await session.get(Status, ad.status_id)
    await record_if_team_action(runtime, identity, "status.create", status.uri if status else None)
    return JSONResponse(await _render_one(request, ad.id, identity.actor_id))


async def update_ad(request: Request) -> Response:
    identity = await authenticate(request, "write:statuses")
    runtime = runtime_of(request)
    ad_id = path_id(request)
    async with runtime.sessions() as session:
        found = await ad_with_status(session, ad_id)
    if found is None or not found[0].local or found[0].actor_id != identity.actor_id:
        raise not_found()
    spec = _spec(await read_params(request), _current_spec(*found))
    await command(edit_ad(Outbox(runtime), identity.actor_id, ad_id, spec))
    await record_if_team_action(runtime, identity, "status.update", found[1].uri)
    return JSONResponse(await _render_one(request, ad_id, identity.actor_id))


async def close(request: Request) -> Response:
    identity = await authenticate(request, "write:statuses")
    runtime = runtime_of(request)
    ad_id = path_id(request)
    reason = (_text(await read_params(request), "reason") or "").strip().lower()
    if not reason:
        raise unprocessable("reason is required (donne, trouve or pourvu)", "reason")
    await command(close_ad(Outbox(runtime), identity.actor_id, ad_id, reason))
    return JSONResponse(await _render_one(request, ad_id, identity.actor_id))


async def remove_ad(request: Request) -> Response:
    identity = await authenticate(request, "write:statuses")
    runtime = runtime_of(request)
    ad_id = path_id(request)
    async with runtime.sessions() as session:
        found = await ad_with_status(session, ad_id)
    if found is None or not found[0].local or found[0].actor_id != identity.actor_id:
        raise not_found()
    doc = await _render_one(request, ad_id, identity.actor_id)
    await command(delete_ad(Outbox(runtime), identity.actor_id, ad_id))
    await record_if_team_action(runtime, identity, "status.delete", found[1].uri)
    return JSONResponse(doc)


routes: list[BaseRoute] = [
    Route("/api/v1/ads", list_ads, methods=["GET"]),
    Route("/api/v1/ads", create_ad, methods=["POST"]),
    Route("/api/v1/ads/{id}", show_ad, methods=["GET"]),
    Route("/api/v1/ads/{id}", update_ad, methods=["PUT"]),
    Route("/api/v1/ads/{id}", remove_ad, methods=["DELETE"]),
    Route("/api/v1/ads/{id}/close", close, methods=["POST"]),
]
