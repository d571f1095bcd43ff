"""The agenda API (`/api/v1/events`) on a live instance serving Couesnon Marches de Bretagne: clear 422s
for bad events, the event entity, filters, cursor pagination by start time, and who may change what.
Raw HTTP (aiohttp) for exact shapes; the real Mastodon.py for the status behind an event."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from yarl import URL

from fediverse.db import utcnow
from tests.api.test_timelines import raw
from tests.conftest import issue_token
from tests.federation_steps import make_account
from tests.neighbour_steps import COUESNON, set_territory

MAEN_ROCH, SAINT_GERMAIN = "35257", "35273"  # 7.6 km apart


def when(days: int, hour: int = 20) -> str:
    return f"{(utcnow() + timedelta(days=days)).date().isoformat()}T{hour:02d}:00"


@pytest.fixture
async def agenda(make_instance):
    instance = await make_instance("commune-a.test")
    await set_territory(instance, COUESNON)
    alice = await make_account(instance, "alice", commune_insee=MAEN_ROCH)
    bob = await make_account(instance, "bob", commune_insee=SAINT_GERMAIN)
    return instance, alice, bob, await issue_token(instance, alice.id), await issue_token(instance, bob.id)


async def post(instance, token: str, **fields: Any) -> tuple[int, Any]:
    body = {"title": "Fest-noz", "start": when(10), **fields}
    status, doc, _ = await raw(instance, "POST", "/api/v1/events", token, json=body)
    return status, doc


@pytest.mark.parametrize(("fields", "message"), [
    ({"start": None}, "start is required"),
    ({"start": "2026-13-45T20:00"}, "start must be an ISO 8601 date and time"),
    ({"start": "2026-06-14"}, "start must include a time"),
    ({"end": "2001-01-01T10:00"}, "end must not be before start"),
    ({"start": "1999-12-31T20:00"}, "start is not a plausible date"),
    ({"start": "2999-06-14T20:00"}, "start is not a plausible date"),
    ({"timezone": "Europe/Atlantis"}, "unknown time zone"),
    ({"place": {"latitude": 95, "longitude": 2}}, "place latitude must be between -90 and 90"),
    ({"place": {"latitude": 48.4, "longitude": "est"}}, "place longitude must be a number"),
    ({"place": {"latitude": 48.4}}, "place latitude and longitude go together"),
    ({"place": "Salle des fêtes"}, "place must be an object"),
    ({"title": ["Fest", "noz"]}, "title must be text"),
    ({"title": "<b></b>"}, "title is required"),
    ({"capacity": 0}, "capacity must be a positive whole number"),
    ({"capacity": "beaucoup"}, "capacity must be a positive whole number"),
    ({"join_mode": "external"}, "join_mode external needs an external_url"),
    ({"join_mode": "external", "external_url": "javascript:alert(1)"}, "external_url must be an http(s) URL"),
    ({"join_mode": "lottery"}, "join_mode must be one of"),
    ({"status": "MAYBE"}, "status must be one of"),
    ({"commune": "Maen Roch"}, "commune must be an INSEE code"),
])
async def test_bad_events_get_a_clear_422(agenda, fields, message):
    instance, _alice, _bob, token, _ = agenda
    body = {k: v for k, v in fields.items() if v is not None}
    status, doc, _ = await raw(instance, "POST", "/api/v1/events", token,
                               json={"title": "Fest-noz", **({"start": when(10)} if "start" not in fields else {}),
                                     **body})
    assert status == 422, doc
    assert message in doc["error"]


async def test_an_event_is_created_from_a_form_with_html_stripped_from_its_title(agenda):
    instance, alice, _bob, token, _ = agenda
    form = {"title": "<script>alert(1)</script>Fest-<b>noz</b>", "description": "Venez danser !\nhttps://a.example",
            "start": when(12), "end": when(12, 23), "timezone": "Europe/Paris", "category": "party",
            "capacity": "80", "place[name]": "Salle des fêtes", "place[street]": "2 rue de la Mairie",
            "commune": MAEN_ROCH}
    status, doc, _ = await raw(instance, "POST", "/api/v1/events", token, data=form)
    assert status == 200, doc
    assert doc["title"] == "alert(1)Fest-noz" or doc["title"] == "Fest-noz"
    assert "<script>" not in doc["title"] and doc["category"] == "PARTY"
    assert doc["description"].startswith("<p>Venez danser !<br><a href=\"https://a.example\"")
    assert doc["place"] == {"name": "Salle des fêtes", "street": "2 rue de la Mairie", "postal_code": "35460",
                            "locality": "Maen Roch", "commune": MAEN_ROCH, "latitude": 48.4114, "longitude": -1.3655}
    assert doc["commune"] == {"insee": MAEN_ROCH, "name": "Maen Roch"}
    assert doc["start"].endswith(("T20:00:00+02:00", "T20:00:00+01:00")) and doc["timezone"] == "Europe/Paris"
    assert (doc["capacity"], doc["remaining"], doc["participant_count"], doc["join_mode"]) == (80, 80, 0, "free")
    assert doc["status"] == "CONFIRMED" and doc["cancelled"] is False
    assert doc["organizer"]["id"] == str(alice.id) and doc["attributed_to"]["id"] == str(alice.id)
    assert doc["summary"].endswith("à 23 h – Salle des fêtes, Maen Roch")
    status, shown, _ = await raw(instance, "GET", f"/api/v1/events/{doc['id']}")
    assert status == 200 and shown == doc
    status, by_status, _ = await raw(instance, "GET", f"/api/v1/statuses/{doc['status_id']}/event")
    assert status == 200 and by_status["id"] == doc["id"]
    assert (await raw(instance, "GET", "/api/v1/events/123456789"))[0] == 404
    assert (await raw(instance, "GET", "/api/v1/events/abc"))[0] == 404


async def test_the_agenda_filters_and_pages_by_start_time(agenda):
    instance, alice, bob, alice_token, bob_token = agenda
    _, fest = await post(instance, alice_token, title="Fest-noz", start=when(10), category="PARTY",
                         commune=MAEN_ROCH)
    _, match = await post(instance, bob_token, title="Match de foot", start=when(5), category="SPORTS",
                          commune=SAINT_GERMAIN)
    _, past = await post(instance, alice_token, title="Galette des rois", start=when(-40), end=when(-40, 23),
                         commune=MAEN_ROCH)

    async def titles(**params: Any) -> list[str]:
        status, doc, _ = await raw(instance, "GET", "/api/v1/events", bob_token, params=params)
        assert status == 200, doc
        return [e["title"] for e in doc]

    assert await titles() == ["Match de foot", "Fest-noz"]
    assert await titles(past="true") == ["Galette des rois"]
    assert await titles(category="party") == ["Fest-noz"]
    assert await titles(commune=SAINT_GERMAIN) == ["Match de foot"]
    assert await titles(commune=MAEN_ROCH, radius_km="5") == ["Fest-noz"]
    assert await titles(commune=MAEN_ROCH, radius_km="8") == ["Match de foot", "Fest-noz"]
    assert await titles(radius_km="5") == ["Match de foot"]  # around bob's home, Saint-Germain
    assert await titles(organizer="alice") == ["Fest-noz"]
    assert await titles(organizer=str(bob.id)) == ["Match de foot"]
    assert await titles(q="FEST") == ["Fest-noz"]
    start = (utcnow() + timedelta(days=8)).date().isoformat()
    assert await titles(start=start) == ["Fest-noz"]
    assert await titles(start=(utcnow() - timedelta(days=41)).date().isoformat(),
                        end=(utcnow() + timedelta(days=6)).date().isoformat()) == ["Galette des rois", "Match de foot"]

    status, page, headers = await raw(instance, "GET", "/api/v1/events", bob_token, params={"limit": "1"})
    assert status == 200 and [e["title"] for e in page] == ["Match de foot"]
    next_url = URL(headers["Link"].split(";")[0].strip("<>"))
    assert next_url.query["limit"] == "1" and next_url.query["cursor"].endswith(f"_{match['id']}")
    status, page, _ = await raw(instance, "GET", f"{next_url.path}?{next_url.query_string}", bob_token)
    assert [e["title"] for e in page] == ["Fest-noz"]
    assert past["id"] and fest["id"]
    del alice


@pytest.mark.parametrize(("params", "message"), [
    ({"category": "PICNIC"}, "category must be one of"),
    ({"commune": "xx"}, "commune must be an INSEE code"),
    ({"radius_km": "-3"}, "radius_km must be more than 0"),
    ({"radius_km": "5", "commune": "75056"}, "unknown commune"),
    ({"organizer": "nobody@nowhere.example"}, "unknown account"),
    ({"start": "demain"}, "start must be an ISO 8601 date"),
    ({"start": "2026-06-14", "end": "2026-06-01"}, "end must not be before start"),
    ({"cursor": "page2"}, "cursor must be what a Link header gave"),
])
async def test_bad_agenda_filters_get_a_clear_422(agenda, params, message):
    instance, _alice, _bob, token, _ = agenda
    status, doc, _ = await raw(instance, "GET", "/api/v1/events", token, params=params)
    assert status == 422, doc
    assert message in doc["error"]


async def test_radius_without_a_home_commune_needs_a_commune(agenda):
    instance, *_ = agenda
    status, doc, _ = await raw(instance, "GET", "/api/v1/events", params={"radius_km": "5"})
    assert status == 422 and "radius_km needs a commune" in doc["error"]


async def test_only_the_organiser_changes_cancels_or_deletes_an_event(agenda, mastodon_client):
    instance, alice, bob, alice_token, bob_token = agenda
    _, event = await post(instance, alice_token, title="Troc de plantes", commune=MAEN_ROCH,
                          place={"name": "Jardin partagé"})
    path = f"/api/v1/events/{event['id']}"
    for method, suffix in (("PUT", ""), ("POST", "/cancel"), ("DELETE", "")):
        status, doc, _ = await raw(instance, method, path + suffix, bob_token, json={"title": "Pris !"})
        assert status == 422 and "only the organiser" in doc["error"], (method, doc)
    status, changed, _ = await raw(instance, "PUT", path, alice_token, json={"title": "Troc de graines",
                                                                             "capacity": 30})
    assert status == 200, changed
    assert (changed["title"], changed["capacity"], changed["place"]["name"]) == ("Troc de graines", 30,
                                                                                 "Jardin partagé")
    status, bad, _ = await raw(instance, "PUT", path, alice_token, json={"end": "2001-01-01T00:00"})
    assert status == 422 and "end must not be before start" in bad["error"]
    status, cancelled, _ = await raw(instance, "POST", path + "/cancel", alice_token)
    assert status == 200 and cancelled["status"] == "CANCELLED"
    # A Mastodon app sees the event as a status whose text says when, where, and that it is cancelled.
    client = await mastodon_client(instance, bob.id)
    seen = await client.status(event["status_id"])
    assert cancelled["summary"] in seen["content"] and "ANNULÉ" in seen["content"]
    assert seen["spoiler_text"] == "" and "Troc de graines" in seen["content"]
    status, _doc, _ = await raw(instance, "DELETE", path, alice_token)
    assert status == 200
    assert (await raw(instance, "GET", path))[0] == 404
    assert (await raw(instance, "GET", f"/api/v1/statuses/{event['status_id']}"))[0] == 404
    del alice
