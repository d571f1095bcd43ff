"""Petites annonces between live instances over TLS with real signed deliveries: an ad reaches a
follower and a neighbour instance with its FEP-0837 terms and is listed there, a reply from the
other instance is a direct message to the ad's author, crafted FEP-0837 `Proposal`s and hostile
ads are stored safely or ignored. The price and hashtag readers are checked on their own first."""

from __future__ import annotations

import json
import ssl
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from fediverse.ad_terms import (
    AdInputError,
    category_from_intent,
    category_from_tags,
    is_ad_request,
    parse_price,
    price_from_reciprocal,
    price_in_text,
    read_mark,
    remote_expiry,
)
from fediverse.as2 import format_datetime
from fediverse.db import utcnow
from fediverse.models import Ad, Follow, IncomingActivity, Mention, Status
from outbox.commands import StatusDraft
from tests.api.test_timelines import raw
from tests.conftest import issue_token
from tests.federation_steps import count, first, make_account, outbox, remote_actor
from tests.live import LiveInstance, eventually
from tests.neighbour_steps import COUESNON, FOUGERES, make_neighbours, set_territory
from tests.test_inbox_hostile_input import PUBLIC, Remote, create, processed, signed

MAEN_ROCH, FOUGERES_TOWN = "35257", "35115"


# -- readers ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("Poussette 20 €", (2000, False)), ("Poussette 20€", (2000, False)), ("12,50 € à débattre", (1250, False)),
    ("15 euros", (1500, False)), ("Gratuit, à venir chercher", (None, True)), ("Vélo 10 € ou 15 €", (None, False)),
    ("Rendez-vous à 20h", (None, False)), ("0 €", (None, True)), ("999999999 €", (None, False)),
])
def test_prices_are_read_from_free_text_only_when_certain(text, expected):
    assert price_in_text(text) == expected


@pytest.mark.parametrize(("value", "cents"), [("12", 1200), ("12.5", 1250), ("12,50", 1250), ("0", 0), ("7 €", 700)])
def test_prices_typed_in_the_api_become_cents(value, cents):
    assert parse_price(value) == cents


@pytest.mark.parametrize("value", ["-1", "abc", "1e9", "12.345", "", "1000000000"])
def test_bad_prices_are_refused(value):
    with pytest.raises(AdInputError):
        parse_price(value)


def test_category_hashtags_accept_accents_and_plurals_and_recherche_is_a_request_marker():
    assert category_from_tags(["annonce", "Prêt"]) == "pret"
    assert category_from_tags(["annonce", "covoiturage", "recherche"]) == "covoiturage"
    assert category_from_tags(["annonce", "recherche"]) == "recherche"
    assert is_ad_request(["Annonce", "dons"]) and not is_ad_request(["don"]) and not is_ad_request(["annonce"])
    assert read_mark("[Donné] Vélo") == "donne" and read_mark("[Expirée] Vélo") == "expired"
    assert read_mark("Vélo [Donné]") is None


@pytest.mark.parametrize(("reciprocal", "expected"), [
    ({"resourceQuantity": {"hasUnit": "EUR", "hasNumericalValue": "12.50"}}, (1250, "EUR")),
    ({"resourceConformsTo": "https://www.wikidata.org/wiki/Q4916",
      "resourceQuantity": {"hasUnit": "one", "hasNumericalValue": 3}}, (300, "EUR")),
    ([{"resourceQuantity": [{"hasUnit": "EUR", "hasNumericalValue": "5"}]}], (500, "EUR")),
    ({"resourceQuantity": {"hasUnit": "EUR", "hasNumericalValue": "abc"}}, (None, "EUR")),
    ({"resourceQuantity": {"hasUnit": "EUR", "hasNumericalValue": "-4"}}, (None, "EUR")),
    ({"resourceQuantity": {"hasUnit": "EUR", "hasNumericalValue": float("inf")}}, (None, "EUR")),
    ({"resourceQuantity": {"hasUnit": "EUR", "hasNumericalValue": "1e400"}}, (None, "EUR")),
    ({"resourceQuantity": {"hasUnit": "one", "hasNumericalValue": "3"}}, (None, "EUR")),
    ({"resourceQuantity": "EUR 5"}, (None, "EUR")),
    ("12 €", (None, "EUR")),
])
def test_remote_prices_are_validated(reciprocal, expected):
    assert price_from_reciprocal({"reciprocal": reciprocal}) == expected


