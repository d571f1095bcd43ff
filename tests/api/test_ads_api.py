"""Petites annonces through the client API (`/api/v1/ads`) and through a Mastodon app, against a
live instance serving Couesnon Marches de Bretagne: raw HTTP for the exact shapes, the real
Mastodon.py for what apps see and post."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from fediverse.db import utcnow
from fediverse.models import Ad, OutgoingActivity, Status
from outbox.ad_commands import expire_due_ads
from tests.api import test_timelines as shared
from tests.api.test_timelines import raw
from tests.conftest import issue_token
from tests.federation_steps import count, first, make_account
from tests.live import LiveInstance
from tests.test_locations import fetch_document, with_territory

close_idle_client_connections = shared.close_idle_client_connections
# Maen Roch (home) and around it: Saint-Germain-en-Coglès 7.6 km, Bazouges-la-Pérouse 15.5 km.
MAEN_ROCH, SAINT_GERMAIN, BAZOUGES = "35257", "35273", "35019"


@pytest.fixture
async def market(make_instance):
    instance = await with_territory(await make_instance("commune-a.test"))
    alice = await make_account(instance, "alice", commune_insee=MAEN_ROCH)
    bob = await make_account(instance, "bob", commune_insee=BAZOUGES)
    return instance, alice, bob, await issue_token(instance, alice.id), await issue_token(instance, bob.id)


async def new_ad(instance: LiveInstance, token: str, **fields: Any) -> dict[str, Any]:
    body = {"title": "Vélo enfant", "description": "Bon état, roues de 16 pouces.", "category": "vente",
            "price": "12.50", **fields}
    status, doc, _ = await raw(instance, "POST", "/api/v1/ads", token, json=body)
    assert status == 200, doc
    return doc


async def listed(instance: LiveInstance, token: str | None = None, **params: str) -> list[str]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    status, docs, _ = await raw(instance, "GET", f"/api/v1/ads?{query}", token)
    assert status == 200, docs
    return [doc["title"] for doc in docs]


async def test_an_ad_is_a_public_note_titled_on_its_first_line_with_the_fep_0837_terms(market, mastodon_client):
    instance, alice, _bob, token, _ = market
    ad = await new_ad(instance, token, free=False)
    assert (ad["title"], ad["category"], ad["purpose"], ad["price"], ad["free"], ad["state"]) == \
        ("Vélo enfant", "vente", "offer", "12.50", False, "open")
    assert ad["description"] == "Bon état, roues de 16 pouces."
    assert ad["commune"] == {"insee": MAEN_ROCH, "name": "Maen Roch"}
    assert ad["account"]["username"] == "alice" and ad["closed_reason"] is None
    expires = ad["expires_at"]
    assert expires > (utcnow() + timedelta(days=29)).isoformat()[:10]

    note = await fetch_document(ad["uri"])
    assert note["type"] == "Note" and "name" not in note and note["summary"] is None
    assert note["content"].startswith("<p><strong>Vélo enfant</strong></p><p>Bon état")
    assert note["purpose"] == "offer"
    assert {"purpose", "publishes", "reciprocal"} <= set(note["@context"][2])  # FEP-0837 terms declared
    assert note["publishes"]["id"] == ad["uri"] + "#primary"
    assert note["publishes"]["action"] == "transfer"
    assert note["publishes"]["resourceQuantity"] == {"hasUnit": "one", "hasNumericalValue": "1"}
    assert note["publishes"]["resourceConformsTo"].endswith("/api/v1/ads?category=vente")
    assert note["reciprocal"]["action"] == "transfer"
    assert note["reciprocal"]["resourceQuantity"] == {"hasUnit": "EUR", "hasNumericalValue": "12.50"}
    assert note["endTime"][:10] == expires[:10]
    assert note["location"]["type"] == "Place" and note["location"]["name"] == "Maen Roch"
    hashtags = {t["name"] for t in note["tag"] if t["type"] == "Hashtag"}
    assert hashtags == {"#petiteannonce", "#vente"}

    # Mastodon apps see the whole ad as an ordinary status, and in the hashtag timelines.
    client = await mastodon_client(instance, alice.id)
    status = await client.status(ad["status_id"])
    assert status["content"].startswith("<p><strong>Vélo enfant</strong>")
    assert "12,50 €" in status["content"] and "Maen Roch" in status["content"]
    assert {t["name"] for t in status["tags"]} == {"petiteannonce", "vente"}
    assert [str(s["id"]) for s in await client.timeline_hashtag("petiteannonce")] == [ad["status_id"]]
    assert [str(s["id"]) for s in await client.timeline_hashtag("vente")] == [ad["status_id"]]


async def test_a_status_with_annonce_and_a_category_hashtag_from_a_mastodon_app_becomes_an_ad(
        market, mastodon_client):
    instance, alice, _bob, _token, _ = market
    client = await mastodon_client(instance, alice.id)
    given = await client.status_post("Vélo enfant à donner\nBon état #annonce #don")
    sold = await client.status_post("Poussette\nTrès peu servi, 20 € #PetiteAnnonce #vente")
    wanted = await client.status_post("Trajet Rennes lundi matin\n#annonce #covoiturage #demande")
    await client.status_post("Juste un mot #don")  # no #annonce: not an ad
    await client.status_post("Privé #annonce #don", visibility="private")  # ads are public

    status, docs, _ = await raw(instance, "GET", "/api/v1/ads")
    assert status == 200
    by_title = {doc["title"]: doc for doc in docs}
    assert set(by_title) == {"Vélo enfant à donner", "Poussette", "Trajet Rennes lundi matin"}
    assert (by_title["Vélo enfant à donner"]["category"], by_title["Vélo enfant à donner"]["free"]) == ("don", True)
    assert by_title["Vélo enfant à donner"]["status_id"] == str(given["id"])
    assert (by_title["Poussette"]["category"], by_title["Poussette"]["price"]) == ("vente", "20")
    assert by_title["Poussette"]["status_id"] == str(sold["id"])
    assert (by_title["Trajet Rennes lundi matin"]["category"], by_title["Trajet Rennes lundi matin"]["purpose"]) \
        == ("covoiturage", "request")
    assert by_title["Trajet Rennes lundi matin"]["status_id"] == str(wanted["id"])
    # What the app shows: the title first, the author's hashtags kept, #PetiteAnnonce added.
    shown = await client.status(given["id"])
    assert shown["content"].startswith("<p><strong>Vélo enfant à donner</strong></p><p>Bon état")
    assert {t["name"] for t in shown["tags"]} == {"annonce", "don", "petiteannonce"}
    note = await fetch_document(given["uri"])
    assert note["purpose"] == "offer" and "reciprocal" not in note
    covoit = await fetch_document(wanted["uri"])
    assert covoit["purpose"] == "request" and covoit["publishes"]["action"] == "deliverService"

    # Editing the status from the app edits the ad.
    await client.status_update(given["id"], "Vélo enfant à donner, 4-6 ans\nBon état #annonce #don")
    async with instance.runtime.sessions() as session:
        ad = await session.scalar(select(Ad).where(Ad.status_id == given["id"]))
    assert ad.title == "Vélo enfant à donner, 4-6 ans"


async def test_filters_category_purpose_commune_radius_text_and_state(market):
    instance, _alice, _bob, token, bob_token = market
    await new_ad(instance, token, title="Vélo", category="vente")
    await new_ad(instance, token, title="Perceuse", category="pret", price="", free=True,
                 description="Une perceuse à percussion", commune=SAINT_GERMAIN)
    await new_ad(instance, bob_token, title="Cherche tondeuse", category="recherche", price="")
    closed = await new_ad(instance, token, title="Lit bébé", category="don", price="", commune=BAZOUGES)
    await raw(instance, "POST", f"/api/v1/ads/{closed['id']}/close", token, json={"reason": "donne"})

    assert await listed(instance) == ["Cherche tondeuse", "Perceuse", "Vélo"]
    assert await listed(instance, category="pret") == ["Perceuse"]
    assert await listed(instance, purpose="request") == ["Cherche tondeuse"]
    assert await listed(instance, purpose="offer") == ["Perceuse", "Vélo"]
    assert await listed(instance, commune=BAZOUGES) == ["Cherche tondeuse"]
    assert await listed(instance, commune=MAEN_ROCH, radius_km="10") == ["Perceuse", "Vélo"]
    assert await listed(instance, commune=MAEN_ROCH, radius_km="20") == ["Cherche tondeuse", "Perceuse", "Vélo"]
    # Around the signed-in resident's home when no commune is named (bob lives in Bazouges).
    assert await listed(instance, bob_token, radius_km="5") == ["Cherche tondeuse"]
    assert await listed(instance, q="percussion") == ["Perceuse"]
    assert await listed(instance, q="vélo") == ["Vélo"]
    assert await listed(instance, q="PERCEUSE") == ["Perceuse"]
    assert await listed(instance, status="closed") == ["Lit bébé"]
    assert await listed(instance, status="expired") == []


@pytest.mark.parametrize(("params", "message"), [
    ("category=voiture", "unknown category"),
    ("purpose=both", "purpose"),
    ("status=gone", "status"),
    ("radius_km=5", "radius_km needs a commune"),
    ("radius_km=abc&commune=35257", "radius_km must be a number"),
    ("radius_km=500&commune=35257", "radius_km must be more than 0"),
    ("radius_km=5&commune=99999", "unknown commune"),
])
async def test_bad_filters_are_clear_422s(market, params, message):
    instance, *_ = market
    status, body, _ = await raw(instance, "GET", f"/api/v1/ads?{params}")
    assert status == 422 and message in body["error"], body


async def test_pages_follow_link_headers(market):
    instance, _alice, _bob, token, _ = market
    for n in range(5):
        await new_ad(instance, token, title=f"Annonce {n}")
    status, page, headers = await raw(instance, "GET", "/api/v1/ads?limit=2")
    assert status == 200 and [d["title"] for d in page] == ["Annonce 4", "Annonce 3"]
    next_url = headers["Link"].split(";")[0].strip("<>")
    assert "limit=2" in next_url and f"max_id={page[-1]['id']}" in next_url
    _, second, headers = await raw(instance, "GET", next_url.removeprefix(instance.base_url))
    assert [d["title"] for d in second] == ["Annonce 2", "Annonce 1"]
    prev_url = headers["Link"].split(",")[1].split(";")[0].strip(" <>")
    _, back, _ = await raw(instance, "GET", prev_url.removeprefix(instance.base_url))
    assert [d["title"] for d in back] == ["Annonce 4", "Annonce 3"]


@pytest.mark.parametrize(("fields", "message"), [
    ({"category": "voiture"}, "unknown category"),
    ({"price": "-3"}, "price must not be negative"),
    ({"price": "abc"}, "price must be a decimal number"),
    ({"price": "5", "free": True}, "either free or has a price"),
    ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at must be in the future"),
    ({"expires_at": "demain"}, "expires_at must be an ISO 8601 date"),
    ({"expires_in_days": "365"}, "expires_in_days must be a whole number from 1 to 90"),
    ({"title": "x" * 201}, "title is limited to 200 characters"),
    ({"title": "  "}, "title is required"),
    ({"visibility": "private"}, "always public"),
    ({"purpose": "maybe"}, "purpose must be offer or request"),
    ({"commune": "99999"}, "unknown commune"),
    ({"title": ["a", "b"]}, "title must be text"),
])
async def test_invalid_ads_are_refused_with_clear_messages_and_nothing_is_posted(market, fields, message):
    instance, _alice, _bob, token, _ = market
    body = {"title": "Vélo", "category": "vente", **fields}
    status, doc, _ = await raw(instance, "POST", "/api/v1/ads", token, json=body)
    assert status == 422 and message in doc["error"], doc
    assert await count(instance, Status) == 0 and await count(instance, Ad) == 0


async def test_html_in_the_title_is_kept_as_text_and_escaped_in_the_note(market):
    instance, _alice, _bob, token, _ = market
    ad = await new_ad(instance, token, title="<b>Vélo</b> <script>x</script>")
    assert ad["title"] == "<b>Vélo</b> <script>x</script>"
    note = await fetch_document(ad["uri"])
    assert note["content"].startswith("<p><strong>&lt;b&gt;Vélo&lt;/b&gt; &lt;script&gt;")
    assert "<script>" not in note["content"]


async def test_posting_ads_needs_a_token_with_write_statuses_and_a_resident_association_or_shop(market):
    instance, _alice, _bob, _token, _ = market
    status, _doc, _ = await raw(instance, "POST", "/api/v1/ads", None, json={"title": "x", "category": "don"})
    assert status == 401
    mairie = await make_account(instance, "mairie", kind="collectivity", commune_insee=MAEN_ROCH)
    status, doc, _ = await raw(instance, "POST", "/api/v1/ads", await issue_token(instance, mairie.id),
                               json={"title": "Benne", "category": "don"})
    assert status == 422 and "residents, associations and shops" in doc["error"]
    assert await count(instance, Status) == 0


async def test_edit_close_and_delete_federate_and_show_in_the_ad(market):
    instance, alice, _bob, token, bob_token = market
    ad = await new_ad(instance, token)
    path = f"/api/v1/ads/{ad['id']}"
    status, doc, _ = await raw(instance, "PUT", path, bob_token, json={"title": "Volé"})
    assert status == 404
    status, doc, _ = await raw(instance, "PUT", path, token, json={"title": "Vélo enfant rouge", "price": "10"})
    assert status == 200, doc
    assert (doc["title"], doc["price"], doc["description"], doc["category"]) == \
        ("Vélo enfant rouge", "10", "Bon état, roues de 16 pouces.", "vente")
    status, doc, _ = await raw(instance, "PUT", path, token, json={"category": "don", "free": True})
    assert (doc["category"], doc["free"], doc["price"]) == ("don", True, None)
    note = await fetch_document(ad["uri"])
    assert {t["name"] for t in note["tag"]} == {"#petiteannonce", "#don"} and "reciprocal" not in note

    status, doc, _ = await raw(instance, "POST", f"{path}/close", token, json={"reason": "vendu"})
    assert status == 422 and "reason must be one of donne, trouve, pourvu" in doc["error"]
    status, doc, _ = await raw(instance, "POST", f"{path}/close", token, json={"reason": "donne"})
    assert status == 200 and (doc["state"], doc["closed_reason"]) == ("closed", "donne")
    note = await fetch_document(ad["uri"])
    assert note["content"].startswith("<p><strong>[Donné] Vélo enfant rouge</strong>")
    assert await listed(instance) == [] and await listed(instance, status="closed") == ["Vélo enfant rouge"]
    updates = await count(instance, OutgoingActivity, OutgoingActivity.activity_type == "Update",
                          OutgoingActivity.object_uri == ad["uri"])
    assert updates == 3

    status, doc, _ = await raw(instance, "DELETE", path, token)
    assert status == 200 and doc["title"] == "Vélo enfant rouge"
    assert (await raw(instance, "GET", path))[0] == 404
    assert await count(instance, Ad) == 0
    assert await count(instance, OutgoingActivity, OutgoingActivity.activity_type == "Delete",
                       OutgoingActivity.actor_id == alice.id) == 1


async def test_expired_ads_leave_the_list_at_once_and_the_job_marks_them_once(market):
    instance, _alice, _bob, token, _ = market
    ad = await new_ad(instance, token, expires_in_days="3")
    assert await listed(instance) == ["Vélo enfant"]
    async with instance.runtime.transaction() as session:
        await session.execute(update(Ad).where(Ad.id == int(ad["id"])).values(
            expires_at=utcnow() - timedelta(minutes=1)))
    assert await listed(instance) == []
    assert await listed(instance, status="expired") == ["Vélo enfant"]
    assert await expire_due_ads(instance.runtime) == 1
    assert await expire_due_ads(instance.runtime) == 0
    row = await first(instance, select(Ad).where(Ad.id == int(ad["id"])))
    assert row.expired_at is not None and row.state == "open"
    note = await fetch_document(ad["uri"])
    assert note["content"].startswith("<p><strong>[Expirée] Vélo enfant</strong>")
    assert await count(instance, OutgoingActivity, OutgoingActivity.activity_type == "Update",
                       OutgoingActivity.object_uri == ad["uri"]) == 1
    _, doc, _ = await raw(instance, "GET", f"/api/v1/ads/{ad['id']}")
    assert doc["expired"] is True


async def test_a_reply_to_an_ad_is_a_direct_message_to_its_author_only(market, mastodon_client):
    instance, alice, bob, token, _ = market
    carol = await make_account(instance, "carol", commune_insee=MAEN_ROCH)
    ad = await new_ad(instance, token)
    client = await mastodon_client(instance, bob.id)
    reply = await client.status_post("Toujours disponible ? cc @carol", in_reply_to_id=ad["status_id"],
                                     visibility="public")
    assert reply["visibility"] == "direct"
    assert [m["username"] for m in reply["mentions"]] == ["alice"]
    stored = await first(instance, select(Status).where(Status.id == reply["id"]))
    assert json.loads(stored.to_json) == [alice.uri] and json.loads(stored.cc_json) == []
    assert stored.location_json is None and carol.uri not in stored.to_json
    # The author's own answer under the ad stays as the app asked.
    own = await (await mastodon_client(instance, alice.id)).status_post(
        "Oui !", in_reply_to_id=ad["status_id"], visibility="public")
    assert own["visibility"] == "public"
    assert await count(instance, Ad) == 1
