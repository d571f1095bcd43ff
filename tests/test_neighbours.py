"""Neighbour instances and relay subscriptions between live instances of this server over TLS.

commune-a.test serves Couesnon Marches de Bretagne, commune-b.test Fougères Agglomération (the
intercommunality next door). Consent goes through the real CLI or the domain commands it calls;
content flows through real signed deliveries; nobody on the receiving side follows the authors.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from actors.territory import haversine_km
from fediverse.ids import new_id
from fediverse.keys import generate_rsa_keypair
from fediverse.models import Actor, Commune, Follow, IncomingActivity, Neighbour, NeighbourCommune, Status
from fediverse.signatures import sign_request
from outbox.neighbours import NeighbourCommands
from tests.conftest import issue_token
from tests.federation_steps import count, first, html, make_account, outbox
from tests.live import eventually, serve_on_test_host
from tests.neighbour_steps import (
    COUESNON,
    FOUGERES,
    cli,
    deliveries_to,
    make_neighbours,
    neighbour,
    set_territory,
    states,
    wait_states,
)

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


@pytest.fixture
async def pair(make_instance):
    a = await make_instance("commune-a.test")
    b = await make_instance("commune-b.test")
    await set_territory(a, COUESNON)
    await set_territory(b, FOUGERES)
    alice = await make_account(a, "alice", commune_insee="35257")  # Maen Roch
    bob = await make_account(b, "bob", commune_insee="35115")  # Fougères
    return a, b, alice, bob


def _http(token: str | None = None) -> aiohttp.ClientSession:
    """A client trusting the test CA (SSL_CERT_FILE): ActivityStreams, or the client API with a token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {"Accept": "application/activity+json"}
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl.create_default_context()), headers=headers)


async def on(instance, uri: str) -> Status | None:
    return await first(instance, select(Status).where(Status.uri == uri))


async def arrives(instance, uri: str, what: str) -> Status:
    return await eventually(lambda: on(instance, uri), what=what)


async def test_add_pending_accept_through_the_cli_makes_a_mutual_relation_with_communes_on_both_sides(pair):
    a, b, _alice, _bob = pair
    added = await cli(a, "neighbours", "add", "https://commune-b.test")
    assert added.code == 0, added.err
    assert "commune-b.test" in added.out and "28 communes" in added.out
    assert await states(a, "commune-b.test") == ("requested", "none")
    await wait_states(b, "commune-a.test", ("none", "pending"), "A's request")
    # Nothing is accepted before the admin of B says so.
    pending = await cli(b, "neighbours", "pending", "--json")
    assert pending.code == 0, pending.err
    assert [(p["domain"], p["kind"], p["actor"]) for p in json.loads(pending.out)] == [
        ("commune-a.test", "instance", "https://commune-a.test/actor")]
    assert await states(a, "commune-b.test") == ("requested", "none")

    accepted = await cli(b, "neighbours", "accept", "commune-a.test")
    assert accepted.code == 0, accepted.err
    assert "Accept" in accepted.out and "Follow" in accepted.out and "15 communes" in accepted.out
    await wait_states(a, "commune-b.test", ("accepted", "accepted"), "B's Accept and Follow back")
    await wait_states(b, "commune-a.test", ("accepted", "accepted"), "A's automatic Accept of B's Follow")
    assert (await cli(b, "neighbours", "pending")).out.strip() == "No pending neighbour or relay requests"

    listed = json.loads((await cli(a, "neighbours", "list", "--json")).out)
    assert listed == [{"domain": "commune-b.test", "kind": "instance", "actor": "https://commune-b.test/actor",
                       "outgoing_state": "accepted", "incoming_state": "accepted", "mutual": True,
                       "territory": "Fougères Agglomération", "communes": 28}]
    table = (await cli(b, "neighbours", "list")).out
    assert "commune-a.test" in table and "Couesnon Marches de Bretagne" in table
    # Their communes, as their instance actor publishes them.
    fougeres = await first(a, select(NeighbourCommune).where(NeighbourCommune.insee == "35115"))
    assert (fougeres.name, fougeres.postal_codes, fougeres.latitude, fougeres.longitude) == \
        ("Fougères", "35300", 48.3515, -1.2044)
    assert await count(b, NeighbourCommune) == 15
    # No Follow rows: the relation lives in the neighbours table only (follower counts stay right).
    assert await count(a, Follow) == 0 and await count(b, Follow) == 0

    # Both instance actors publish their neighbours.
    async with _http() as http:
        async with http.get("https://commune-a.test/actor") as response:
            actor = await response.json(content_type=None)
        async with http.get(actor["neighbours"]) as response:
            collection = await response.json(content_type=None)
    assert actor["neighbours"] == "https://commune-a.test/actor/neighbours"
    assert actor["@context"][2]["neighbours"] == {"@id": "https://commune-a.test/ns#neighbours", "@type": "@id"}
    assert collection["type"] == "OrderedCollection"
    assert collection["orderedItems"] == ["https://commune-b.test/actor"] and collection["totalItems"] == 1


