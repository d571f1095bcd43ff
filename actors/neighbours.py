"""Neighbour instances and relays: who they are, what each side consented to, which communes they serve.

Two territory instances become neighbours by explicit consent in both directions (each instance
actor follows the other, each admin agreed). A relay subscribes with a `Follow` of Public and,
once our admin accepts, receives the same public content. The `Neighbour` row keeps both
directions (`outgoing_state`: our Follow of them; `incoming_state`: theirs of us) and
`NeighbourCommune` rows copy the communes a neighbour publishes in its instance actor's
`territory` collection, so a resident's neighbourhood radius can cross the border of our territory.

This module only reads and writes those rows and reads remote documents; the activities that
carry the consent are built in `outbox.neighbours` and received in `inbox.handlers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.remote import ActorError, ActorResolver
from fediverse.as2 import as_list, text_of, type_of
from fediverse.db import utcnow
from fediverse.http import FetchError
from fediverse.models import Actor, Neighbour, NeighbourCommune
from fediverse.places import parse_place
from fediverse.uris import host_of

OUTGOING_STATES = ("none", "requested", "accepted", "rejected")
INCOMING_STATES = ("none", "pending", "accepted", "rejected")
INSTANCE_ACTOR_TYPES = frozenset({"Application", "Service"})
MAX_NEIGHBOUR_COMMUNES = 500
# FEP-2677: NodeInfo links to the server's application actor with this rel.
APPLICATION_ACTOR_REL = "https://www.w3.org/ns/activitystreams#Application"
NODEINFO_ACCEPT = "application/json"


class NeighbourError(Exception):
    """A refusal the administrator can act on (unknown domain, unreachable host, not an instance)."""


@dataclass(frozen=True)
class NeighbourView:
    """One neighbour as `fediverse neighbours list` shows it."""

    domain: str
    kind: str
    actor_uri: str
    outgoing_state: str
    incoming_state: str
    territory_name: str | None
    communes: int

    @property
    def mutual(self) -> bool:
        return self.outgoing_state == "accepted" and self.incoming_state == "accepted"

    def as_json(self) -> dict[str, Any]:
        return {"domain": self.domain, "kind": self.kind, "actor": self.actor_uri,
                "outgoing_state": self.outgoing_state, "incoming_state": self.incoming_state,
                "mutual": self.mutual, "territory": self.territory_name, "communes": self.communes}


# ------------------------------------------------------------------------------------- names


def target_of(text: str, *, insecure_http: bool, own_domain: str) -> tuple[str, str]:
    """(URL to start discovery from, host) for what an admin typed: `https://host`, `host` or an
    actor URL. Refuses http unless insecure HTTP is allowed, paths with credentials, our own host."""
    raw = text.strip()
    if not raw:
        raise NeighbourError("give the neighbour's address, e.g. https://other-instance.example")
    if "://" not in raw:
        raw = f"https://{raw}"
    try:
        parts = urlsplit(raw)
    except ValueError:
        raise NeighbourError(f"{text!r} is not an address") from None
    if parts.scheme not in ("https", "http"):
        raise NeighbourError(f"{text!r}: only https addresses are accepted")
    if parts.scheme == "http" and not insecure_http:
        raise NeighbourError(f"{text!r}: http is not allowed (use https, or FEDIVERSE_INSECURE_HTTP=1 in development)")
    host = host_of(raw)
    if not host or "@" in host or parts.query or parts.fragment:
        raise NeighbourError(f"{text!r} is not an instance address")
    if host == own_domain:
        raise NeighbourError("an instance cannot be its own neighbour")
    return raw.rstrip("/") if parts.path.strip("/") else f"{parts.scheme}://{host}", host


def domain_of(text: str) -> str:
    """The host an admin means by `DOMAIN` or `https://DOMAIN` (for accept/reject/remove)."""
    raw = text.strip()
    return host_of(raw if "://" in raw else f"https://{raw}")


# ------------------------------------------------------------------------------------- discovery


async def discover_instance_actor(resolver: ActorResolver, start_url: str, host: str) -> Actor:
    """The instance actor of `host`, fetched with a signed GET and stored.

    An actor URL is used as given; a bare instance address is looked up through NodeInfo's
    FEP-2677 application-actor link, falling back to `/actor` (where we and several others serve
    it). Only an `Application`/`Service` actor whose id is on exactly that host is accepted.
    """
    runtime = resolver.runtime
    if runtime.http is None:
        raise NeighbourError("no HTTP client: cannot reach other instances")
    candidates: list[str] = []
    if urlsplit(start_url).path.strip("/"):
        candidates.append(start_url)
    else:
        linked = await _nodeinfo_application_actor(resolver, start_url)
        if linked:
            candidates.append(linked)
        candidates.append(f"{start_url}/actor")
    last_problem = "no instance actor found"
    for url in dict.fromkeys(candidates):
        if host_of(url) != host:
            continue
        try:
            actor = await resolver.get(url, refresh=True)
        except FetchError as exc:
            last_problem = f"cannot reach {url}: {exc.message}"
            continue
        except ActorError as exc:
            last_problem = f"{url} is not a usable actor: {exc}"
            continue
        if actor.domain != host:
            last_problem = f"{url} is an actor of {actor.domain}, not of {host}"
            continue
        if actor.actor_type not in INSTANCE_ACTOR_TYPES:
            last_problem = f"{url} is a {actor.actor_type}, not an instance actor (Application or Service)"
            continue
        return actor
    raise NeighbourError(last_problem)


async def _nodeinfo_application_actor(resolver: ActorResolver, base_url: str) -> str | None:
    assert resolver.runtime.http is not None
    try:
        doc = await resolver.runtime.http.get_json(f"{base_url}/.well-known/nodeinfo", accept=NODEINFO_ACCEPT,
                                                   max_bytes=100_000)
    except FetchError:
        return None
    for link in as_list(doc.get("links"))[:20]:
        if isinstance(link, dict) and link.get("rel") == APPLICATION_ACTOR_REL and isinstance(link.get("href"), str):
            return link["href"]
    return None


# ------------------------------------------------------------------------------------- rows


async def neighbour_named(session: AsyncSession, domain: str) -> Neighbour:
    row = await session.scalar(select(Neighbour).where(Neighbour.domain == domain_of(domain)))
    if row is None:
        raise NeighbourError(f"no neighbour {domain_of(domain) or domain!r} (see `fediverse neighbours list`)")
    return row


async def upsert_neighbour(session: AsyncSession, actor: Actor, kind: str) -> Neighbour:
    """The row for this actor's host, created with nothing consented yet, or re-pointed at the actor."""
    assert actor.domain is not None
    row = await session.scalar(select(Neighbour).where(Neighbour.domain == actor.domain).with_for_update())
    if row is None:
        row = Neighbour(domain=actor.domain, kind=kind, actor_id=actor.id)
        session.add(row)
        await session.flush()
    elif row.actor_id != actor.id or row.kind != kind:
        row.actor_id, row.kind, row.updated_at = actor.id, kind, utcnow()
    return row


