"""A resident's neighbourhood ("voisinage"): the home commune and the communes around it.

A local account has a home commune (`Actor.commune_insee`, one of the territory's communes) and
widens it either with a radius in km around the home commune's centre (`User.neighbourhood_radius_km`)
or with an explicit list of communes (`User.neighbourhood_communes_json`). The communes it can pick
are the "known" ones: ours (`communes`) and those of neighbour instances (`neighbour_communes`, read
from their instance actor's territory), so a neighbourhood crosses the border of our territory.
Nothing set means a radius of DEFAULT_RADIUS_KM. The neighbourhood timeline
(`actors.timelines.neighbourhood`) shows the public statuses located in the included communes, or at
a point within the radius when a status names no commune we know (a Mobilizon event's address).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.accounts import set_home
from actors.territory import haversine_km
from fediverse.models import Actor, Commune, Neighbour, NeighbourCommune, User
from fediverse.places import commune_to_place, place_to_as

DEFAULT_RADIUS_KM = 10.0  # a resident who set nothing sees the communes within 10 km of home
MAX_RADIUS_KM = 100.0
MAX_LISTED_COMMUNES = 100
# A status with coordinates but no commune we know matches a listed commune within this distance.
LISTED_COMMUNE_CATCHMENT_KM = 3.0
# Offered to Mastodon apps as a built-in list whose timeline is the neighbourhood timeline.
NEIGHBOURHOOD_LIST_ID = "neighbourhood"
NEIGHBOURHOOD_LIST_TITLE = "Voisinage"


class NeighbourhoodError(ValueError):
    """Settings that cannot be saved; the message is shown to the user (HTTP 422)."""


@dataclass(frozen=True)
class KnownCommune:
    """A commune a neighbourhood may include: ours (`domain` None) or a neighbour instance's."""

    insee: str
    name: str
    postal_codes: tuple[str, ...]
    latitude: float
    longitude: float
    domain: str | None


@dataclass(frozen=True)
class IncludedCommune:
    commune: KnownCommune
    distance_km: float | None


@dataclass(frozen=True)
class Neighbourhood:
    """A resident's settings and what they include; `radius_km` is None in list mode."""

    home: KnownCommune | None
    radius_km: float | None
    communes: list[str] | None
    included: list[IncludedCommune]
    known: frozenset[str]

    @property
    def included_codes(self) -> list[str]:
        return [item.commune.insee for item in self.included]

    def circles(self) -> list[tuple[float, float, float]]:
        """(latitude, longitude, radius km) areas where a status located by coordinates only belongs."""
        if self.radius_km is not None:
            return [(self.home.latitude, self.home.longitude, self.radius_km)] if self.home else []
        return [(item.commune.latitude, item.commune.longitude, LISTED_COMMUNE_CATCHMENT_KM)
                for item in self.included]


def _ours(row: Commune) -> KnownCommune:
    return KnownCommune(row.insee, row.name, tuple(row.postal_code_list), row.latitude, row.longitude, None)


async def known_communes(session: AsyncSession) -> dict[str, KnownCommune]:
    """Ours, then the accepted neighbours' (ours win when a code appears in both), by INSEE code."""
    known: dict[str, KnownCommune] = {}
    for row in await session.scalars(select(Commune).order_by(Commune.insee)):
        known[row.insee] = _ours(row)
    # Only neighbours whose content we receive (they accepted our Follow) widen a neighbourhood.
    rows = await session.execute(select(NeighbourCommune, Neighbour.domain)
                                 .join(Neighbour, Neighbour.id == NeighbourCommune.neighbour_id)
                                 .where(Neighbour.outgoing_state == "accepted")
                                 .order_by(NeighbourCommune.insee, Neighbour.domain))
    for commune, domain in rows.all():
        known.setdefault(commune.insee, KnownCommune(commune.insee, commune.name, tuple(commune.postal_codes.split()),
                                                     commune.latitude, commune.longitude, domain))
    return known


def _listed(user: User | None) -> list[str] | None:
    """The explicit list as stored (None in radius mode); anything unreadable counts as radius mode."""
    if user is None or not user.neighbourhood_communes_json:
        return None
    try:
        value = json.loads(user.neighbourhood_communes_json)
    except ValueError:
        return None
    return [str(code) for code in value if isinstance(code, str)] if isinstance(value, list) else None


def _distance(home: KnownCommune | None, commune: KnownCommune) -> float | None:
    if home is None:
        return None
    return round(haversine_km(home.latitude, home.longitude, commune.latitude, commune.longitude), 2)


def describe(known: dict[str, KnownCommune], home_code: str | None, user: User | None) -> Neighbourhood:
    """The settings of one account and the communes they include, nearest first."""
    home = known.get(home_code) if home_code else None
    listed = _listed(user)
    radius = None if listed is not None else float(
        user.neighbourhood_radius_km if user is not None and user.neighbourhood_radius_km else DEFAULT_RADIUS_KM)
    return _neighbourhood(known, home, radius, listed)