async def test_public_posts_flow_both_ways_with_their_location_and_edits_and_deletes_follow(pair):
    a, b, alice, bob = pair
    await make_neighbours(a, b)
    post = await outbox(a).publish(alice.id, html(a, "Marché de Noël à Maen Roch samedi"))
    got = await arrives(b, post.uri, "A's public post on B")
    assert got.local is False and got.reblog_of_id is None and got.visibility == "public"
    assert (got.commune_insee, got.latitude, got.longitude) == ("35257", 48.4114, -1.3655)
    author = await first(b, select(Actor).where(Actor.id == got.actor_id))
    assert author.uri == alice.uri
    # Stored as the author's post, not as a boost by the instance actor.
    assert await count(b, Status, Status.reblog_of_id.is_not(None)) == 0

    await outbox(a).edit(alice.id, post.id, html(a, "Marché de Noël à Maen Roch dimanche"))
    await eventually(lambda: first(b, select(Status.id).where(Status.uri == post.uri,
                                                              Status.content.contains("dimanche"))),
                     what="the edit on B")
    await outbox(a).delete_status(alice.id, post.id)
    await eventually(lambda: _gone(b, post.uri), what="the delete on B")

    back = await outbox(b).publish(bob.id, html(b, "Braderie à Fougères"))
    got_back = await arrives(a, back.uri, "B's public post on A")
    assert got_back.commune_insee == "35115"


async def _gone(instance, uri: str) -> bool:
    return await on(instance, uri) is None


async def test_direct_followers_only_unlisted_and_replies_to_others_never_go_to_neighbours(pair):
    a, b, alice, bob = pair
    await make_neighbours(a, b)
    carol = await make_account(a, "carol", commune_insee="35257")
    hidden = [
        await outbox(a).publish(alice.id, html(a, "@carol secret", [carol]), visibility="direct", mentions=[carol]),
        await outbox(a).publish(alice.id, html(a, "pour mes abonnés"), visibility="private"),
        await outbox(a).publish(alice.id, html(a, "non listé"), visibility="unlisted"),
    ]
    parent = await outbox(a).publish(carol.id, html(a, "Qui a vu mon chat ?"))
    hidden.append(await outbox(a).publish(alice.id, html(a, "Oui, rue de la gare"), in_reply_to_id=parent.id))
    marker = await outbox(a).publish(alice.id, html(a, "Fin"))
    await arrives(b, marker.uri, "the public marker on B")
    await arrives(b, parent.uri, "carol's public post on B")
    for status in hidden:
        assert await deliveries_to(a, "commune-b.test", status.uri) == 0, status.visibility
        assert await on(b, status.uri) is None


async def test_reject_leaves_both_sides_without_a_relation_and_nothing_flows(pair):
    a, b, alice, bob = pair
    await NeighbourCommands(a.runtime).request_neighbour("commune-b.test")
    await wait_states(b, "commune-a.test", ("none", "pending"), "A's request")
    rejected = await cli(b, "neighbours", "reject", "commune-a.test")
    assert rejected.code == 0, rejected.err
    await wait_states(a, "commune-b.test", ("rejected", "none"), "B's Reject")
    assert await states(b, "commune-a.test") == ("none", "rejected")
    from_a = await outbox(a).publish(alice.id, html(a, "Depuis A"))
    from_b = await outbox(b).publish(bob.id, html(b, "Depuis B"))
    assert await deliveries_to(a, "commune-b.test", from_a.uri) == 0
    assert await deliveries_to(b, "commune-a.test", from_b.uri) == 0


