"""Agenda events over real federation: our Event document against Mobilizon's shape, Gancio's instance
actor delivering `Create(Event)` and `Announce(Create(Event))`, hostile remote events, and two live
instances of this server as neighbours (an event of A listed by B, updated, cancelled and deleted).

commune-a.test serves Couesnon Marches de Bretagne, commune-b.test Fougères Agglomération. The fake
Gancio on commune-c.test is a tiny aiohttp app with its own key: it signs its deliveries, answers a
Follow with Accept, and serves its events for refetching, like the real one.
"""

from __future__ import annotations

import asyncio
import copy
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from actors.remote import ActorResolver
from fediverse.db import utcnow
from fediverse.ids import new_id
from fediverse.keys import generate_rsa_keypair
from fediverse.models import Event, Follow, Status
from fediverse.signatures import sign_request
from inbox.events import parse_remote_event
from outbox.events import EventCommands, event_spec
from tests.conftest import issue_token
from tests.federation_steps import count, first, make_account, outbox, remote_actor
from tests.live import eventually, serve_on_test_host
from tests.neighbour_steps import COUESNON, FOUGERES, make_neighbours, set_territory

FIXTURES = Path(__file__).parent / "fixtures"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
AS = "https://www.w3.org/ns/activitystreams"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def _http(token: str | None = None) -> aiohttp.ClientSession:
    headers = {"Authorization": f"Bearer {token}"} if token else {"Accept": "application/activity+json"}
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl.create_default_context()), headers=headers)


async def _json(method: str, url: str, token: str | None = None, **kwargs: Any) -> tuple[int, Any]:
    async with _http(token) as http, http.request(method, url, **kwargs) as response:
        return response.status, await response.json(content_type=None)


def _soon(days: int, hour: int = 20) -> str:
    """A wall-clock time in Paris `days` from now (no offset: the event's zone applies)."""
    moment = (utcnow() + timedelta(days=days)).date()
    return f"{moment.isoformat()}T{hour:02d}:00"


# ---------------------------------------------------------------------------------------------
# Our document against Mobilizon's
# ---------------------------------------------------------------------------------------------


@pytest.fixture
async def commune_a(make_instance):
    a = await make_instance("commune-a.test")
    await set_territory(a, COUESNON)
    alice = await make_account(a, "alice", commune_insee="35257")
    return a, alice


async def test_our_event_document_uses_mobilizon_key_names_and_reads_back(commune_a):
    a, alice = commune_a
    spec = event_spec({"title": "Fest-noz <i>de la</i> Saint-Jean", "description": "<p>Avec les sonneurs.</p>",
                       "start": _soon(30), "end": _soon(31, 1), "category": "party", "capacity": "150",
                       "online_url": "https://visio.example/festnoz",
                       "place": {"name": "Salle des fêtes", "street": "2 rue de la Mairie"}, "commune": "35257"})
    event = await EventCommands(a.runtime).create_event(alice.id, spec)
    status = await first(a, select(Status).where(Status.id == event.status_id))
    status_doc = await _json("GET", status.uri)
    assert status_doc[0] == 200
    ours = status_doc[1]
    mobilizon = fixture("mobilizon_event.json")
    # Every key Mobilizon writes on an Event, we write too (contacts, tags, updated: only when there are).
    missing = set(mobilizon) - set(ours) - {"contacts", "tag", "@context", "updated"}
    assert missing == set()
    assert set(mobilizon["location"]) - set(ours["location"]) == {"id"}
    assert set(mobilizon["location"]["address"]) - set(ours["location"]["address"]) == {"addressRegion"}
    assert ours["type"] == "Event" and ours["id"] == status.uri and ours["url"] == status.url
    assert ours["name"] == "Fest-noz de la Saint-Jean"  # HTML in a title is text
    assert ours["content"] == "<p>Avec les sonneurs.</p>" and ours["mediaType"] == "text/html"
    assert ours["startTime"].endswith(("+02:00", "+01:00")) and ours["timezone"] == "Europe/Paris"
    assert ours["category"] == "PARTY" and ours["joinMode"] == "free"
    assert (ours["maximumAttendeeCapacity"], ours["remainingAttendeeCapacity"], ours["participantCount"]) == \
        (150, 150, 0)
    assert ours["ical:status"] == "CONFIRMED" and ours["isOnline"] is True
    assert ours["attributedTo"] == alice.uri and ours["actor"] == alice.uri
    assert ours["to"] == [PUBLIC] and ours["cc"] == [f"{alice.uri}/followers"]
    assert isinstance(ours["location"]["latitude"], float) and ours["location"]["address"]["postalCode"] == "35460"
    assert ours["location"]["address"]["addressLocality"] == "Maen Roch"
    assert {"type": "Link", "href": "https://visio.example/festnoz", "mediaType": "text/html",
            "name": "Website"} in ours["attachment"]
    assert ours["summary"].startswith(("lun. ", "mar. ", "mer. ", "jeu. ", "ven. ", "sam. ", "dim. "))
    assert ours["summary"].endswith(" – Salle des fêtes, Maen Roch")
    context = ours["@context"]
    assert context[:2] == [AS, "https://w3id.org/security/v1"]
    terms = context[2]
    assert {k: terms[k] for k in ("sc", "ical", "mz", "pt", "toot")} == {
        k: mobilizon["@context"][2][k] for k in ("sc", "ical", "mz", "pt", "toot")}
    for term in ("category", "uuid", "maximumAttendeeCapacity", "joinMode", "timezone", "commentsEnabled",
                 "anonymousParticipationEnabled", "address", "postalCode", "streetAddress", "addressLocality"):
        assert terms[term] == mobilizon["@context"][2][term], term
    # Read back as any remote event: the same fields.
    parsed = parse_remote_event(ours)
    assert parsed is not None
    assert (parsed.title, parsed.starts_at, parsed.category, parsed.capacity, parsed.online_url, parsed.street) == \
        (event.title, event.starts_at, "PARTY", 150, "https://visio.example/festnoz", "2 rue de la Mairie")