async def forget_if_unrelated(session: AsyncSession, row: Neighbour) -> bool:
    """Delete the row (and its communes) once neither side follows the other; True when deleted."""
    if row.outgoing_state == "none" and row.incoming_state == "none":
        await delete_neighbour(session, row)
        return True
    return False


async def delete_neighbour(session: AsyncSession, row: Neighbour) -> None:
    await session.execute(delete(NeighbourCommune).where(NeighbourCommune.neighbour_id == row.id))
    await session.delete(row)
    await session.flush()


async def list_neighbours(session: AsyncSession, *, pending_only: bool = False) -> list[NeighbourView]:
    query = select(Neighbour, Actor.uri).join(Actor, Actor.id == Neighbour.actor_id).order_by(Neighbour.domain)
    if pending_only:
        query = query.where(Neighbour.incoming_state == "pending")
    rows = (await session.execute(query)).all()
    counts: dict[int, int] = {neighbour_id: total for neighbour_id, total in (await session.execute(
        select(NeighbourCommune.neighbour_id, func.count()).group_by(NeighbourCommune.neighbour_id))).all()}
    return [NeighbourView(n.domain, n.kind, uri, n.outgoing_state, n.incoming_state, n.territory_name,
                          counts.get(n.id, 0)) for n, uri in rows]


