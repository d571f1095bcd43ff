"""Reading petites annonces: the filtered list (local and remote alike), one ad, and the ads the
expiry job must close.

An ad is listed while it is open and not past `expires_at`, whatever the job has done yet: the
query hides it the moment it expires, the job (`outbox.ad_commands.expire_due_ads`) only records it and
tells followers. Only public statuses of live accounts are listed, without the viewer's blocked and
muted accounts (the same rule as the public timelines). Radius filters reuse the neighbourhood
timeline's portable distance arithmetic on the status's point, plus the known communes (ours and
neighbour instances') whose centre lies within the radius.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.neighbourhood import MAX_RADIUS_KM, known_communes
from actors.territory import haversine_km
from actors.timelines.clauses import public_clause
from actors.timelines.neighbourhood import within_km
from actors.timelines.paging import Window
from actors.timelines.relations import load_relations
from fediverse.db import utcnow
from fediverse.models import Actor, Ad, Status
from fediverse.models.agenda import AD_CATEGORIES, AD_PURPOSES

AD_LIST_STATES = ("open", "closed", "expired")
MAX_QUERY_LENGTH = 100


class AdQueryError(ValueError):
    """A filter that cannot be applied; the message names it (HTTP 422)."""


@dataclass(frozen=True)
class AdFilter:
    """The filters of `GET /api/v1/ads`, already parsed (see `check`)."""

    category: str | None = None
    purpose: str | None = None
    commune: str | None = None
    radius_km: float | None = None
    q: str | None = None
    state: str = "open"

    def check(self) -> AdFilter:
        if self.category is not None and self.category not in AD_CATEGORIES:
            raise AdQueryError(f"unknown category {self.category[:40]!r} (one of {', '.join(AD_CATEGORIES)})")
        if self.purpose is not None and self.purpose not in AD_PURPOSES:
            raise AdQueryError("purpose must be offer or request")
        if self.state not in AD_LIST_STATES:
            raise AdQueryError("status must be open, closed or expired")
        if self.radius_km is not None and not (0 < self.radius_km <= MAX_RADIUS_KM):  # also refuses NaN
            raise AdQueryError(f"radius_km must be more than 0 and at most {MAX_RADIUS_KM:g}")
        if self.q is not None and len(self.q) > MAX_QUERY_LENGTH:
            raise AdQueryError(f"q is limited to {MAX_QUERY_LENGTH} characters")
        return self


def state_clause(state: str, now: datetime) -> ColumnElement[bool]:
    if state == "closed":
        return Ad.state == "closed"
    if state == "expired":
        return and_(Ad.state == "open", or_(Ad.expires_at <= now, Ad.expired_at.is_not(None)))
    return and_(Ad.state == "open", Ad.expires_at > now, Ad.expired_at.is_(None))


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def _place_clause(session: AsyncSession, flt: AdFilter, viewer: Actor | None) -> ColumnElement[bool] | None:
    if flt.radius_km is None:
        return Status.commune_insee == flt.commune if flt.commune else None
    known = await known_communes(session)
    centre_code = flt.commune or (viewer.commune_insee if viewer is not None else None)
    if not centre_code:
        raise AdQueryError("radius_km needs a commune (or a signed-in resident with a home commune)")
    centre = known.get(centre_code)
    if centre is None:
        raise AdQueryError(f"unknown commune {centre_code[:10]!r}")
    around = sorted(c.insee for c in known.values()
                    if haversine_km(centre.latitude, centre.longitude, c.latitude, c.longitude) <= flt.radius_km)
    return or_(Status.commune_insee.in_(around),
               and_(Status.latitude.is_not(None), Status.longitude.is_not(None),
                    within_km(centre.latitude, centre.longitude, flt.radius_km)))


async def find_ads(session: AsyncSession, flt: AdFilter, window: Window,
                   viewer_id: int | None = None) -> list[tuple[Ad, Status]]:
    """One page of ads (newest first, or right after `min_id`), each with its status."""
    flt.check()
    viewer = await session.get(Actor, viewer_id) if viewer_id is not None else None
    rel = await load_relations(session, viewer_id) if viewer_id is not None else None
    conditions: list[ColumnElement[bool]] = [public_clause(rel), state_clause(flt.state, utcnow())]
    if flt.category:
        conditions.append(Ad.category == flt.category)
    if flt.purpose:
        conditions.append(Ad.purpose == flt.purpose)
    place = await _place_clause(session, flt, viewer)
    if place is not None:
        conditions.append(place)
    if flt.q:
        pattern = _like(flt.q.strip())
        conditions.append(or_(Ad.title.ilike(pattern, escape="\\"), Status.content.ilike(pattern, escape="\\")))
    query = select(Ad, Status).join(Status, Status.id == Ad.status_id).where(*conditions)
    if window.max_id is not None:
        query = query.where(Ad.id < window.max_id)
    if window.since_id is not None:
        query = query.where(Ad.id > window.since_id)
    if window.min_id is not None:
        query = query.where(Ad.id > window.min_id).order_by(Ad.id.asc())
    else:
        query = query.order_by(Ad.id.desc())
    rows = [(ad, status) for ad, status in (await session.execute(query.limit(window.limit))).all()]
    return list(reversed(rows)) if window.min_id is not None else rows


async def ad_with_status(session: AsyncSession, ad_id: int) -> tuple[Ad, Status] | None:
    row = (await session.execute(select(Ad, Status).join(Status, Status.id == Ad.status_id)
                                 .where(Ad.id == ad_id))).first()
    return (row[0], row[1]) if row is not None else None


async def ad_of_status(session: AsyncSession, status_id: int) -> Ad | None:
    return await session.scalar(select(Ad).where(Ad.status_id == status_id))


async def ads_due_for_expiry(session: AsyncSession, limit: int = 50) -> list[Ad]:
    """Open ads past their date that the expiry job has not recorded yet, oldest first."""
    return list((await session.scalars(select(Ad).where(
        Ad.state == "open", Ad.expires_at <= utcnow(), Ad.expired_at.is_(None))
        .order_by(Ad.expires_at, Ad.id).limit(limit))).all())


def is_listed(ad: Ad, now: datetime | None = None) -> bool:
    """Whether the default list shows it (open and not expired)."""
    return ad.state == "open" and ad.expired_at is None and ad.expires_at > (now or utcnow())