def test_a_mobilizon_event_reads_with_its_place_capacity_and_online_address():
    parsed = parse_remote_event(fixture("mobilizon_event.json"))
    assert parsed is not None
    assert parsed.title == "Fest-noz de la Saint-Jean" and parsed.category == "PARTY"
    assert parsed.starts_at.isoformat() == "2025-06-21T18:30:00+00:00"
    assert parsed.ends_at.isoformat() == "2025-06-21T23:00:00+00:00"
    assert (parsed.place_name, parsed.street, parsed.postal_code, parsed.locality) == \
        ("Salle des fêtes", "2 rue de la Mairie", "35460", "Maen Roch")
    assert (parsed.latitude, parsed.longitude) == (48.4114, -1.3655)
    assert (parsed.capacity, parsed.participant_count, parsed.join_mode) == (150, 12, "free")
    assert parsed.online_url == "https://visio.example/festnoz" and parsed.event_status == "CONFIRMED"


@pytest.mark.parametrize(("change", "expected"), [
    ({"endTime": "2025-06-20T10:00:00+02:00"}, "end dropped"),
    ({"startTime": None}, "not an event"),
    ({"startTime": "demain soir"}, "not an event"),
    ({"startTime": "1789-07-14T10:00:00+01:00"}, "not an event"),
    ({"startTime": "9999-01-01T10:00:00+01:00"}, "not an event"),
    ({"location": [{"type": "Place", "name": "Ici", "latitude": 123.0, "longitude": 3.0,
                    "address": [{"type": "PostalAddress", "streetAddress": "1 rue A"}, "junk"]}]}, "no point"),
    ({"name": "<script>x</script><b>Bal</b>", "timezone": "../../etc/passwd", "maximumAttendeeCapacity": -3,
      "participantCount": "many", "category": ["PARTY"], "joinMode": {"x": 1}}, "sanitized"),
])
def test_broken_remote_events_are_sanitized_or_not_events(change, expected):
    obj = fixture("mobilizon_event.json")
    for key, value in change.items():
        if value is None:
            obj.pop(key)
        else:
            obj[key] = value
    parsed = parse_remote_event(obj)
    if expected == "not an event":
        assert parsed is None
    elif expected == "end dropped":
        assert parsed is not None and parsed.ends_at is None
    elif expected == "no point":
        assert parsed is not None and parsed.latitude is None and parsed.street == "1 rue A"
    else:
        assert parsed is not None
        assert parsed.title == "x Bal" or parsed.title == "Bal"
        assert (parsed.timezone, parsed.capacity, parsed.participant_count, parsed.category, parsed.join_mode) == \
            ("Europe/Paris", None, 0, "MEETING", "free")


# ---------------------------------------------------------------------------------------------
# Gancio
# ---------------------------------------------------------------------------------------------