def test_remote_categories_and_expiry_dates_are_read_defensively():
    assert category_from_intent({"publishes": {"resourceConformsTo": "https://a.test/api/v1/ads?category=don"}}) \
        == "don"
    assert category_from_intent({"publishes": {"resourceConformsTo": "https://x.test/categories/Covoiturage"}}) \
        == "covoiturage"
    assert category_from_intent({"publishes": {"resourceConformsTo": "https://www.wikidata.org/wiki/Q11442"}}) \
        is None
    assert category_from_intent({"publishes": ["nonsense", 3]}) is None
    published = utcnow() - timedelta(days=1)
    for junk in ("99999-01-01T00:00:00Z", "not a date", 12, ["2030-01-01"], "1900-01-01T00:00:00Z"):
        assert remote_expiry({"endTime": junk}, published) == published + timedelta(days=30)
    far = utcnow() + timedelta(days=3650)
    assert remote_expiry({"endTime": format_datetime(far)}, published) == published + timedelta(days=30)
    soon = (utcnow() + timedelta(days=5)).replace(microsecond=0)
    assert remote_expiry({"endTime": format_datetime(soon)}, published) == soon


# -- two live instances -----------------------------------------------------------------------------

@pytest.fixture
async def pair(make_instance):
    a = await make_instance("commune-a.test")
    b = await make_instance("commune-b.test")
    await set_territory(a, COUESNON)
    await set_territory(b, FOUGERES)
    alice = await make_account(a, "alice", commune_insee=MAEN_ROCH)
    bob = await make_account(b, "bob", commune_insee=FOUGERES_TOWN)
    return a, b, alice, bob


async def post_ad(instance: LiveInstance, token: str, **fields: Any) -> dict[str, Any]:
    body = {"title": "Vélo enfant", "description": "Bon état", "category": "vente", "price": "12.50", **fields}
    status, doc, _ = await raw(instance, "POST", "/api/v1/ads", token, json=body)
    assert status == 200, doc
    return doc


async def ad_on(instance: LiveInstance, uri: str) -> Ad | None:
    return await first(instance, select(Ad).join(Status, Status.id == Ad.status_id).where(Status.uri == uri))


async def test_an_ad_reaches_a_follower_with_its_terms_is_listed_there_and_follows_close_and_delete(pair):
    a, b, alice, bob = pair
    alice_on_b = await remote_actor(b, "alice@commune-a.test")
    await outbox(b).follow(bob.id, alice_on_b.id)
    await eventually(lambda: _accepted(b, bob.id), what="Accept of bob's Follow")
    ad = await post_ad(a, await issue_token(a, alice.id))
    stored = await eventually(lambda: ad_on(b, ad["uri"]), what="the ad recognised on B")
    assert (stored.local, stored.title, stored.category, stored.purpose, stored.price_cents, stored.free) == \
        (False, "Vélo enfant", "vente", "offer", 1250, False)
    assert stored.commune_insee == MAEN_ROCH and stored.state == "open"
    assert abs((stored.expires_at - utcnow()).days - 30) <= 1
    status = await first(b, select(Status).where(Status.uri == ad["uri"]))
    extra = json.loads(status.extra_json)
    assert extra["purpose"] == "offer" and extra["publishes"]["action"] == "transfer"
    assert extra["reciprocal"]["resourceQuantity"] == {"hasUnit": "EUR", "hasNumericalValue": "12.50"}

    bob_token = await issue_token(b, bob.id)
    code, docs, _ = await raw(b, "GET", "/api/v1/ads?category=vente", bob_token)
    assert code == 200 and [(d["title"], d["local"], d["price"]) for d in docs] == [("Vélo enfant", False, "12.50")]
    assert docs[0]["account"]["acct"] == "alice@commune-a.test"
    assert docs[0]["commune"]["insee"] == MAEN_ROCH

    alice_token = await issue_token(a, alice.id)
    code, _, _ = await raw(a, "POST", f"/api/v1/ads/{ad['id']}/close", alice_token, json={"reason": "pourvu"})
    assert code == 200
    closed = await eventually(lambda: _in_state(b, ad["uri"], "closed"), what="the close on B")
    assert closed.closed_reason == "pourvu"
    assert (await raw(b, "GET", "/api/v1/ads", bob_token))[1] == []
    code, _, _ = await raw(a, "DELETE", f"/api/v1/ads/{ad['id']}", alice_token)
    assert code == 200
    await eventually(lambda: _gone(b, ad["uri"]), what="the Delete on B")
    assert await count(b, Ad) == 0


async def _accepted(instance: LiveInstance, follower_id: int) -> bool:
    return bool(await first(instance, select(Follow.id).where(Follow.follower_id == follower_id,
                                                             Follow.state == "accepted")))


async def _in_state(instance: LiveInstance, uri: str, state: str) -> Ad | None:
    ad = await ad_on(instance, uri)
    return ad if ad is not None and ad.state == state else None


async def _gone(instance: LiveInstance, uri: str) -> bool:
    return await first(instance, select(Status.id).where(Status.uri == uri)) is None