def _neighbourhood(known: dict[str, KnownCommune], home: KnownCommune | None, radius: float | None,
                   listed: list[str] | None) -> Neighbourhood:
    if listed is not None:
        chosen = [known[code] for code in dict.fromkeys([*([home.insee] if home else []), *listed]) if code in known]
    elif home is not None and radius is not None:
        chosen = [c for c in known.values()
                  if haversine_km(home.latitude, home.longitude, c.latitude, c.longitude) <= radius]
    else:
        chosen = []
    included = [IncludedCommune(c, _distance(home, c)) for c in chosen]
    included.sort(key=lambda item: (item.distance_km if item.distance_km is not None else 0.0, item.commune.name,
                                    item.commune.insee))
    return Neighbourhood(home, radius, listed, included, frozenset(known))


async def _account(session: AsyncSession, actor_id: int) -> tuple[Actor, User | None]:
    actor = await session.get(Actor, actor_id)
    if actor is None or actor.domain is not None or actor.deleted_at is not None:
        raise NeighbourhoodError("not a local account")
    user = await session.scalar(select(User).where(User.actor_id == actor.id))
    return actor, user


async def load_neighbourhood(session: AsyncSession, actor_id: int) -> Neighbourhood:
    actor, user = await _account(session, actor_id)
    return describe(await known_communes(session), actor.commune_insee, user)


def check_radius(value: float) -> float:
    if not (0 < value <= MAX_RADIUS_KM):  # also refuses NaN
        raise NeighbourhoodError(f"radius_km must be more than 0 and at most {MAX_RADIUS_KM:g} km")
    return float(value)


def _check_codes(codes: Sequence[str], known: dict[str, KnownCommune]) -> list[str]:
    wanted = list(dict.fromkeys(code.strip().upper() for code in codes))
    if len(wanted) > MAX_LISTED_COMMUNES:
        raise NeighbourhoodError(f"communes: at most {MAX_LISTED_COMMUNES} communes")
    unknown = [code for code in wanted if code not in known]
    if unknown:
        shown = ", ".join(repr(code[:10]) for code in unknown[:5])
        raise NeighbourhoodError(f"communes: unknown commune {shown} (neither ours nor a neighbour instance's)")
    return wanted


def preview_neighbourhood(known: dict[str, KnownCommune], home_commune: str | None, *,
                          radius_km: float | None = None, communes: Sequence[str] | None = None) -> Neighbourhood:
    """What settings would include before they are saved (the settings page's live preview), checked
    like `update_neighbourhood` checks them; `communes` None means radius mode."""
    if radius_km is not None and communes is not None:
        raise NeighbourhoodError("give either radius_km or communes, not both")
    code = (home_commune or "").strip().upper()
    home = known.get(code) if code else None
    if code and (home is None or home.domain is not None):
        raise NeighbourhoodError(f"home_commune: unknown commune {code[:10]!r} "
                                 "(the home commune must be one of the territory's communes)")
    if communes is not None:
        return _neighbourhood(known, home, None, _check_codes(communes, known))
    return _neighbourhood(known, home, check_radius(radius_km if radius_km is not None else DEFAULT_RADIUS_KM), None)


async def update_neighbourhood(session: AsyncSession, actor_id: int, *, home_commune: str | None = None,
                               radius_km: float | None = None, communes: Sequence[str] | None = None) -> bool:
    """Change what was given, in the caller's transaction; returns whether the home commune changed.

    `radius_km` switches to radius mode and `communes` to list mode, so both at once is refused.
    """
    if radius_km is not None and communes is not None:
        raise NeighbourhoodError("give either radius_km or communes, not both")
    actor, user = await _account(session, actor_id)
    if user is None and (radius_km is not None or communes is not None):
        raise NeighbourhoodError("this account has no neighbourhood settings")
    known = await known_communes(session)
    moved = False
    if home_commune is not None:
        code = home_commune.strip().upper()
        home = await session.get(Commune, code) if code and len(code) <= 5 else None
        if home is None:
            raise NeighbourhoodError(f"home_commune: unknown commune {home_commune.strip()[:10]!r} "
                                     "(the home commune must be one of the territory's communes)")
        moved = actor.commune_insee != home.insee or actor.latitude != home.latitude \
            or actor.longitude != home.longitude
        set_home(actor, home)
    if user is not None and radius_km is not None:
        user.neighbourhood_radius_km = check_radius(radius_km)
        user.neighbourhood_communes_json = None
    if user is not None and communes is not None:
        user.neighbourhood_communes_json = json.dumps(_check_codes(communes, known))
        user.neighbourhood_radius_km = None
    await session.flush()
    return moved


def actor_place(actor: Actor, commune: Commune | None = None) -> dict[str, Any] | None:
    """A local account's `location`: its commune as a Place (`commune` when the caller loaded it,
    else the commune's centre and name kept on the account); remote and instance actors: none."""
    if actor.domain is not None or actor.kind == "instance" or not actor.commune_insee:
        return None
    if commune is not None and commune.insee == actor.commune_insee:
        return commune_to_place(commune)
    if actor.latitude is None or actor.longitude is None:
        return None
    return place_to_as(actor.location_name or actor.commune_insee, actor.latitude, actor.longitude,
                       insee=actor.commune_insee)