@dataclass
class FakeGancio:
    """Gancio's instance actor on commune-c.test: its key, its events, what its inbox got."""

    actor: str = "https://commune-c.test/federation/u/gancio"
    keys: tuple[str, str] = field(default_factory=generate_rsa_keypair)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def document(self) -> dict[str, Any]:
        return {"@context": [AS, "https://w3id.org/security/v1"], "id": self.actor, "type": "Application",
                "preferredUsername": "gancio", "name": "Agenda de Fougères", "inbox": f"{self.actor}/inbox",
                "outbox": f"{self.actor}/outbox", "followers": f"{self.actor}/followers",
                "endpoints": {"sharedInbox": "https://commune-c.test/federation/u/gancio/inbox"},
                "publicKey": {"id": f"{self.actor}#main-key", "owner": self.actor, "publicKeyPem": self.keys[1]}}

    def event(self, number: int, follower: str, **changes: Any) -> dict[str, Any]:
        """The Gancio fixture as event `number`, a month ahead, its followers in `cc` as Gancio does."""
        doc = copy.deepcopy(fixture("gancio_event.json"))
        doc["id"] = f"https://commune-c.test/federation/m/{number}"
        start = utcnow().replace(microsecond=0) + timedelta(days=30)
        doc["startTime"] = start.isoformat().replace("+00:00", ".000+00:00")
        doc["endTime"] = (start + timedelta(hours=2)).isoformat()
        doc["cc"] = [follower, f"{self.actor}/followers"]
        doc.update(changes)
        self.objects[doc["id"]] = doc
        return doc

    async def deliver(self, activity: dict[str, Any], inbox: str = "https://commune-a.test/inbox") -> int:
        body = json.dumps(activity).encode()
        headers = sign_request("POST", inbox, key_id=f"{self.actor}#main-key", private_key_pem=self.keys[0],
                               body=body, headers={"Content-Type": "application/activity+json; charset=utf-8"})
        async with _http() as http, http.post(inbox, data=body, headers=headers) as response:
            return response.status