async def test_remove_undoes_the_relation_forgets_the_communes_and_content_stops(pair):
    a, b, alice, bob = pair
    await make_neighbours(a, b)
    removed = await cli(a, "neighbours", "remove", "https://commune-b.test")
    assert removed.code == 0, removed.err
    assert "Undo(Follow)" in removed.out and "Reject" in removed.out
    assert await neighbour(a, "commune-b.test") is None
    assert await count(a, NeighbourCommune) == 0
    # B learns both: A no longer follows it (Undo) and no longer accepts its Follow (Reject).
    await wait_states(b, "commune-a.test", ("rejected", "none"), "A's Undo and Reject")
    from_a = await outbox(a).publish(alice.id, html(a, "Après la séparation, depuis A"))
    from_b = await outbox(b).publish(bob.id, html(b, "Après la séparation, depuis B"))
    assert await deliveries_to(a, "commune-b.test", from_a.uri) == 0
    assert await deliveries_to(b, "commune-a.test", from_b.uri) == 0
    async with _http() as http:
        async with http.get("https://commune-b.test/actor/neighbours") as response:
            assert (await response.json(content_type=None))["orderedItems"] == []


async def test_a_stranger_following_our_instance_actor_stays_pending_and_gets_nothing(pair, make_instance):
    a, _b, alice, _bob = pair
    c = await make_instance("commune-c.test")
    await NeighbourCommands(c.runtime).request_neighbour("https://commune-a.test")
    await wait_states(a, "commune-c.test", ("none", "pending"), "C's request")
    post = await outbox(a).publish(alice.id, html(a, "Réservé aux voisins acceptés"))
    assert await deliveries_to(a, "commune-c.test", post.uri) == 0
    assert await states(c, "commune-a.test") == ("requested", "none")
    # A person cannot become a neighbour by following the instance actor: that Follow is ignored.
    dave = await make_account(c, "dave")
    await outbox(c).follow(dave.id, (await first(c, select(Actor).where(
        Actor.uri == "https://commune-a.test/actor"))).id)
    await eventually(lambda: first(a, select(IncomingActivity.id).where(
        IncomingActivity.actor_uri == dave.uri, IncomingActivity.state == "ignored")), what="dave's Follow ignored")
    assert await count(a, Neighbour) == 1


async def test_a_resident_of_b_sees_posts_of_a_within_the_radius_and_not_beyond(pair):
    a, b, _alice, _bob = pair
    await make_neighbours(a, b)
    # Saint-Christophe-de-Valains (B) is 2.95 km from Le Tiercent and 6.78 km from Saint-Hilaire-des-Landes (A).
    home = await first(b, select(Commune).where(Commune.insee == "35261"))
    near, far = [await first(b, select(NeighbourCommune).where(NeighbourCommune.insee == code))
                 for code in ("35336", "35280")]
    assert haversine_km(home.latitude, home.longitude, near.latitude, near.longitude) < 6.0 < \
        haversine_km(home.latitude, home.longitude, far.latitude, far.longitude)
    claire = await make_account(b, "claire", commune_insee="35261")
    lucie = await make_account(a, "lucie", commune_insee="35336")
    hugo = await make_account(a, "hugo", commune_insee="35280")
    async with _http(await issue_token(b, claire.id)) as http:
        async with http.put("https://commune-b.test/api/v1/neighbourhood",
                            json={"home_commune": "35261", "radius_km": 6}) as response:
            assert response.status == 200, await response.text()
            included = {c["insee"]: c["domain"] for c in (await response.json())["included"]}
        assert included["35336"] == "commune-a.test" and "35280" not in included
        seen = await outbox(a).publish(lucie.id, html(a, "Troc de plantes au Tiercent"))
        unseen = await outbox(a).publish(hugo.id, html(a, "Loto à Saint-Hilaire-des-Landes"))
        await arrives(b, seen.uri, "the post from Le Tiercent on B")
        await arrives(b, unseen.uri, "the post from Saint-Hilaire-des-Landes on B")
        async with http.get("https://commune-b.test/api/v1/timelines/neighbourhood") as response:
            assert response.status == 200, await response.text()
            timeline = [status["uri"] for status in await response.json()]
    assert seen.uri in timeline and unseen.uri not in timeline


