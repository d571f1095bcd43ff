"""Local actor -> ActivityPub actor document."""

from __future__ import annotations

import json
from typing import Any

from actors.groups import GROUP_KIND, moderators_url
from actors.neighbourhood import actor_place
from fediverse.as2 import CONTEXT, format_datetime
from fediverse.models import Actor, Commune, Territory
from fediverse.places import PLACE_TERMS, commune_to_place
from fediverse.uris import Uris

# Extension property carrying the kind of account (resident, association, ...) for peers that
# want it; documented in FEDERATION.md. Plain JSON readers see the term in our context.
KIND_PROPERTY = "territoryKind"
# Extension property on the instance actor: the communes it serves, as a Collection of Places.
TERRITORY_PROPERTY = "territory"
# Extension property on the instance actor: the instance actors of its mutual neighbours (a collection URL).
NEIGHBOURS_PROPERTY = "neighbours"
# Lemmy's term for groups where only moderators post (ours: every member posts).
GROUP_TERMS = {"lemmy": "https://join-lemmy.org/ns#", "postingRestrictedToMods": "lemmy:postingRestrictedToMods"}

def actor_to_as(actor: Actor, uris: Uris, commune: Commune | None = None) -> dict[str, Any]:
    """`commune`: the actor's commune row when the caller has it (its Place then has the postal code)."""
    context = [*CONTEXT[:2], {**CONTEXT[2], KIND_PROPERTY: f"{uris.base}/ns#{KIND_PROPERTY}"}]
    doc: dict[str, Any] = {
        "@context": context,
        "id": actor.uri,
        "type": "Service" if actor.bot and actor.actor_type == "Person" else actor.actor_type,
        "preferredUsername": actor.username,
        "name": actor.display_name or actor.username,
        "summary": actor.summary or "",
        "url": actor.url,
        "inbox": actor.inbox_url,
        "outbox": actor.outbox_url,
        "manuallyApprovesFollowers": actor.manually_approves_followers,
        "discoverable": actor.discoverable,
        "indexable": actor.discoverable,
        "published": format_datetime(actor.published),
        "endpoints": {"sharedInbox": uris.shared_inbox()},
        "publicKey": {"id": actor.public_key_id, "owner": actor.uri, "publicKeyPem": actor.public_key_pem},
        KIND_PROPERTY: actor.kind,
    }
    for key, value in (("followers", actor.followers_url), ("following", actor.following_url),
                       ("featured", actor.featured_url)):
        if value:
            doc[key] = value
    if actor.icon_url:
        doc["icon"] = {"type": "Image", "url": actor.icon_url}
    if actor.image_url:
        doc["image"] = {"type": "Image", "url": actor.image_url}
    if actor.moved_to_uri:
        doc["movedTo"] = actor.moved_to_uri
    fields = [f for f in json.loads(actor.fields_json or "[]") if isinstance(f, dict)]
    if fields:
        doc["attachment"] = [{"type": "PropertyValue", "name": f.get("name", ""), "value": f.get("value", "")}
                             for f in fields]
    aliases = json.loads(actor.also_known_as or "[]")
    if aliases:
        doc["alsoKnownAs"] = aliases
    if actor.updated:
        doc["updated"] = format_datetime(actor.updated)
    place = actor_place(actor, commune)
    if place is not None:  # where a local account is: its commune, as a Place (FEDERATION.md, Locations)
        context[2].update(PLACE_TERMS)
        doc["location"] = place
    if actor.kind == GROUP_KIND and actor.domain is None:
        # FEP-1b12 as Lemmy reads it: moderators in `attributedTo`, members may post.
        doc["@context"] = [*context[:2], {**context[2], **GROUP_TERMS}]
        doc["attributedTo"] = moderators_url(actor)
        doc["postingRestrictedToMods"] = False
    return doc


def instance_actor_to_as(actor: Actor, uris: Uris, territory: Territory | None,
                         communes: list[Commune], *, neighbours: bool = False) -> dict[str, Any]:
    """The instance `Application` actor, plus the territory it serves and (`neighbours`) the link to
    its neighbour instances (FEDERATION.md)."""
    doc = actor_to_as(actor, uris)
    if neighbours:
        doc["@context"] = [*doc["@context"][:2], {**doc["@context"][2], NEIGHBOURS_PROPERTY: {
            "@id": f"{uris.base}/ns#{NEIGHBOURS_PROPERTY}", "@type": "@id"}}]
        doc[NEIGHBOURS_PROPERTY] = f"{actor.uri}/{NEIGHBOURS_PROPERTY}"
    if territory is None and not communes:
        return doc
    base_terms = doc["@context"][2]
    doc["@context"] = [*doc["@context"][:2], {**base_terms, **PLACE_TERMS,
                                              TERRITORY_PROPERTY: f"{uris.base}/ns#{TERRITORY_PROPERTY}"}]
    collection: dict[str, Any] = {"type": "Collection", "totalItems": len(communes),
                                  "items": [commune_to_place(c) for c in communes]}
    if territory is not None:
        collection["name"] = territory.name
    doc[TERRITORY_PROPERTY] = collection
    return doc
