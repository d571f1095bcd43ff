"""`location` on accounts and content: the Place our documents carry (fetched over HTTPS from a live
instance), what arrives on another instance of our server, and hostile `location` values from remote
servers (stored safely or dropped)."""

from __future__ import annotations

import json
import math
import ssl
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from actors.neighbourhood import update_neighbourhood
from actors.remote import actor_fields_from_document
from actors.territory import EXAMPLES_DIR, import_communes, init_territory, read_communes_file
from fediverse.models import Actor, Status
from fediverse.places import PLACE_TERMS
from inbox.objects import apply_fields
from outbox.commands import CommandError, StatusDraft
from tests.federation_steps import first, html, make_account, outbox, remote_actor
from tests.live import LiveInstance, eventually
from tests.test_inbox_hostile_input import PUBLIC, Remote, create, note, processed, signed

COUESNON = EXAMPLES_DIR / "couesnon-marches-de-bretagne.csv"
AS_JSON = "application/activity+json"


async def with_territory(instance: LiveInstance) -> LiveInstance:
    async with instance.runtime.transaction() as session:
        await init_territory(session, "Couesnon Marches de Bretagne", "intercommunality")
        await import_communes(session, read_communes_file(COUESNON))
    return instance


async def set_home(instance: LiveInstance, actor: Actor, insee: str) -> None:
    async with instance.runtime.transaction() as session:
        await update_neighbourhood(session, actor.id, home_commune=insee)


