"""Where a local status is: its `location` Place, written when the status is.

A status is about a place of the territory: the commune the client named (the `commune` extension
parameter of `POST /api/v1/statuses`), else the author's own commune. The Place is stored with the
status (`location_json`) so the document served later and the Create sent now are the same, and so
the neighbourhood timeline can match statuses on `commune_insee` and coordinates without a join.
Direct messages are private conversations, not news of a place: they get no location.
"""

from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.models import Actor, Commune, Status
from fediverse.places import commune_to_place
from outbox.errors import CommandError


async def commune_of_territory(session: AsyncSession, insee: str) -> Commune:
    """The commune of our territory with this INSEE code; anything else is refused (the status would
    claim a place this instance does not serve)."""
    code = insee.strip().upper()
    commune = await session.get(Commune, code) if code and len(code) <= 5 else None
    if commune is None:
        raise CommandError(f"unknown commune {insee.strip()[:10]!r}: not one of the territory's communes")
    return commune


def clear_location(status: Status) -> None:
    status.commune_insee = status.latitude = status.longitude = status.location_json = None


def place_status(status: Status, commune: Commune) -> None:
    """Store `commune` as the status's location (its centre point and Place document)."""
    status.commune_insee = commune.insee
    status.latitude = float(commune.latitude)
    status.longitude = float(commune.longitude)
    status.location_json = json.dumps(commune_to_place(commune))


async def locate_status(session: AsyncSession, status: Status, author: Actor, *, commune: str | None = None) -> None:
    """Give `status` the named commune's location, else its author's commune's, else none.

    An unknown named commune is a CommandError (the client asked for something we cannot do); an
    author whose commune is not (or no longer) in the territory simply posts without a location.
    """
    if status.visibility == "direct":
        clear_location(status)
        return
    if commune is not None and commune.strip():
        place_status(status, await commune_of_territory(session, commune))
        return
    home = await session.get(Commune, author.commune_insee) if author.commune_insee else None
    if home is None:
        clear_location(status)
        return
    place_status(status, home)
