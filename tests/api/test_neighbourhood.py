"""The resident's neighbourhood ("voisinage"): settings, timeline and the built-in "Voisinage" list,
driven by the real Mastodon.py and raw HTTP against a live instance serving Couesnon Marches de
Bretagne, with a neighbour instance's communes (Fougères Agglomération) known and located posts
delivered from another live instance (commune-b.test) with real signatures."""

from __future__ import annotations

import json
import ssl
from typing import Any

import aiohttp
import pytest
from mastodon import MastodonAPIError

from actors.neighbourhood import DEFAULT_RADIUS_KM
from actors.territory import EXAMPLES_DIR, import_communes, read_communes_file
from fediverse.models import Actor, Neighbour, NeighbourCommune
from tests.api import test_timelines as shared
from tests.api.test_timelines import raw
from tests.conftest import issue_token
from tests.federation_steps import make_account, outbox
from tests.live import LiveInstance
from tests.test_inbox_hostile_input import PUBLIC, Remote, create, note, processed, signed
from tests.test_locations import with_territory

close_idle_client_connections = shared.close_idle_client_connections
FOUGERES = EXAMPLES_DIR / "fougeres-agglomeration.csv"
# Maen Roch (home) and, around it: Saint-Germain-en-Coglès 7.6 km, Le Châtellier 8.2 km, Fougères
# (neighbour instance) 13.6 km, Bazouges-la-Pérouse 15.5 km.
MAEN_ROCH, SAINT_GERMAIN, LE_CHATELLIER, FOUGERES_TOWN, BAZOUGES = "35257", "35273", "35071", "35115", "35019"


async def add_neighbour_communes(instance: LiveInstance, domain: str = "fougeres.test") -> None:
    """A neighbour instance's communes as the neighbours feature stores them (read from its territory)."""
    async with instance.runtime.transaction() as session:
        actor = Actor(uri=f"https://{domain}/actor", username=domain, username_lower=domain, domain=domain,
                      domain_key=domain, actor_type="Application", kind="instance", inbox_url=f"https://{domain}/inbox")
        session.add(actor)
        await session.flush()
        neighbour = Neighbour(domain=domain, actor_id=actor.id, outgoing_state="accepted", incoming_state="accepted",
                              territory_name="Fougères Agglomération")
        session.add(neighbour)
        await session.flush()
        for row in read_communes_file(FOUGERES):
            session.add(NeighbourCommune(neighbour_id=neighbour.id, insee=row.insee, name=row.name,
                                         postal_codes=" ".join(row.postal_codes), latitude=row.latitude,
                                         longitude=row.longitude))


@pytest.fixture
async def territory(make_instance):
    instance = await with_territory(await make_instance("commune-a.test"))
    await add_neighbour_communes(instance)
    alice = await make_account(instance, "alice", commune_insee=MAEN_ROCH)
    bob = await make_account(instance, "bob", commune_insee=BAZOUGES)
    token = await issue_token(instance, alice.id)
    return instance, alice, bob, token


async def settings(instance: LiveInstance, token: str, **kwargs: Any) -> tuple[int, Any]:
    status, body, _ = await raw(instance, "PUT", "/api/v1/neighbourhood", token, **kwargs)
    return status, body


async def located_post(instance: LiveInstance, token: str, text: str, commune: str | None = None,
                       **fields: Any) -> tuple[int, Any]:
    data = {"status": text, **({"commune": commune} if commune else {}), **fields}
    status, body, _ = await raw(instance, "POST", "/api/v1/statuses", token, data=data)
    return status, body


def contents(statuses: list[Any]) -> list[str]:
    return [s["content"] for s in statuses]


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------


async def test_default_neighbourhood_is_a_radius_around_the_home_commune(territory):
    instance, _alice, _bob, token = territory
    status, body, _ = await raw(instance, "GET", "/api/v1/neighbourhood", token)
    assert status == 200
    assert body["home_commune"] == {"insee": MAEN_ROCH, "name": "Maen Roch", "postal_codes": ["35460"],
                                    "latitude": 48.4114, "longitude": -1.3655}
    assert body["radius_km"] == DEFAULT_RADIUS_KM and body["communes"] is None
    included = body["included"]
    assert included[0] == {"insee": MAEN_ROCH, "name": "Maen Roch", "distance_km": 0.0, "domain": None}
    distances = [item["distance_km"] for item in included]
    assert distances == sorted(distances) and distances[-1] <= DEFAULT_RADIUS_KM
    codes = {item["insee"] for item in included}
    assert {SAINT_GERMAIN, LE_CHATELLIER} <= codes and not {FOUGERES_TOWN, BAZOUGES} & codes