async def mutual_neighbour_uris(session: AsyncSession) -> list[str]:
    """Instance actors of the instances we are neighbours with (both directions accepted)."""
    return list((await session.scalars(
        select(Actor.uri).join(Neighbour, Neighbour.actor_id == Actor.id)
        .where(Neighbour.kind == "instance", Neighbour.outgoing_state == "accepted",
               Neighbour.incoming_state == "accepted")
        .order_by(Neighbour.domain))).all())


async def subscribers(session: AsyncSession) -> list[tuple[Neighbour, Actor]]:
    """Neighbours and relays whose Follow of us we accepted: they get our territory's public content."""
    rows = await session.execute(select(Neighbour, Actor).join(Actor, Actor.id == Neighbour.actor_id).where(
        Neighbour.incoming_state == "accepted", Actor.deleted_at.is_(None)).order_by(Neighbour.domain))
    return [(n, a) for n, a in rows.all()]


async def followed_neighbour(session: AsyncSession, actor_id: int) -> Neighbour | None:
    """The instance neighbour behind this actor if we follow it (accepted): its Announces are welcome."""
    return await session.scalar(select(Neighbour).where(
        Neighbour.actor_id == actor_id, Neighbour.kind == "instance", Neighbour.outgoing_state == "accepted"))


# ------------------------------------------------------------------------------------- communes


@dataclass(frozen=True)
class TerritoryCommunes:
    name: str | None
    communes: list[tuple[str, str, str, float, float]]  # insee, name, postal code, latitude, longitude


def parse_territory(doc: dict[str, Any]) -> TerritoryCommunes:
    """The communes an instance actor document publishes in `territory` (bounded, validated):
    a Place is kept only with an INSEE code, a name and coordinates; the first of a code wins."""
    collection = doc.get("territory")
    if not isinstance(collection, dict):
        return TerritoryCommunes(None, [])
    name = text_of(collection.get("name"), 255).strip() or None
    items = collection.get("items")
    if items is None:
        items = collection.get("orderedItems")
    seen: set[str] = set()
    communes: list[tuple[str, str, str, float, float]] = []
    for item in as_list(items)[:MAX_NEIGHBOUR_COMMUNES * 2]:
        if len(communes) >= MAX_NEIGHBOUR_COMMUNES:
            break
        if type_of(item) != "Place":
            continue
        place = parse_place(item)
        if place is None or not place.insee or not place.name or place.latitude is None \
                or place.longitude is None or place.insee in seen:
            continue
        seen.add(place.insee)
        communes.append((place.insee, place.name, place.postal_code or "", place.latitude, place.longitude))
    return TerritoryCommunes(name, communes)


async def replace_communes(session: AsyncSession, row: Neighbour, territory: TerritoryCommunes) -> int:
    """Replace the neighbour's communes by what it publishes now; returns how many it has."""
    await session.execute(delete(NeighbourCommune).where(NeighbourCommune.neighbour_id == row.id))
    for insee, name, postal_code, latitude, longitude in territory.communes:
        session.add(NeighbourCommune(neighbour_id=row.id, insee=insee, name=name, postal_codes=postal_code,
                                     latitude=latitude, longitude=longitude))
    row.territory_name = territory.name
    row.updated_at = utcnow()
    await session.flush()
    return len(territory.communes)


async def refresh_communes(resolver: ActorResolver, domain: str) -> int | None:
    """Fetch the neighbour's instance actor again and store its communes; None when it cannot be
    reached now (the communes stored earlier stay) or is no longer a neighbour."""
    async with resolver.runtime.sessions() as session:
        row = await session.scalar(select(Neighbour).where(Neighbour.domain == domain))
        actor_uri = await session.scalar(select(Actor.uri).where(Actor.id == row.actor_id)) if row else None
    if row is None or actor_uri is None or row.kind != "instance":
        return None
    try:
        doc = await resolver.fetch_document(actor_uri)
    except FetchError:
        return None
    if doc.get("id") != actor_uri:
        return None
    territory = parse_territory(doc)
    async with resolver.runtime.transaction() as session:
        row = await session.scalar(select(Neighbour).where(Neighbour.domain == domain))
        if row is None:
            return None
        return await replace_communes(session, row, territory)
