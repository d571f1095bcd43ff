"""Search with the real Mastodon.py client: local prefix search, hashtags, full text, and
`resolve=true` fetching accounts and posts from another live instance."""

from __future__ import annotations

import ssl

import aiohttp
import pytest
from sqlalchemy import select

from fediverse.models import Actor, Status
from tests.federation_steps import count, first, html, make_account, outbox


async def _get(instance, path, params, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(
            f"{instance.base_url}{path}", params=params, headers=headers,
            ssl=ssl.create_default_context()) as response:
        return response.status, await response.json(content_type=None)


@pytest.fixture
async def pair(make_instance):
    a = await make_instance("commune-a.test")
    b = await make_instance("commune-b.test")
    alice = await make_account(a, "alice")
    bob = await make_account(b, "bob", display_name="Bob Martin")
    return a, b, alice, bob


async def test_resolve_finds_a_remote_account_by_handle(pair, mastodon_client):
    a, b, alice, bob = pair
    client = await mastodon_client(a, alice.id)
    nothing = await client.search_v2("bob@commune-b.test", resolve=False, result_type="accounts")
    assert nothing["accounts"] == []
    found = await client.search_v2("@bob@commune-b.test", resolve=True, result_type="accounts")
    assert [acc["acct"] for acc in found["accounts"]] == ["bob@commune-b.test"]
    assert found["accounts"][0]["display_name"] == "Bob Martin"
    assert await count(a, Actor, Actor.uri == bob.uri) == 1
    # Known now: found again without resolving, and by a plain prefix.
    again = await client.search_v2("bob@commune-b.test", resolve=False)
    assert [acc["acct"] for acc in again["accounts"]] == ["bob@commune-b.test"]
    assert "bob@commune-b.test" in [acc["acct"] for acc in (await client.search_v2("bo"))["accounts"]]


async def test_resolve_fetches_a_remote_post_by_its_url(pair, mastodon_client):
    a, b, alice, bob = pair
    post = await outbox(b).publish(bob.id, html(b, "Fête du village samedi #Fete"), tags=["Fete"])
    client = await mastodon_client(a, alice.id)
    assert await count(a, Status, Status.uri == post.uri) == 0
    unresolved = await client.search_v2(post.url, resolve=False)
    assert unresolved["statuses"] == []
    found = await client.search_v2(post.url, resolve=True)
    assert [s["uri"] for s in found["statuses"]] == [post.uri]
    assert found["statuses"][0]["account"]["acct"] == "bob@commune-b.test"
    assert "Fête du village" in found["statuses"][0]["content"]
    stored = await first(a, select(Status).where(Status.uri == post.uri))
    assert stored is not None and stored.local is False
    by_id = await client.search_v2(post.uri, resolve=True, result_type="statuses")
    assert [str(s["id"]) for s in by_id["statuses"]] == [str(stored.id)]


async def test_resolve_fetches_a_remote_actor_by_its_url(pair, mastodon_client):
    a, b, alice, bob = pair
    client = await mastodon_client(a, alice.id)
    found = await client.search_v2("https://commune-b.test/users/bob", resolve=True)
    assert [acc["acct"] for acc in found["accounts"]] == ["bob@commune-b.test"]


async def test_followers_only_post_of_a_stranger_is_not_shown_by_url(pair, mastodon_client):
    a, b, alice, bob = pair
    post = await outbox(b).publish(bob.id, html(b, "Réservé aux abonnés"), visibility="private")
    client = await mastodon_client(a, alice.id)
    found = await client.search_v2(post.uri, resolve=True)
    assert found["statuses"] == []


async def test_local_accounts_match_by_username_or_display_name_prefix(make_instance, mastodon_client):
    a = await make_instance("commune-a.test")
    alice = await make_account(a, "alice")
    await make_account(a, "bernard", display_name="Bernard Dupont")
    await make_account(a, "mairie", display_name="Mairie de Saint-Jean", kind="collectivity")
    client = await mastodon_client(a, alice.id)
    assert [x["acct"] for x in (await client.search_v2("bern", result_type="accounts"))["accounts"]] == ["bernard"]
    assert [x["acct"] for x in (await client.search_v2("dupont", result_type="accounts"))["accounts"]] == ["bernard"]
    assert [x["acct"] for x in (await client.search_v2("saint", result_type="accounts"))["accounts"]] == ["mairie"]
    assert (await client.search_v2("commune-a.test", result_type="accounts"))["accounts"] == []  # instance actor
    status, body = await _get(a, "/api/v2/search", {"q": "bern", "type": "accounts"})
    assert status == 200 and [x["acct"] for x in body["accounts"]] == ["bernard"]


async def test_hashtag_search_returns_used_tags_with_history(make_instance, mastodon_client):
    a = await make_instance("commune-a.test")
    alice = await make_account(a, "alice")
    await outbox(a).publish(alice.id, html(a, "Vide-grenier #Brocante"), tags=["Brocante"])
    await outbox(a).publish(alice.id, html(a, "Encore #brocante et #brocanteurs"), tags=["brocante", "brocanteurs"])
    client = await mastodon_client(a, alice.id)
    found = await client.search_v2("#broc", result_type="hashtags")
    assert [t["name"] for t in found["hashtags"]] == ["broc", "brocante", "brocanteurs"]
    brocante = found["hashtags"][1]
    assert brocante["url"] == "https://commune-a.test/tags/brocante"
    assert sum(int(day["uses"]) for day in brocante["history"]) == 2
    assert {day["accounts"] for day in brocante["history"]} <= {"0", "1"}
    status, v1 = await _get(a, "/api/v1/search", {"q": "brocante"})
    assert status == 200 and v1["hashtags"][0] == "brocante"


async def test_full_text_status_search_needs_a_token_and_respects_visibility(make_instance, mastodon_client):
    a = await make_instance("commune-a.test")
    alice = await make_account(a, "alice")
    bernard = await make_account(a, "bernard")
    public = await outbox(a).publish(bernard.id, html(a, "Le marché de Noël ouvre samedi"))
    await outbox(a).publish(bernard.id, html(a, "Marché privé samedi"), visibility="private")
    await outbox(a).publish(bernard.id, html(a, "Rien à voir"))
    own_private = await outbox(a).publish(alice.id, html(a, "Mon marché du samedi"), visibility="private")
    client = await mastodon_client(a, alice.id)
    found = await client.search_v2("marché samedi", result_type="statuses")
    assert [str(s["id"]) for s in found["statuses"]] == [str(own_private.id), str(public.id)]
    by_author = await client.search_v2("samedi", result_type="statuses", account_id=bernard.id)
    assert [str(s["id"]) for s in by_author["statuses"]] == [str(public.id)]
    status, anonymous = await _get(a, "/api/v2/search", {"q": "samedi", "type": "statuses"})
    assert status == 200 and anonymous["statuses"] == []


async def test_anonymous_resolve_is_refused_and_bad_parameters_are_reported(make_instance):
    a = await make_instance("commune-a.test")
    status, body = await _get(a, "/api/v2/search", {"q": "bob@commune-b.test", "resolve": "true"})
    assert status == 401 and "error" in body
    status, body = await _get(a, "/api/v2/search", {"q": "x", "type": "everything"})
    assert status == 422
    status, body = await _get(a, "/api/v2/search", {})
    assert status == 400