async def test_radius_and_list_modes_switch_and_include_neighbour_communes(territory):
    instance, _alice, _bob, token = territory
    status, body = await settings(instance, token, data={"radius_km": "15"})
    assert status == 200 and body["radius_km"] == 15.0 and body["communes"] is None
    fougeres = next(item for item in body["included"] if item["insee"] == FOUGERES_TOWN)
    assert fougeres["domain"] == "fougeres.test" and 13 < fougeres["distance_km"] < 14
    assert BAZOUGES not in {item["insee"] for item in body["included"]}

    status, body = await settings(instance, token, json={"communes": [BAZOUGES, FOUGERES_TOWN]})
    assert status == 200 and body["radius_km"] is None and body["communes"] == [BAZOUGES, FOUGERES_TOWN]
    assert [item["insee"] for item in body["included"]] == [MAEN_ROCH, FOUGERES_TOWN, BAZOUGES]

    status, body = await settings(instance, token, data={"radius_km": "5", "home_commune": SAINT_GERMAIN})
    assert status == 200 and body["communes"] is None and body["radius_km"] == 5.0
    assert body["home_commune"]["name"] == "Saint-Germain-en-Coglès"
    _, again, _ = await raw(instance, "GET", "/api/v1/neighbourhood", token)
    assert again == body


@pytest.mark.parametrize(("what", "kwargs", "message"), [
    ("unknown home", {"data": {"home_commune": "99999"}}, "unknown commune"),
    ("a neighbour's commune as home", {"data": {"home_commune": FOUGERES_TOWN}}, "territory's communes"),
    ("a home that is not text", {"json": {"home_commune": ["35257"]}}, "INSEE"),
    ("zero radius", {"data": {"radius_km": "0"}}, "radius_km"),
    ("radius too large", {"data": {"radius_km": "100.5"}}, "at most 100"),
    ("radius not a number", {"data": {"radius_km": "dix"}}, "must be a number"),
    ("radius NaN", {"data": {"radius_km": "nan"}}, "must be a number"),
    ("radius as a hash", {"json": {"radius_km": {"a": 1}}}, "must be a number"),
    ("unknown listed commune", {"data": {"communes[]": [BAZOUGES, "75056"]}}, "'75056'"),
    ("both modes at once", {"data": {"radius_km": "5", "communes[]": [BAZOUGES]}}, "not both"),
])
async def test_bad_settings_are_refused_with_422_and_change_nothing(territory, what, kwargs, message):
    instance, _alice, _bob, token = territory
    _, before, _ = await raw(instance, "GET", "/api/v1/neighbourhood", token)
    status, body = await settings(instance, token, **kwargs)
    assert status == 422, body
    assert message in body["error"], body
    _, after, _ = await raw(instance, "GET", "/api/v1/neighbourhood", token)
    assert after == before


async def test_settings_need_the_accounts_scopes(territory):
    instance, alice, _bob, _token = territory
    reader = await issue_token(instance, alice.id, "read:statuses")
    status, body, _ = await raw(instance, "GET", "/api/v1/neighbourhood", reader)
    assert status == 403 and body["error"]
    status, _ = await settings(instance, reader, data={"radius_km": "5"})
    assert status == 403
    status, _, _ = await raw(instance, "GET", "/api/v1/neighbourhood")
    assert status == 401


# ---------------------------------------------------------------------------------------------
# Timeline
# ---------------------------------------------------------------------------------------------


async def test_timeline_shows_public_posts_located_in_the_neighbourhood_only(territory, mastodon_client):
    instance, alice, bob, token = territory
    bob_token = await issue_token(instance, bob.id)
    carol = await make_account(instance, "carol")
    await located_post(instance, bob_token, "À Maen Roch", MAEN_ROCH)
    await located_post(instance, bob_token, "À Saint-Germain", SAINT_GERMAIN)
    await located_post(instance, bob_token, "Chez bob à Bazouges")
    await located_post(instance, bob_token, "Non listé à Maen Roch", MAEN_ROCH, visibility="unlisted")
    await located_post(instance, bob_token, "Privé à Maen Roch", MAEN_ROCH, visibility="private")
    carol_post = await outbox(instance).publish(carol.id, "<p>carol sans commune</p>")
    _, reply = await located_post(instance, bob_token, "Réponse à carol", MAEN_ROCH, in_reply_to_id=carol_post.id)
    assert reply["in_reply_to_id"] == str(carol_post.id)
    _, mine = await located_post(instance, token, "Alice chez elle")
    await outbox(instance).boost(bob.id, int(mine["id"]))

    client = await mastodon_client(instance, alice.id)
    status, body, _ = await raw(instance, "GET", "/api/v1/timelines/neighbourhood", token)
    assert status == 200
    assert contents(body) == ["<p>Alice chez elle</p>", "<p>À Saint-Germain</p>", "<p>À Maen Roch</p>"]
    assert contents(await client.timeline_list("neighbourhood")) == contents(body)

    await settings(instance, token, data={"radius_km": "20"})
    _, wider, _ = await raw(instance, "GET", "/api/v1/timelines/neighbourhood", token)
    assert "<p>Chez bob à Bazouges</p>" in contents(wider)
    await settings(instance, token, data={"communes[]": [BAZOUGES]})
    _, listed, _ = await raw(instance, "GET", "/api/v1/timelines/neighbourhood", token)
    assert contents(listed) == ["<p>Alice chez elle</p>", "<p>Chez bob à Bazouges</p>", "<p>À Maen Roch</p>"]