async def test_a_neighbour_instance_lists_the_ad_and_shows_it_in_the_neighbourhood_timeline(pair):
    a, b, alice, bob = pair
    await make_neighbours(a, b)
    ad = await post_ad(a, await issue_token(a, alice.id), category="don", price="", title="Lit bébé")
    stored = await eventually(lambda: ad_on(b, ad["uri"]), what="the ad on the neighbour instance")
    assert (stored.category, stored.free, stored.commune_insee) == ("don", True, MAEN_ROCH)

    # Anyone may read the list; Maen Roch is 13.6 km from Fougères.
    code, docs, _ = await raw(b, "GET", f"/api/v1/ads?commune={FOUGERES_TOWN}&radius_km=15")
    assert code == 200 and [d["title"] for d in docs] == ["Lit bébé"]
    code, docs, _ = await raw(b, "GET", f"/api/v1/ads?commune={FOUGERES_TOWN}&radius_km=5")
    assert code == 200 and docs == []
    bob_token = await issue_token(b, bob.id)
    code, _, _ = await raw(b, "PUT", "/api/v1/neighbourhood", bob_token, data={"radius_km": "15"})
    assert code == 200
    code, timeline, _ = await raw(b, "GET", "/api/v1/timelines/neighbourhood", bob_token)
    assert code == 200 and [s["uri"] for s in timeline] == [ad["uri"]]
    assert timeline[0]["content"].startswith("<p><strong>Lit bébé</strong>")
    assert {t["name"] for t in timeline[0]["tags"]} == {"petiteannonce", "don"}


async def test_a_reply_from_the_other_instance_arrives_as_a_direct_message_to_the_author(pair):
    a, b, alice, bob = pair
    await make_neighbours(a, b)
    ad = await post_ad(a, await issue_token(a, alice.id))
    on_b = await eventually(lambda: first(b, select(Status).where(Status.uri == ad["uri"])), what="the ad on B")
    reply = await outbox(b).post(bob.id, StatusDraft(text="Il est encore là ?", in_reply_to_id=on_b.id,
                                                     visibility="public"))
    assert reply.visibility == "direct" and reply.location_json is None
    assert json.loads(reply.to_json) == [alice.uri] and json.loads(reply.cc_json) == []
    got = await eventually(lambda: first(a, select(Status).where(Status.uri == reply.uri)), what="the reply on A")
    assert got.visibility == "direct" and got.in_reply_to_id == int(ad["status_id"])
    assert await count(a, Mention, Mention.status_id == got.id, Mention.actor_id == alice.id) == 1
    # Nothing public came out of it: the neighbour instance shared nothing back.
    assert await count(a, Status, Status.visibility == "public", Status.local.is_(False)) == 0


def proposal(sender: Remote, to: list[str], **fields: Any) -> dict[str, Any]:
    oid = sender.note_id()
    doc = {"id": oid, "type": "Proposal", "attributedTo": sender.uri, "to": to, "cc": [],
           "name": "Offering used bike", "content": "<p>Blue one-speed bike, some rust</p>",
           "published": format_datetime(utcnow()), "purpose": "offer",
           "publishes": {"type": "Intent", "id": f"{oid}#primary", "action": "transfer",
                         "resourceConformsTo": "https://www.wikidata.org/wiki/Q11442",
                         "resourceQuantity": {"hasUnit": "one", "hasNumericalValue": "1"}},
           "reciprocal": {"type": "Intent", "id": f"{oid}#reciprocal", "action": "transfer",
                          "resourceConformsTo": "https://www.wikidata.org/wiki/Q4916",
                          "resourceQuantity": {"hasUnit": "one", "hasNumericalValue": "30"}},
           "location": {"type": "Place", "name": "Maen Roch", "latitude": 48.41, "longitude": -1.36},
           "endTime": format_datetime(utcnow() + timedelta(days=10)), "unitBased": False}
    doc.update(fields)
    return doc


async def deliver(a: LiveInstance, sender: Remote, activity: dict[str, Any]) -> IncomingActivity:
    body = json.dumps(activity).encode()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl.create_default_context())) as http, \
            http.post(f"{a.base_url}/inbox", data=body, headers=signed(sender, body)) as response:
        assert response.status == 202, await response.text()
    return await processed(a, activity["id"])


