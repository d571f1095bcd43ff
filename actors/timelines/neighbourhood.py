"""The neighbourhood ("voisinage") timeline: public statuses located around the viewer's home.

A status belongs when its commune is one the viewer's neighbourhood includes, or, when it names no
commune we know (a Mobilizon event gives an address and a point, a remote server an INSEE code from
elsewhere), when its point lies within the radius of home (list mode: close to a listed commune).
Local and federated statuses alike, originals only (no boosts), no replies to others, the viewer's
blocks, mutes and filters applied like the public timeline.

Distances in SQL use the equirectangular approximation with cos(latitude of the centre) computed
here: plain arithmetic that SQLite and PostgreSQL run unchanged, exact enough within 100 km (the
error is well under 1% at French latitudes), behind a bounding box on latitude and longitude.
"""

from __future__ import annotations

import math

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.neighbourhood import Neighbourhood, load_neighbourhood
from actors.territory import EARTH_RADIUS_KM
from actors.timelines.clauses import public_clause
from actors.timelines.filters import FilterSet
from actors.timelines.paging import Window, paginate
from actors.timelines.relations import load_relations
from fediverse.models import Status

KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180.0
MIN_COS = 1e-6  # keeps the longitude scale finite next to the poles


def within_km(latitude: float, longitude: float, radius_km: float) -> ColumnElement[bool]:
    """Statuses whose point is within `radius_km` of (latitude, longitude)."""
    lon_scale = KM_PER_DEGREE * max(math.cos(math.radians(latitude)), MIN_COS)
    dlat, dlon = radius_km / KM_PER_DEGREE, radius_km / lon_scale
    dy = (Status.latitude - latitude) * KM_PER_DEGREE
    dx = (Status.longitude - longitude) * lon_scale
    return and_(Status.latitude.between(latitude - dlat, latitude + dlat),
                Status.longitude.between(longitude - dlon, longitude + dlon),
                dx * dx + dy * dy <= radius_km * radius_km)


def located_clause(hood: Neighbourhood) -> ColumnElement[bool]:
    """Located in the neighbourhood: by commune, else (no commune we know) by coordinates."""
    conditions: list[ColumnElement[bool]] = []
    codes = hood.included_codes
    if codes:
        conditions.append(Status.commune_insee.in_(sorted(codes)))
    circles = hood.circles()
    if circles:
        unplaced = or_(Status.commune_insee.is_(None), Status.commune_insee.not_in(sorted(hood.known))) \
            if hood.known else Status.commune_insee.is_(None)
        conditions.append(and_(unplaced, Status.latitude.is_not(None), Status.longitude.is_not(None),
                               or_(*(within_km(lat, lon, radius) for lat, lon, radius in circles))))
    return or_(*conditions) if conditions else false()


async def neighbourhood_timeline(session: AsyncSession, viewer_id: int, window: Window,
                                 filters: FilterSet | None = None) -> list[Status]:
    hood = await load_neighbourhood(session, viewer_id)
    rel = await load_relations(session, viewer_id)
    clause = and_(public_clause(rel), located_clause(hood))
    return await paginate(session, select(Status).where(clause), Status.id, window, lambda s: s.id,
                          filters.keep if filters else None)