async def test_timeline_hides_muted_and_blocked_accounts_and_filtered_words(territory, mastodon_client):
    instance, alice, bob, token = territory
    bob_token = await issue_token(instance, bob.id)
    dave = await make_account(instance, "dave", commune_insee=MAEN_ROCH)
    dave_token = await issue_token(instance, dave.id)
    await located_post(instance, bob_token, "bob à Maen Roch", MAEN_ROCH)
    await located_post(instance, dave_token, "dave vend un vélo")
    await located_post(instance, dave_token, "dave parle de brocante")
    client = await mastodon_client(instance, alice.id)
    assert len(await client.timeline_list("neighbourhood")) == 3
    await client.create_filter_v2("Brocantes", ["public"], "hide",
                                  keywords_attributes=[{"keyword": "brocante", "whole_word": True}])
    assert contents(await client.timeline_list("neighbourhood")) == ["<p>dave vend un vélo</p>",
                                                                       "<p>bob à Maen Roch</p>"]
    await client.account_mute(bob.id)
    await client.account_block(dave.id)
    assert await client.timeline_list("neighbourhood") == []


async def test_timeline_pages_like_mastodon(territory, mastodon_client):
    instance, alice, bob, token = territory
    bob_token = await issue_token(instance, bob.id)
    for n in range(5):
        await located_post(instance, bob_token, f"annonce {n}", LE_CHATELLIER)
    status, first_page, headers = await raw(instance, "GET", "/api/v1/timelines/neighbourhood?limit=2", token)
    assert status == 200 and contents(first_page) == ["<p>annonce 4</p>", "<p>annonce 3</p>"]
    assert 'rel="next"' in headers["Link"] and "/api/v1/timelines/neighbourhood?" in headers["Link"]
    client = await mastodon_client(instance, alice.id)
    page = await client.timeline_list("neighbourhood", limit=2)
    seen = contents(page)
    while (page := await client.fetch_next(page)):
        seen += contents(page)
    assert seen == [f"<p>annonce {n}</p>" for n in (4, 3, 2, 1, 0)]
    newest = first_page[0]["id"]
    _, after, _ = await raw(instance, "GET", f"/api/v1/timelines/neighbourhood?min_id={first_page[1]['id']}", token)
    assert [s["id"] for s in after] == [newest]
    _, older, _ = await raw(instance, "GET", f"/api/v1/timelines/neighbourhood?max_id={newest}&limit=1", token)
    assert contents(older) == ["<p>annonce 3</p>"]


async def test_remote_posts_are_placed_by_commune_or_by_coordinates(make_instance, mastodon_client):
    a = await with_territory(await make_instance("commune-a.test"))
    await add_neighbour_communes(a)
    b = await make_instance("commune-b.test")
    alice = await make_account(a, "alice", commune_insee=MAEN_ROCH)
    token = await issue_token(a, alice.id)
    sender = Remote.of(await make_account(b, "mobilizon"))

    def event(text: str, location: dict[str, Any]) -> dict[str, Any]:
        return note(sender, [PUBLIC], cc=[alice.uri], content=f"<p>{text}</p>", location=location)

    def point(name: str, latitude: float, longitude: float, insee: str | None = None) -> dict[str, Any]:
        place: dict[str, Any] = {"type": "Place", "name": name, "latitude": latitude, "longitude": longitude,
                                 "address": {"type": "PostalAddress", "addressLocality": name}}
        if insee:
            place["identifier"] = {"type": "PropertyValue", "propertyID": "INSEE", "value": insee}
        return place

    objects = [
        event("Concert à la médiathèque", point("Médiathèque", 48.4101, -1.3637)),  # 0.2 km, no INSEE
        event("Marché de Rennes", point("Rennes", 48.1113, -1.6800)),  # 40 km, no INSEE
        event("Fête à Fougères", point("Fougères", 48.3515, -1.2044, FOUGERES_TOWN)),  # 13.6 km, known
        event("Hors de France", point("Commune lointaine", 48.41, -1.36, "13055")),  # unknown INSEE, near point
    ]
    connector = aiohttp.TCPConnector(ssl=ssl.create_default_context())
    async with aiohttp.ClientSession(connector=connector) as http:
        for obj in objects:
            activity = create(sender, obj, [PUBLIC])
            body = json.dumps(activity).encode()
            async with http.post(f"{a.base_url}/inbox", data=body, headers=signed(sender, body,
                                                                                  url=f"{a.base_url}/inbox")) as resp:
                assert resp.status == 202
            assert (await processed(a, activity["id"])).state == "done"
    _, shown, _ = await raw(a, "GET", "/api/v1/timelines/neighbourhood", token)
    assert contents(shown) == ["<p>Hors de France</p>", "<p>Concert à la médiathèque</p>"]
    await settings(a, token, data={"radius_km": "15"})
    _, wider, _ = await raw(a, "GET", "/api/v1/timelines/neighbourhood", token)
    assert contents(wider) == ["<p>Hors de France</p>", "<p>Fête à Fougères</p>", "<p>Concert à la médiathèque</p>"]
    assert all(s["account"]["acct"] == "mobilizon@commune-b.test" for s in wider)