async def fetch_document(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(
            url, headers={"Accept": AS_JSON}, ssl=ssl.create_default_context()) as response:
        assert response.status == 200, await response.text()
        return json.loads(await response.read())


def assert_commune_place(place: dict[str, Any], insee: str, name: str, postal_code: str | None) -> None:
    """The Place shape Mobilizon reads: one object, float coordinates, PostalAddress, INSEE identifier."""
    assert isinstance(place, dict) and place["type"] == "Place" and place["name"] == name
    assert isinstance(place["latitude"], float) and isinstance(place["longitude"], float)
    assert place["identifier"] == {"type": "PropertyValue", "propertyID": "INSEE", "name": "INSEE", "value": insee}
    assert place["address"]["type"] == "PostalAddress" and place["address"]["addressCountry"] == "FR"
    if postal_code:
        assert place["address"]["postalCode"] == postal_code


def has_place_terms(doc: dict[str, Any]) -> bool:
    terms = doc["@context"][2]
    return all(terms.get(key) == value for key, value in PLACE_TERMS.items()) and terms["schema"] == "http://schema.org#"


@pytest.fixture
async def commune_a(make_instance):
    return await with_territory(await make_instance("commune-a.test"))


# ---------------------------------------------------------------------------------------------
# Our documents
# ---------------------------------------------------------------------------------------------


async def test_local_note_carries_the_authors_commune_or_the_one_named_and_dms_carry_none(commune_a):
    alice = await make_account(commune_a, "alice", commune_insee="35257")
    bob = await make_account(commune_a, "bob")
    status = await outbox(commune_a).publish(alice.id, html(commune_a, "Marché ce matin"))
    doc = await fetch_document(status.uri)
    assert_commune_place(doc["location"], "35257", "Maen Roch", "35460")
    assert (doc["location"]["latitude"], doc["location"]["longitude"]) == (48.4114, -1.3655)
    assert has_place_terms(doc)

    elsewhere = await outbox(commune_a).post(alice.id, StatusDraft(text="Fête à Bazouges", commune="35019"))
    doc = await fetch_document(elsewhere.uri)
    assert_commune_place(doc["location"], "35019", "Bazouges-la-Pérouse", "35560")
    stored = await first(commune_a, select(Status).where(Status.id == elsewhere.id))
    assert (stored.commune_insee, stored.latitude, stored.longitude) == ("35019", 48.4275, -1.575)

    dm = await outbox(commune_a).publish(alice.id, html(commune_a, "@bob privé", [bob]), visibility="direct",
                                         mentions=[bob])
    stored = await first(commune_a, select(Status).where(Status.id == dm.id))
    assert stored.commune_insee is None and stored.location_json is None
    nowhere = await outbox(commune_a).publish(bob.id, html(commune_a, "bob n'a pas de commune"))
    assert "location" not in await fetch_document(nowhere.uri)


async def test_a_commune_outside_the_territory_is_refused_and_nothing_is_posted(commune_a):
    alice = await make_account(commune_a, "alice", commune_insee="35257")
    for code in ("35115", "99999"):
        with pytest.raises(CommandError, match="unknown commune"):
            await outbox(commune_a).post(alice.id, StatusDraft(text="ailleurs", commune=code))
    with pytest.raises(CommandError, match="INSEE"):
        await outbox(commune_a).post(alice.id, StatusDraft(text="ailleurs", commune="Maen Roch"))
    assert await first(commune_a, select(Status.id)) is None


async def test_local_actor_document_carries_its_commune_as_a_place(commune_a):
    alice = await make_account(commune_a, "alice")
    assert "location" not in await fetch_document(alice.uri)
    await set_home(commune_a, alice, "35257")
    doc = await fetch_document(alice.uri)
    assert_commune_place(doc["location"], "35257", "Maen Roch", None)
    assert has_place_terms(doc)
    instance_actor = await fetch_document(f"{commune_a.base_url}/actor")
    assert "location" not in instance_actor and len(instance_actor["territory"]["items"]) == 15


# ---------------------------------------------------------------------------------------------
# Between two instances
# ---------------------------------------------------------------------------------------------


async def test_a_located_status_and_its_author_arrive_on_b_with_commune_and_point(make_instance):
    a = await with_territory(await make_instance("commune-a.test"))
    b = await make_instance("commune-b.test")
    alice = await make_account(a, "alice")
    await set_home(a, alice, "35257")
    bob = await make_account(b, "bob")
    alice_on_b = await remote_actor(b, "alice@commune-a.test")
    assert (alice_on_b.commune_insee, alice_on_b.latitude, alice_on_b.longitude, alice_on_b.location_name) == (
        "35257", 48.4114, -1.3655, "Maen Roch")
    await outbox(b).follow(bob.id, alice_on_b.id)
    await eventually(lambda: first(a, select(Actor.followers_count).where(Actor.id == alice.id)), what="follow")

    status = await outbox(a).publish(alice.id, html(a, "Vide-grenier dimanche"))
    on_b = await eventually(lambda: first(b, select(Status).where(Status.uri == status.uri)), what="status on B")
    assert (on_b.commune_insee, on_b.latitude, on_b.longitude) == ("35257", 48.4114, -1.3655)
    assert_commune_place(json.loads(on_b.location_json), "35257", "Maen Roch", "35460")

    await outbox(a).revise(alice.id, status.id, StatusDraft(text="Vide-grenier déplacé", commune="35019"))

    async def moved() -> Status | None:
        row = await first(b, select(Status).where(Status.uri == status.uri))
        return row if row.commune_insee == "35019" else None

    on_b = await eventually(moved, what="the edit's new location on B")
    assert (on_b.latitude, on_b.longitude) == (48.4275, -1.575)
    assert json.loads(on_b.location_json)["name"] == "Bazouges-la-Pérouse"


# ---------------------------------------------------------------------------------------------
# Hostile and foreign locations
# ---------------------------------------------------------------------------------------------

GOOD_POINT = {"type": "Place", "name": "Salle des fêtes", "latitude": 48.41, "longitude": -1.36}
HOSTILE: list[tuple[str, Any, tuple[Any, ...] | None]] = [
    # (what, location, expected (commune_insee, latitude, longitude, name) or None when dropped)
    ("a plain string", "Maen Roch", None),
    ("a number", 42, None),
    ("missing type", {"name": "x", "latitude": 48.0, "longitude": -1.0}, None),
    ("NaN strings", {"type": "Place", "latitude": "NaN", "longitude": "nan"}, None),
    ("infinite", {"type": "Place", "latitude": math.inf, "longitude": -1.0}, None),
    ("booleans", {"type": "Place", "latitude": True, "longitude": False}, None),
    ("out of range, named", {"type": "Place", "name": "Loin", "latitude": 95.0, "longitude": 200.0},
     (None, None, None, "Loin")),
    ("one coordinate only", {"type": "Place", "name": "Demi", "latitude": 48.4}, (None, None, None, "Demi")),
    ("numbers as strings", {"type": "Place", "name": "Ici", "latitude": " 48.5 ", "longitude": "-1.4"},
     (None, 48.5, -1.4, "Ici")),
    ("a huge name", {"type": "Place", "name": "A" * 100_000, "latitude": 48.4, "longitude": -1.3},
     (None, 48.4, -1.3, "A" * 255)),
    ("a list with junk first", ["x", {"type": "VirtualLocation", "url": "https://x.test"}, GOOD_POINT],
     (None, 48.41, -1.36, "Salle des fêtes")),
    ("a bad INSEE", {"type": "Place", "name": "X", "identifier": {"propertyID": "INSEE", "value": "35257<b>"}},
     (None, None, None, "X")),
    ("a foreign INSEE", {"type": "Place", "name": "Ajaccio", "latitude": 41.93, "longitude": 8.74,
                         "identifier": [{"propertyID": "INSEE", "value": "2a004"}]}, ("2A004", 41.93, 8.74, "Ajaccio")),
    ("Mobilizon's event place", {"id": "https://mobilizon.test/address/1", "type": "Place", "name": "Médiathèque",
                                 "address": {"type": "PostalAddress", "streetAddress": "1 rue", "postalCode": "35460",
                                             "addressLocality": "Maen Roch", "addressCountry": "France"},
                                 "latitude": 48.4101, "longitude": -1.3637}, (None, 48.4101, -1.3637, "Médiathèque")),
    ("nested junk", {"type": "Place", "name": {"a": [1, 2]}, "address": ["x"] * 1000}, None),
    ("an empty list", [], None),
]


def _stored(status: Status) -> tuple[Any, ...]:
    place = json.loads(status.location_json)
    return status.commune_insee, status.latitude, status.longitude, place["name"]


@pytest.mark.parametrize(("what", "location", "expected"), HOSTILE, ids=[case[0] for case in HOSTILE])
def test_remote_location_values_are_stored_safely_or_dropped(what, location, expected):
    author = Actor(uri="https://remote.test/users/r", domain="remote.test")
    status = Status(uri="https://remote.test/notes/1", commune_insee="35257", latitude=1.0, longitude=1.0,
                    location_json="{}")
    apply_fields(status, {"type": "Note", "content": "x", "location": location}, author)
    if expected is None:
        assert (status.commune_insee, status.latitude, status.longitude, status.location_json) == (None,) * 4
        return
    assert _stored(status) == expected
    place = json.loads(status.location_json)
    assert place["type"] == "Place" and "id" not in place and "streetAddress" not in json.dumps(place)
    assert len(status.location_json) < 2000


@pytest.mark.parametrize(("what", "location", "expected"), HOSTILE, ids=[case[0] for case in HOSTILE])
async def test_remote_actor_locations_are_validated_like_statuses(what, location, expected, runtime):
    doc = {"id": "https://remote.test/users/r", "type": "Person", "inbox": "https://remote.test/inbox",
           "preferredUsername": "r", "location": location}
    fields = actor_fields_from_document(doc, runtime.uris)
    got = (fields["commune_insee"], fields["latitude"], fields["longitude"], fields["location_name"])
    assert got == (expected or (None, None, None, None))


async def test_delivered_notes_keep_a_clean_location_and_an_update_without_one_clears_it(make_instance, test_ca):
    a = await make_instance("commune-a.test")
    b = await make_instance("commune-b.test")
    alice = await make_account(a, "alice")
    bob = Remote.of(await make_account(b, "bob"))
    place = {"type": "Place", "name": "<script>alert(1)</script>Salle", "latitude": "48.41", "longitude": -1.36,
             "address": {"type": "PostalAddress", "postalCode": "35460", "addressLocality": "Maen Roch"},
             "identifier": {"type": "PropertyValue", "propertyID": "INSEE", "value": "35257"}, "evil": "x" * 5000}
    obj = note(bob, [PUBLIC], cc=[alice.uri], location=place)
    activity = create(bob, obj, [PUBLIC])
    connector = aiohttp.TCPConnector(ssl=ssl.create_default_context())
    async with aiohttp.ClientSession(connector=connector) as http:
        body = json.dumps(activity).encode()
        async with http.post("https://commune-a.test/inbox", data=body, headers=signed(bob, body)) as response:
            assert response.status == 202
        assert (await processed(a, activity["id"])).state == "done"
        stored = await first(a, select(Status).where(Status.uri == obj["id"]))
        assert (stored.commune_insee, stored.latitude, stored.longitude) == ("35257", 48.41, -1.36)
        kept = json.loads(stored.location_json)
        assert "evil" not in kept and kept["address"]["postalCode"] == "35460"

        edited = {**{k: v for k, v in obj.items() if k != "location"}, "content": "<p>modifié</p>",
                  "updated": "2024-05-02T10:00:00Z"}
        update = {"@context": "https://www.w3.org/ns/activitystreams", "id": bob.activity_id(), "type": "Update",
                  "actor": bob.uri, "to": [PUBLIC], "object": edited}
        body = json.dumps(update).encode()
        async with http.post("https://commune-a.test/inbox", data=body, headers=signed(bob, body)) as response:
            assert response.status == 202
        assert (await processed(a, update["id"])).state == "done"
    stored = await first(a, select(Status).where(Status.uri == obj["id"]))
    assert (stored.commune_insee, stored.latitude, stored.longitude, stored.location_json) == (None,) * 4
