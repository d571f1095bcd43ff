"""`Place` objects: how a commune or a point is written in ActivityPub, and read back from others.

We write one shape everywhere (actors' and statuses' `location`, the instance actor's territory):
the one Mobilizon reads and writes — a single `Place` with float `latitude`/`longitude`, a
schema.org `PostalAddress`, and for a commune its INSEE code as a `PropertyValue` identifier.
Reading is lenient about what other servers send (strings for numbers, an `address` that is a
plain string as Gancio sends, a list of places) and strict about what is kept: coordinates must be
finite and in range, text is bounded, nothing else is trusted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from fediverse.models import Commune

# JSON-LD terms for the Place shape (schema.org), added to a document's @context where it is used.
PLACE_TERMS: dict[str, Any] = {
    "PostalAddress": "schema:PostalAddress",
    "address": {"@id": "schema:address", "@type": "schema:PostalAddress"},
    "addressLocality": "schema:addressLocality",
    "postalCode": "schema:postalCode",
    "addressCountry": "schema:addressCountry",
    "streetAddress": "schema:streetAddress",
    "identifier": "schema:identifier",
    "propertyID": "schema:propertyID",
}
_INSEE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")
MAX_NAME = 255


@dataclass(frozen=True)
class ParsedPlace:
    """What we keep of a remote `location`."""

    name: str | None
    latitude: float | None
    longitude: float | None
    insee: str | None
    postal_code: str | None
    locality: str | None


def place_to_as(name: str, latitude: float, longitude: float, *, insee: str | None = None,
                postal_code: str | None = None, locality: str | None = None,
                street: str | None = None) -> dict[str, Any]:
    """A Place in the shape Mobilizon reads (float coordinates, one PostalAddress)."""
    address: dict[str, Any] = {"type": "PostalAddress", "addressLocality": locality or name, "addressCountry": "FR"}
    if postal_code:
        address["postalCode"] = postal_code
    if street:
        address["streetAddress"] = street
    place: dict[str, Any] = {"type": "Place", "name": name, "latitude": float(latitude),
                             "longitude": float(longitude), "address": address}
    if insee:
        place["identifier"] = {"type": "PropertyValue", "propertyID": "INSEE", "name": "INSEE", "value": insee}
    return place


def commune_to_place(commune: Commune) -> dict[str, Any]:
    """A commune as a Place: its centre point, first postal code, and INSEE code."""
    codes = commune.postal_code_list
    return place_to_as(commune.name, commune.latitude, commune.longitude, insee=commune.insee,
                       postal_code=codes[0] if codes else None)


def _number(value: Any, bound: float) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    number = float(value)
    if not math.isfinite(number) or abs(number) > bound:
        return None
    return number


def _text(value: Any, limit: int = MAX_NAME) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value[:limit] or None


def _insee(identifier: Any) -> str | None:
    for item in identifier if isinstance(identifier, list) else [identifier]:
        if isinstance(item, dict) and str(item.get("propertyID") or item.get("name") or "").upper() == "INSEE":
            value = item.get("value")
            value = str(value).strip().upper() if isinstance(value, str | int) else ""
            if _INSEE.match(value):
                return value
    return None


def parse_place(value: Any) -> ParsedPlace | None:
    """The first `Place` of a remote `location` (a Place, or a list with places and virtual
    locations), or None when there is nothing usable. Coordinates come together or not at all."""
    candidates = value if isinstance(value, list) else [value]
    for item in candidates[:10]:
        if not isinstance(item, dict) or item.get("type") != "Place":
            continue
        latitude = _number(item.get("latitude"), 90.0)
        longitude = _number(item.get("longitude"), 180.0)
        if latitude is None or longitude is None:
            latitude = longitude = None
        address = item.get("address")
        postal_code = locality = None
        if isinstance(address, dict):
            postal_code = _text(address.get("postalCode"), 16)
            locality = _text(address.get("addressLocality"))
        elif isinstance(address, str):
            locality = _text(address)
        insee = _insee(item.get("identifier"))
        name = _text(item.get("name")) or locality
        if latitude is None and insee is None and name is None:
            continue
        return ParsedPlace(name=name, latitude=latitude, longitude=longitude, insee=insee,
                           postal_code=postal_code, locality=locality)
    return None