# ------------------------------------------------------------------------------------ relays


@dataclass
class FakeRelay:
    """A Mastodon-style relay actor on commune-c.test: its document, its key, what its inbox got."""

    uri: str = "https://commune-c.test/actor"
    inbox: str = "https://commune-c.test/inbox"
    keys: tuple[str, str] = field(default_factory=generate_rsa_keypair)
    received: list[dict[str, Any]] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {"@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
                "id": self.uri, "type": "Application", "preferredUsername": "relay", "inbox": self.inbox,
                "publicKey": {"id": f"{self.uri}#main-key", "owner": self.uri, "publicKeyPem": self.keys[1]}}

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [body for body in self.received if body.get("type") == kind]


@pytest.fixture
async def relay(test_ca) -> AsyncIterator[FakeRelay]:
    ca, _ = test_ca
    fake = FakeRelay()

    async def actor(_request: web.Request) -> web.Response:
        return web.json_response(fake.document(), content_type="application/activity+json")

    async def inbox(request: web.Request) -> web.Response:
        fake.received.append(json.loads(await request.read()))
        return web.json_response({}, status=202)

    app = web.Application()
    app.router.add_get("/actor", actor)
    app.router.add_post("/inbox", inbox)
    async with serve_on_test_host(app, ca):
        yield fake


async def _post_signed(relay: FakeRelay, activity: dict[str, Any]) -> int:
    body = json.dumps(activity).encode()
    headers = sign_request("POST", "https://commune-a.test/inbox", key_id=f"{relay.uri}#main-key",
                           private_key_pem=relay.keys[0], body=body,
                           headers={"Content-Type": "application/activity+json"})
    async with _http() as http, http.post("https://commune-a.test/inbox", data=body,
                                                          headers=headers) as response:
        return response.status


async def test_a_relay_following_public_waits_for_the_admin_then_receives_the_announces(pair, relay):
    a, _b, alice, _bob = pair
    follow = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"https://commune-c.test/{new_id()}",
              "type": "Follow", "actor": relay.uri, "object": PUBLIC}
    assert await _post_signed(relay, follow) == 202
    await wait_states(a, "commune-c.test", ("none", "pending"), "the relay's subscription")
    assert (await neighbour(a, "commune-c.test")).kind == "relay"
    before = await outbox(a).publish(alice.id, html(a, "Avant l'accord"))
    assert await deliveries_to(a, "commune-c.test", before.uri) == 0

    accepted = await cli(a, "neighbours", "accept", "commune-c.test")
    assert accepted.code == 0, accepted.err
    accept = (await eventually(lambda: _of_type(relay, "Accept"), what="Accept at the relay"))[0]
    assert accept["actor"] == "https://commune-a.test/actor"
    assert accept["object"]["id"] == follow["id"] and accept["object"]["object"] == PUBLIC
    # A relay is not followed back.
    assert relay.of_type("Follow") == []
    assert await states(a, "commune-c.test") == ("none", "accepted")

    post = await outbox(a).publish(alice.id, html(a, "Fête de la musique à Maen Roch"))
    announce = (await eventually(lambda: _of_type(relay, "Announce"), what="Announce at the relay"))[0]
    assert announce["actor"] == "https://commune-a.test/actor"
    assert announce["to"] == [relay.uri] and announce["cc"] == [PUBLIC]
    note = announce["object"]
    assert note["id"] == post.uri and note["attributedTo"] == alice.uri and note["type"] == "Note"
    assert note["location"]["identifier"]["value"] == "35257"
    assert [a_["object"]["id"] for a_ in relay.of_type("Announce")] == [post.uri]

    # The relay unsubscribes (Undo of its Follow): the row is forgotten, nothing more is sent.
    undo = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"https://commune-c.test/{new_id()}",
            "type": "Undo", "actor": relay.uri, "object": follow}
    assert await _post_signed(relay, undo) == 202
    await wait_states(a, "commune-c.test", None, "the relay's Undo")
    after = await outbox(a).publish(alice.id, html(a, "Après le départ du relais"))
    assert await deliveries_to(a, "commune-c.test", after.uri) == 0


async def _of_type(relay: FakeRelay, kind: str) -> list[dict[str, Any]]:
    return relay.of_type(kind)