async def test_a_crafted_fep_0837_proposal_is_stored_listed_and_readable_by_mastodon_apps(pair, mastodon_client):
    a, b, alice, bob = pair
    sender = Remote.of(bob)
    obj = proposal(sender, [PUBLIC], cc=[alice.uri])
    assert (await deliver(a, sender, create(sender, obj, [PUBLIC]))).state == "done"
    status = await first(a, select(Status).where(Status.uri == obj["id"]))
    assert status.object_type == "Proposal" and status.commune_insee is None and status.latitude == 48.41
    ad = await ad_on(a, obj["id"])
    assert (ad.title, ad.category, ad.purpose, ad.price_cents, ad.currency) == \
        ("Offering used bike", "vente", "offer", 3000, "EUR")
    code, docs, _ = await raw(a, "GET", f"/api/v1/ads?commune={MAEN_ROCH}&radius_km=5")
    assert code == 200 and [(d["title"], d["price"], d["description"]) for d in docs] == \
        [("Offering used bike", "30", "Blue one-speed bike, some rust")]
    client = await mastodon_client(a, alice.id)
    shown = await client.status(status.id)
    assert shown["content"] == "<p>Blue one-speed bike, some rust</p>" and shown["visibility"] == "public"

    # An Update of a Note ad (our neighbours' shape) refreshes the row; a past endTime ends it.
    note_ad = proposal(sender, [PUBLIC], cc=[alice.uri], type="Note", name=None,
                       content="<p><strong>Tondeuse</strong></p><p>Peu servi</p>")
    assert (await deliver(a, sender, create(sender, note_ad, [PUBLIC]))).state == "done"
    assert (await ad_on(a, note_ad["id"])).title == "Tondeuse"
    edited = {**note_ad, "content": "<p><strong>[Trouvé] Tondeuse électrique</strong></p>",
              "endTime": format_datetime(utcnow() - timedelta(hours=1)), "updated": format_datetime(utcnow())}
    update = {"@context": "https://www.w3.org/ns/activitystreams", "id": sender.activity_id(), "type": "Update",
              "actor": sender.uri, "to": [PUBLIC], "object": edited}
    done = await deliver(a, sender, update)
    assert done.state == "done", (done.state, done.error)
    ad = await ad_on(a, note_ad["id"])
    assert (ad.title, ad.state, ad.closed_reason) == ("Tondeuse électrique", "closed", "trouve")
    assert [d["title"] for d in (await raw(a, "GET", "/api/v1/ads?status=closed"))[1]] == ["Tondeuse électrique"]
    edited = {**edited, "content": "<p><strong>Tondeuse électrique</strong></p>", "updated": format_datetime(
        utcnow() + timedelta(seconds=5))}
    update = {**update, "id": sender.activity_id(), "object": edited}
    assert (await deliver(a, sender, update)).state == "done"
    assert [d["title"] for d in (await raw(a, "GET", "/api/v1/ads"))[1]] == ["Offering used bike"]
    assert [d["title"] for d in (await raw(a, "GET", "/api/v1/ads?status=expired"))[1]] == ["Tondeuse électrique"]


HOSTILE: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    ("huge title", {"name": "V" * 50_000}, {"title": "V" * 200}),
    ("price abc", {"reciprocal": {"type": "Intent", "action": "transfer",
                                  "resourceQuantity": {"hasUnit": "EUR", "hasNumericalValue": "abc"}}},
     {"price_cents": None}),
    ("negative price", {"reciprocal": {"type": "Intent", "action": "transfer",
                                       "resourceQuantity": {"hasUnit": "EUR", "hasNumericalValue": -30}}},
     {"price_cents": None}),
    ("year 99999", {"endTime": "99999-01-01T00:00:00Z"}, {"expires_soon": True}),
    ("arrays instead of objects", {"publishes": [{"action": "deliverService", "resourceQuantity": []}],
                                   "reciprocal": [[1, 2]], "location": [[48.0, -1.0]], "purpose": ["offer"]},
     {"price_cents": None, "purpose": "offer", "category": "service"}),
    ("unknown purpose", {"purpose": "steal", "name": ""},
     {"purpose": "offer", "title": "Blue one-speed bike, some rust"}),
    ("html title", {"name": "<script>alert(1)</script>Vélo"}, {"title": "<script>alert(1)</script>Vélo"}),
    ("no title at all", {"name": None, "content": ""}, None),
    ("direct proposal", {"direct": True}, None),
]


@pytest.mark.parametrize(("what", "fields", "expected"), HOSTILE, ids=[case[0] for case in HOSTILE])
async def test_hostile_remote_ads_are_stored_safely_or_ignored(pair, what, fields, expected):
    a, _b, alice, bob = pair
    sender = Remote.of(bob)
    direct = fields.pop("direct", False)
    obj = proposal(sender, [alice.uri] if direct else [PUBLIC], cc=[alice.uri], **fields)
    row = await deliver(a, sender, create(sender, obj, [PUBLIC]))
    assert row.state in ("done", "ignored"), row.state
    ad = await ad_on(a, obj["id"])
    if expected is None:
        assert ad is None
    else:
        assert ad is not None
        for key, value in expected.items():
            if key == "expires_soon":
                assert ad.expires_at <= utcnow() + timedelta(days=31)
            else:
                assert getattr(ad, key) == value, key
    code, _docs, _ = await raw(a, "GET", "/api/v1/ads?status=open")
    assert code == 200