@pytest.fixture
async def gancio(test_ca) -> AsyncIterator[FakeGancio]:
    ca, _ = test_ca
    fake = FakeGancio()

    async def actor(_request: web.Request) -> web.Response:
        return web.json_response(fake.document(), content_type="application/activity+json")

    async def event(request: web.Request) -> web.Response:
        doc = fake.objects.get(f"https://commune-c.test/federation/m/{request.match_info['number']}")
        if doc is None:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response({"@context": [AS], **doc}, content_type="application/activity+json")

    async def inbox(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        fake.received.append(body)
        if body.get("type") == "Follow":
            accept = {"@context": AS, "id": f"{fake.actor}#accept-{new_id()}", "type": "Accept",
                      "actor": fake.actor, "object": body}
            task = asyncio.get_running_loop().create_task(fake.deliver(accept))
            fake.tasks.add(task)
            task.add_done_callback(fake.tasks.discard)
        return web.json_response({}, status=202)

    app = web.Application()
    app.router.add_get("/federation/u/gancio", actor)
    app.router.add_get("/federation/m/{number}", event)
    app.router.add_post("/federation/u/gancio/inbox", inbox)
    async with serve_on_test_host(app, ca):
        yield fake


async def _event_of(instance, uri: str) -> Event | None:
    return await first(instance, select(Event).join(Status, Status.id == Event.status_id).where(Status.uri == uri))


async def test_gancio_create_and_announce_of_events_are_stored_as_agenda_events(commune_a, gancio):
    a, alice = commune_a
    # Create(Event) addressed to its followers (alice is one, listed in cc as Gancio does).
    created = gancio.event(42, alice.uri)
    create = {"@context": [AS, "https://w3id.org/security/v1"], "id": f"{created['id']}#create", "type": "Create",
              "to": [PUBLIC], "cc": created["cc"], "actor": gancio.actor, "object": created}
    assert await gancio.deliver(create) == 202
    event = await eventually(lambda: _event_of(a, created["id"]), what="Gancio's event on A")
    assert event.local is False and event.title == "Concert gratuit au kiosque"
    assert (event.place_name, event.locality) == ("Kiosque du jardin public", "Place Aristide Briand, 35300 Fougères")
    assert (event.latitude, event.longitude) == (48.3515, -1.2044)
    assert event.online_url == "https://live.example/kiosque" and event.timezone == "Europe/Paris"
    status = await first(a, select(Status).where(Status.uri == created["id"]))
    assert "<script>" not in status.content and status.summary == "" and status.sensitive is False
    assert status.content.startswith("<p><strong>Concert gratuit au kiosque</strong><br>")
    assert "Kiosque du jardin public" in status.content and created["url"] in status.content

    # alice follows the Gancio actor (Gancio answers Accept), which then relays events with Announce.
    remote = await ActorResolver(a.runtime).get(gancio.actor)
    await outbox(a).follow(alice.id, remote.id)
    await eventually(lambda: first(a, select(Follow.id).where(Follow.follower_id == alice.id,
                                                              Follow.state == "accepted")),
                     what="Gancio's Accept")
    relayed = gancio.event(43, alice.uri, name="Vide-grenier du quartier")
    embedded = {**relayed, "name": "Copie modifiée en route", "startTime": "2031-01-01T00:00:00Z"}
    announce = {"@context": AS, "id": f"{gancio.actor}#announce-{new_id()}", "type": "Announce",
                "actor": gancio.actor, "to": [PUBLIC],
                "object": {"id": f"{relayed['id']}#create", "type": "Create", "actor": gancio.actor,
                           "object": embedded}}
    assert await gancio.deliver(announce) == 202
    event = await eventually(lambda: _event_of(a, relayed["id"]), what="the relayed event on A")
    assert event.title == "Vide-grenier du quartier"  # refetched from its origin, not the embedded copy
    # Announce(Event) of its own event: stored, not shown as a boost.
    bare = gancio.event(44, alice.uri, name="Marché nocturne")
    assert await gancio.deliver({"@context": AS, "id": f"{gancio.actor}#announce-{new_id()}", "type": "Announce",
                                 "actor": gancio.actor, "to": [PUBLIC], "object": bare["id"]}) == 202
    event = await eventually(lambda: _event_of(a, bare["id"]), what="the announced event on A")
    assert event.title == "Marché nocturne"
    assert await count(a, Status, Status.reblog_of_id.is_not(None)) == 0

    # An Update moves and cancels it.
    moved = {**gancio.objects[created["id"]], "startTime": (utcnow() + timedelta(days=40)).isoformat(),
             "updated": utcnow().isoformat(), "ical:status": "CANCELLED"}
    assert await gancio.deliver({"@context": AS, "id": f"{gancio.actor}#update-{new_id()}", "type": "Update",
                                 "actor": gancio.actor, "to": [PUBLIC], "object": moved}) == 202

    async def cancelled() -> bool:
        row = await _event_of(a, created["id"])
        return row is not None and row.event_status == "CANCELLED"

    await eventually(cancelled, what="the cancellation on A")
    row = await _event_of(a, created["id"])
    assert row.starts_at > utcnow() + timedelta(days=39)


async def test_hostile_gancio_events_are_ignored_or_sanitized_never_a_server_error(commune_a, gancio):
    a, alice = commune_a
    cases = {
        50: {"endTime": "2001-01-01T00:00:00Z"},  # end before start: dropped
        51: {"startTime": None},  # no start: a post, not an event
        52: {"startTime": "3000-01-01T00:00:00Z"},  # absurd
        53: {"location": {"type": "Place", "name": ["x"], "latitude": "NaN", "longitude": 1e309,
                          "address": [{"streetAddress": "3 rue B"}]}},
        54: {"name": "<img src=x onerror=alert(1)>Loto", "maximumAttendeeCapacity": 10**12},
    }
    for number, change in cases.items():
        doc = gancio.event(number, alice.uri, **{k: v for k, v in change.items() if v is not None})
        if change.get("startTime", "") is None:
            doc.pop("startTime")
        status = await gancio.deliver({"@context": AS, "id": f"{doc['id']}#create", "type": "Create",
                                       "actor": gancio.actor, "to": [PUBLIC], "cc": doc["cc"], "object": doc})
        assert status == 202
    base = "https://commune-c.test/federation/m/"
    for number in cases:
        await eventually(lambda n=number: first(a, select(Status.id).where(Status.uri == f"{base}{n}")),
                         what=f"event {number} stored as a status")
    assert (await _event_of(a, f"{base}50")).ends_at is None
    assert await _event_of(a, f"{base}51") is None and await _event_of(a, f"{base}52") is None
    placeless = await _event_of(a, f"{base}53")
    assert placeless.latitude is None and placeless.street == "3 rue B"
    loto = await _event_of(a, f"{base}54")
    assert loto.title == "Loto" and loto.capacity is None


# ---------------------------------------------------------------------------------------------
# Two instances of this server
# ---------------------------------------------------------------------------------------------


@pytest.fixture
async def pair(make_instance):
    a = await make_instance("commune-a.test")
    b = await make_instance("commune-b.test")
    await set_territory(a, COUESNON)
    await set_territory(b, FOUGERES)
    alice = await make_account(a, "alice", commune_insee="35257")  # Maen Roch
    bob = await make_account(b, "bob", commune_insee="35115")  # Fougères, 13.6 km away
    return a, b, alice, bob


async def test_an_event_of_a_reaches_b_listed_located_updated_cancelled_and_deleted(pair, mastodon_client):
    a, b, alice, bob = pair
    await make_neighbours(a, b)
    await outbox(b).follow(bob.id, (await remote_actor(b, "alice@commune-a.test")).id)
    await eventually(lambda: first(b, select(Follow.id).where(Follow.follower_id == bob.id,
                                                              Follow.state == "accepted")), what="bob follows alice")
    alice_token, bob_token = await issue_token(a, alice.id), await issue_token(b, bob.id)
    code, created = await _json("POST", "https://commune-a.test/api/v1/events", alice_token, json={
        "title": "Fest-noz", "description": "Sonneurs et danseurs", "start": _soon(20), "end": _soon(20, 23),
        "category": "PARTY", "place": {"name": "Salle des fêtes", "street": "2 rue de la Mairie"},
        "commune": "35257"})
    assert code == 200, created
    uri = created["uri"]
    remote = await eventually(lambda: _event_of(b, uri), what="the event on B")
    assert (remote.place_name, remote.street, remote.postal_code, remote.locality, remote.commune_insee) == \
        ("Salle des fêtes", "2 rue de la Mairie", "35460", "Maen Roch", "35257")

    code, _ = await _json("PUT", "https://commune-b.test/api/v1/neighbourhood", bob_token,
                          json={"home_commune": "35115", "radius_km": 20})
    assert code == 200
    code, agenda = await _json("GET", "https://commune-b.test/api/v1/events", bob_token,
                               params={"commune": "35115", "radius_km": "20"})
    assert code == 200, agenda
    listed = next(e for e in agenda if e["uri"] == uri)
    assert listed["place"]["name"] == "Salle des fêtes" and listed["place"]["latitude"] == 48.4114
    assert listed["local"] is False and listed["organizer"]["acct"] == "alice@commune-a.test"
    code, timeline = await _json("GET", "https://commune-b.test/api/v1/timelines/neighbourhood", bob_token)
    assert code == 200 and uri in [s["uri"] for s in timeline]
    # Mastodon apps on both sides see the date and place in the text, not behind a content warning.
    client_b = await mastodon_client(b, bob.id)
    seen = await client_b.status(listed["status_id"])
    assert listed["summary"] in seen["content"] and seen["spoiler_text"] == ""
    client_a = await mastodon_client(a, alice.id)
    own = await client_a.status(created["status_id"])
    assert created["summary"] in own["content"] and "Fest-noz" in own["content"] and own["spoiler_text"] == ""

    code, moved = await _json("PUT", f"https://commune-a.test/api/v1/events/{created['id']}", alice_token,
                              json={"start": _soon(21), "end": _soon(21, 23)})
    assert code == 200, moved

    async def moved_on_b() -> bool:
        row = await _event_of(b, uri)
        return row is not None and row.starts_at > remote.starts_at

    await eventually(moved_on_b, what="the new date on B")
    code, cancelled = await _json("POST", f"https://commune-a.test/api/v1/events/{created['id']}/cancel",
                                  alice_token)
    assert code == 200 and cancelled["status"] == "CANCELLED"

    async def cancelled_on_b() -> bool:
        row = await _event_of(b, uri)
        return row is not None and row.event_status == "CANCELLED"

    await eventually(cancelled_on_b, what="the cancellation on B")
    code, agenda = await _json("GET", "https://commune-b.test/api/v1/events", bob_token)
    flagged = next(e for e in agenda if e["uri"] == uri)
    assert flagged["cancelled"] is True and flagged["summary"].startswith("ANNULÉ – ")

    code, _ = await _json("DELETE", f"https://commune-a.test/api/v1/events/{created['id']}", alice_token)
    assert code == 200

    async def gone() -> bool:
        return await _event_of(b, uri) is None and await count(b, Status, Status.uri == uri) == 0

    await eventually(gone, what="the deletion on B")