# ---------------------------------------------------------------------------------------------
# Posting with a commune, and the built-in list
# ---------------------------------------------------------------------------------------------


async def test_posting_and_editing_with_a_commune_and_bad_communes_get_422(territory, mastodon_client):
    instance, alice, _bob, token = territory
    for bad in ("99999", "Maen Roch", FOUGERES_TOWN):
        status, body = await located_post(instance, token, "ailleurs", bad)
        assert status == 422 and "commune" in body["error"], body
    status, body = await located_post(instance, token, "Concert", BAZOUGES)
    assert status == 200
    _, shown, _ = await raw(instance, "GET", "/api/v1/timelines/neighbourhood", token)
    assert shown == []
    status, edited, _ = await raw(instance, "PUT", f"/api/v1/statuses/{body['id']}", token,
                                  data={"status": "Concert déplacé", "commune": SAINT_GERMAIN})
    assert status == 200 and edited["content"] == "<p>Concert déplacé</p>"
    _, shown, _ = await raw(instance, "GET", "/api/v1/timelines/neighbourhood", token)
    assert [s["id"] for s in shown] == [body["id"]]
    status, refused, _ = await raw(instance, "PUT", f"/api/v1/statuses/{body['id']}", token,
                                   data={"status": "encore", "commune": "99999"})
    assert status == 422 and "unknown commune" in refused["error"]
    client = await mastodon_client(instance, alice.id)
    assert (await client.status(body["id"]))["content"] == "<p>Concert déplacé</p>"


async def test_voisinage_is_a_built_in_list_that_cannot_be_changed(territory, mastodon_client):
    instance, alice, bob, token = territory
    client = await mastodon_client(instance, alice.id)
    await client.account_follow(bob.id)
    mine = await client.list_create("Amis")
    lists = await client.lists()
    assert lists[0] == {"id": "neighbourhood", "title": "Voisinage", "replies_policy": "none", "exclusive": False}
    assert [entry["title"] for entry in lists] == ["Voisinage", "Amis"]
    assert (await client.list("neighbourhood"))["title"] == "Voisinage"
    assert await client.list_accounts("neighbourhood") == []
    for attempt in (client.list_update("neighbourhood", "Autre"), client.list_delete("neighbourhood"),
                    client.list_accounts_add("neighbourhood", [str(bob.id)]),
                    client.list_accounts_delete("neighbourhood", [str(bob.id)])):
        with pytest.raises(MastodonAPIError) as error:
            await attempt
        assert error.value.args[1] == 422 and "Voisinage" in error.value.args[-1]
    assert [entry["title"] for entry in await client.lists()] == ["Voisinage", "Amis"]
    assert [entry["id"] for entry in await client.account_lists(str(bob.id))] == []
    await client.list_accounts_add(mine["id"], [str(bob.id)])
    for path in ("/api/v1/lists/voisins", "/api/v1/lists/voisins/accounts", "/api/v1/timelines/list/voisins"):
        status, body, _ = await raw(instance, "GET", path, token)
        assert status == 404 and body["error"], (path, body)


async def test_neighbour_communes_are_known_only_once_imported(make_instance):
    instance = await with_territory(await make_instance("commune-a.test"))
    alice = await make_account(instance, "alice", commune_insee=MAEN_ROCH)
    token = await issue_token(instance, alice.id)
    status, body = await settings(instance, token, data={"communes[]": [FOUGERES_TOWN]})
    assert status == 422 and "35115" in body["error"]
    async with instance.runtime.transaction() as session:
        await import_communes(session, read_communes_file(FOUGERES))  # now one of ours
    status, body = await settings(instance, token, data={"communes[]": [FOUGERES_TOWN]})
    assert status == 200 and body["included"][1] == {
        "insee": FOUGERES_TOWN, "name": "Fougères", "distance_km": body["included"][1]["distance_km"], "domain": None}
