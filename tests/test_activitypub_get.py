"""The ActivityPub GET edge over real HTTPS: actor documents, collections, statuses, authorized fetch.

What a remote server or a browser gets when it dereferences our ids on commune-a.test.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from sqlalchemy import select

from actors.remote import ActorResolver
from fediverse.http import FetchError
from fediverse.keys import generate_rsa_keypair
from fediverse.models import Actor, Follow, Status
from fediverse.signatures import sign_request
from tests.federation_steps import first, html, make_account, outbox, remote_actor
from tests.live import LiveInstance, eventually

A = "https://commune-a.test"
AS = "application/activity+json"
LD = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


@pytest.fixture
async def http(test_ca) -> AsyncIterator[aiohttp.ClientSession]:
    # test_ca has pointed SSL_CERT_FILE at the session CA; a fresh default context reads it.
    connector = aiohttp.TCPConnector(ssl=ssl.create_default_context())
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def fetch(http: aiohttp.ClientSession, url: str, accept: str = AS, **kwargs: Any) -> tuple[int, Any, str]:
    """(status, parsed JSON or None, Content-Type) of an unsigned GET; redirects are not followed."""
    async with http.get(url, headers={"Accept": accept}, allow_redirects=False, **kwargs) as response:
        raw = await response.read()
        content_type = response.headers.get("Content-Type", "")
        doc = json.loads(raw) if "json" in content_type else None
        return response.status, doc, content_type


async def get_as(http: aiohttp.ClientSession, url: str, accept: str = AS) -> dict[str, Any]:
    status, doc, content_type = await fetch(http, url, accept)
    assert status == 200, (url, status, doc)
    assert content_type.split(";")[0].strip() == AS, content_type
    assert isinstance(doc, dict)
    return doc


async def walk(http: aiohttp.ClientSession, collection_url: str) -> tuple[dict[str, Any], list[Any], int]:
    """Read an OrderedCollection and every page through `first` and `next`: (root, items, pages)."""
    root = await get_as(http, collection_url)
    assert root["id"] == collection_url
    assert root["type"] == "OrderedCollection"
    assert isinstance(root["totalItems"], int)
    url, items, pages, seen_pages = root.get("first"), [], 0, set()
    while url:
        assert url not in seen_pages, f"page loop at {url}"
        seen_pages.add(url)
        page = await get_as(http, url if isinstance(url, str) else url["id"])
        assert page["type"] == "OrderedCollectionPage"
        assert page["partOf"] == collection_url
        items += page["orderedItems"]
        pages += 1
        url = page.get("next")
    return root, items, pages


async def seed_remote_actors(instance: LiveInstance, n: int) -> list[Actor]:
    """Remote actors known to the instance (rows only: the collections just list their ids)."""
    async with instance.runtime.sessions() as session, session.begin():
        actors = [Actor(uri=f"https://commune-c.test/users/voisin{i}", username=f"voisin{i}",
                        username_lower=f"voisin{i}", domain="commune-c.test", domain_key="commune-c.test",
                        inbox_url=f"https://commune-c.test/users/voisin{i}/inbox") for i in range(n)]
        session.add_all(actors)
    return actors


async def add_follows(instance: LiveInstance, pairs: list[tuple[int, int]], state: str = "accepted") -> None:
    async with instance.runtime.sessions() as session, session.begin():
        for follower_id, followee_id in pairs:
            session.add(Follow(uri=f"https://commune-c.test/follows/{follower_id}-{followee_id}",
                               follower_id=follower_id, followee_id=followee_id, state=state))


@pytest.fixture
async def a(make_instance) -> LiveInstance:
    return await make_instance("commune-a.test")


# ------------------------------------------------------------------------------------ actor documents


@pytest.mark.parametrize("accept", [AS, LD, "application/json"], ids=["activity+json", "ld+json", "json"])
async def test_actor_document_is_served_by_content_negotiation_with_every_field(a, http, accept):
    alice = await make_account(a, "alice", display_name="Alice Martin")
    doc = await get_as(http, alice.uri, accept)
    assert doc["@context"][0] == "https://www.w3.org/ns/activitystreams"
    assert doc["id"] == f"{A}/users/alice"
    assert doc["type"] == "Person"
    assert doc["preferredUsername"] == "alice"
    assert doc["name"] == "Alice Martin"
    assert doc["inbox"] == f"{A}/users/alice/inbox"
    assert doc["outbox"] == f"{A}/users/alice/outbox"
    assert doc["followers"] == f"{A}/users/alice/followers"
    assert doc["following"] == f"{A}/users/alice/following"
    assert doc["featured"] == f"{A}/users/alice/collections/featured"
    assert doc["endpoints"]["sharedInbox"] == f"{A}/inbox"
    assert doc["url"] == f"{A}/@alice"
    assert doc["manuallyApprovesFollowers"] is False
    assert doc["discoverable"] is True
    assert datetime.fromisoformat(doc["published"].replace("Z", "+00:00")).tzinfo is not None
    key = doc["publicKey"]
    assert key["id"] == f"{A}/users/alice#main-key"
    assert key["owner"] == doc["id"]
    public_key = load_pem_public_key(key["publicKeyPem"].encode())
    assert isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == 2048


@pytest.mark.parametrize(("kind", "actor_type"), [("resident", "Person"), ("association", "Group"),
                                                  ("collectivity", "Organization"), ("shop", "Organization")])
async def test_actor_type_follows_the_kind_of_account(a, http, kind, actor_type):
    actor = await make_account(a, f"compte-{kind}", kind=kind)
    doc = await get_as(http, actor.uri)
    assert doc["type"] == actor_type
    assert doc["inbox"] == f"{actor.uri}/inbox"


async def test_instance_actor_is_an_application_served_at_slash_actor(a, http):
    doc = await get_as(http, f"{A}/actor")
    assert doc["id"] == f"{A}/actor"
    assert doc["type"] == "Application"
    assert doc["preferredUsername"] == "commune-a.test"
    assert doc["inbox"] == f"{A}/inbox"
    assert doc["endpoints"]["sharedInbox"] == f"{A}/inbox"
    assert doc["publicKey"]["id"] == f"{A}/actor#main-key" and doc["publicKey"]["owner"] == doc["id"]
    assert load_pem_public_key(doc["publicKey"]["publicKeyPem"].encode()).key_size == 2048
    # It is not a user: /users/<its name> does not exist.
    status, body, _ = await fetch(http, f"{A}/users/commune-a.test")
    assert status == 404 and "error" in body


async def test_browser_is_redirected_to_the_profile_page_which_renders(a, http):
    await make_account(a, "alice", display_name="Alice Martin")
    status, _, _ = await fetch(http, f"{A}/users/alice", BROWSER)
    assert status == 302
    async with http.get(f"{A}/users/alice", headers={"Accept": BROWSER}, allow_redirects=False) as response:
        location = response.headers["Location"]
    assert location == f"{A}/@alice"
    async with http.get(location, headers={"Accept": BROWSER}) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
    assert "Alice Martin" in page
    assert f'href="{A}/users/alice"' in page  # the alternate link back to the actor document


@pytest.mark.parametrize("path", ["/users/personne", "/users/personne/outbox", "/users/personne/followers",
                                  "/users/personne/following", "/users/personne/collections/featured",
                                  "/users/personne/statuses/1", "/users/personne/statuses/1/activity"])
async def test_unknown_user_and_its_collections_are_404_json(a, http, path):
    for accept in (AS, LD):
        status, body, content_type = await fetch(http, f"{A}{path}", accept)
        assert status == 404, (path, status)
        assert content_type.startswith("application/json") and isinstance(body.get("error"), str)


# ------------------------------------------------------------------------------------ collections


async def test_outbox_pages_list_every_public_post_exactly_once_newest_first(a, http):
    alice = await make_account(a, "alice")
    posted = []
    for n in range(25):
        status = await outbox(a).publish(alice.id, html(a, f"Annonce numéro {n}"))
        posted.append(status.uri)
    bob = await make_account(a, "bob")
    await outbox(a).publish(alice.id, html(a, "Réservé aux abonnés"), visibility="private")
    await outbox(a).publish(alice.id, html(a, "@bob privé"), visibility="direct", mentions=[bob])
    root, items, pages = await walk(http, f"{A}/users/alice/outbox")
    assert root["totalItems"] == 25
    assert pages == 2
    assert all(item["type"] == "Create" and item["actor"] == alice.uri for item in items)
    assert [item["object"]["id"] for item in items] == list(reversed(posted))


async def test_deleted_posts_and_undone_boosts_leave_the_outbox_and_are_no_longer_served(a, http):
    alice = await make_account(a, "alice")
    bob = await make_account(a, "bob")
    kept = await outbox(a).publish(alice.id, html(a, "On garde"))
    deleted = await outbox(a).publish(alice.id, html(a, "Numéro de téléphone publié par erreur"))
    bobs = await outbox(a).publish(bob.id, html(a, "Concert ce soir"))
    boost = await outbox(a).boost(alice.id, bobs.id)
    root, items, _ = await walk(http, f"{A}/users/alice/outbox")
    assert root["totalItems"] == 3
    assert [(i["type"], i["id"]) for i in items] == [
        ("Announce", boost.activity_uri), ("Create", deleted.activity_uri), ("Create", kept.activity_uri)]
    await outbox(a).delete_status(alice.id, deleted.id)
    await outbox(a).unboost(alice.id, bobs.id)
    root, items, _ = await walk(http, f"{A}/users/alice/outbox")
    assert root["totalItems"] == 1
    assert [i["id"] for i in items] == [kept.activity_uri]
    for url in (deleted.uri, f"{deleted.uri}/activity", deleted.activity_uri, boost.activity_uri):
        code, body, _ = await fetch(http, url)
        assert code in (404, 410), (url, code, body)


async def test_followers_and_following_are_paged_collections_of_accepted_follows_only(a, http):
    alice = await make_account(a, "alice")
    neighbours = await seed_remote_actors(a, 23)
    await add_follows(a, [(n.id, alice.id) for n in neighbours[:21]])
    await add_follows(a, [(alice.id, n.id) for n in neighbours[:22]])
    await add_follows(a, [(neighbours[22].id, alice.id)], state="pending")
    root, followers, pages = await walk(http, f"{A}/users/alice/followers")
    assert root["totalItems"] == 21 and pages == 2
    assert sorted(followers) == sorted(n.uri for n in neighbours[:21])
    assert len(set(followers)) == len(followers)
    root, following, pages = await walk(http, f"{A}/users/alice/following")
    assert root["totalItems"] == 22 and pages == 2
    assert sorted(following) == sorted(n.uri for n in neighbours[:22])


async def test_empty_collections_have_one_empty_page(a, http):
    await make_account(a, "alice")
    for name in ("outbox", "followers", "following"):
        root, items, pages = await walk(http, f"{A}/users/alice/{name}")
        assert (root["totalItems"], items, pages) == (0, [], 1)


async def test_collection_page_with_a_bad_cursor_is_a_400_not_a_500(a, http):
    await make_account(a, "alice")
    for cursor in ("abc", "-1", "1e9", "%C2%B2", "%D9%A1", "99999999999999999999999999", "9" * 5000):
        for name in ("outbox", "followers", "following"):
            status, body, _ = await fetch(http, f"{A}/users/alice/{name}?page=true&max_id={cursor}")
            assert status == 400, (name, cursor[:30], status, body)
            assert "error" in body
    # The largest id a cursor can hold is still a valid (empty) page.
    page = await get_as(http, f"{A}/users/alice/outbox?page=true&max_id={2**63 - 1}")
    assert page["orderedItems"] == [] and "next" not in page


async def test_featured_collection_lists_the_pinned_status(a, http):
    alice = await make_account(a, "alice")
    pinned = await outbox(a).publish(alice.id, html(a, "Horaires de la mairie"))
    await outbox(a).publish(alice.id, html(a, "Pas épinglé"))
    await outbox(a).pin(alice.id, pinned.id)
    doc = await get_as(http, f"{A}/users/alice/collections/featured")
    assert doc["type"] == "OrderedCollection"
    assert doc["totalItems"] == 1
    [item] = doc["orderedItems"]
    assert item["id"] == pinned.uri and item["type"] == "Note" and item["attributedTo"] == alice.uri


# ------------------------------------------------------------------------------------ statuses


async def test_public_status_object_and_its_activity_are_served(a, http):
    alice = await make_account(a, "alice")
    status = await outbox(a).publish(alice.id, html(a, "Fête du village samedi"))
    note = await get_as(http, status.uri)
    assert note["id"] == status.uri
    assert note["type"] == "Note"
    assert note["attributedTo"] == alice.uri
    assert "Fête du village samedi" in note["content"]
    assert PUBLIC in note["to"]
    assert note["url"] == f"{A}/@alice/{status.id}"
    created = await get_as(http, f"{status.uri}/activity", LD)
    assert created["type"] == "Create"
    assert created["actor"] == alice.uri
    assert created["object"]["id"] == status.uri
    # The activity's own id dereferences too.
    assert (await get_as(http, created["id"]))["object"]["id"] == status.uri
    # A browser is sent to the status page.
    async with http.get(status.uri, headers={"Accept": BROWSER}) as response:
        assert response.status == 200 and response.url.path == f"/@alice/{status.id}"
        assert "Fête du village samedi" in await response.text()


@pytest.mark.parametrize("visibility", ["private", "direct"])
async def test_private_and_direct_statuses_are_404(a, http, visibility):
    alice = await make_account(a, "alice")
    bob = await make_account(a, "bob")
    status = await outbox(a).publish(alice.id, html(a, "@bob entre nous"), visibility=visibility, mentions=[bob])
    for url in (status.uri, f"{status.uri}/activity", status.activity_uri):
        for accept in (AS, LD, BROWSER):
            code, body, _ = await fetch(http, url, accept)
            assert code == 404, (url, accept, code)
            assert "error" in body
    async with http.get(f"{A}/@alice/{status.id}", headers={"Accept": BROWSER}) as response:
        assert response.status == 404


# ------------------------------------------------------------------------------------ authorized fetch


@pytest.fixture
async def secure_pair(make_instance):
    a = await make_instance("commune-a.test", authorized_fetch=True)
    b = await make_instance("commune-b.test")
    alice = await make_account(a, "alice", display_name="Alice Martin")
    bob = await make_account(b, "bob")
    return a, b, alice, bob


async def test_authorized_fetch_refuses_unsigned_gets_but_serves_the_instance_actor(secure_pair, http):
    a, _b, alice, _bob = secure_pair
    status = await outbox(a).publish(alice.id, html(a, "Visible seulement par les serveurs signés"))
    for url in (alice.uri, f"{alice.uri}/outbox", f"{alice.uri}/outbox?page=true", f"{alice.uri}/followers",
                f"{alice.uri}/following", f"{alice.uri}/collections/featured", status.uri,
                f"{status.uri}/activity", status.activity_uri):
        code, body, _ = await fetch(http, url)
        assert code == 401, (url, code, body)
        assert isinstance(body.get("error"), str)
    instance = await get_as(http, f"{A}/actor")
    assert instance["type"] == "Application"
    # Browsers still reach the public profile page.
    async with http.get(alice.uri, headers={"Accept": BROWSER}) as response:
        assert response.status == 200 and "Alice Martin" in await response.text()


async def test_authorized_fetch_answers_a_signed_get_without_letting_shared_caches_keep_it(secure_pair, http):
    a, b, alice, _bob = secure_pair
    assert b.runtime.instance_signer is not None
    key_id, pem = b.runtime.instance_signer.as_tuple()
    for url in (alice.uri, f"{alice.uri}/outbox", f"{alice.uri}/followers?page=true"):
        headers = sign_request("GET", url, key_id=key_id, private_key_pem=pem)
        async with http.get(url, headers=headers) as response:
            assert response.status == 200, (url, await response.text())
            # A CDN that ignores Vary: Signature would otherwise hand this to unsigned clients.
            cache_control = response.headers.get("Cache-Control", "")
            assert "public" not in cache_control and ("private" in cache_control or "no-store" in cache_control)
    async with http.get(f"{A}/actor", headers={"Accept": AS}) as response:
        assert response.status == 200 and "public" in response.headers["Cache-Control"]


async def test_authorized_fetch_refuses_a_get_signed_with_the_wrong_key(secure_pair):
    a, b, alice, _bob = secure_pair
    assert b.runtime.http is not None and b.runtime.instance_signer is not None
    forged = (b.runtime.instance_signer.key_id, generate_rsa_keypair()[0])
    with pytest.raises(FetchError) as caught:
        await b.runtime.http.get_json(alice.uri, signer=forged)
    assert caught.value.status == 401


async def test_authorized_fetch_still_lets_a_remote_server_fetch_and_follow(secure_pair):
    a, b, alice, bob = secure_pair
    fetched = await ActorResolver(b.runtime).get(alice.uri)
    assert fetched.domain == "commune-a.test"
    assert fetched.public_key_id == f"{alice.uri}#main-key" and fetched.public_key_pem == alice.public_key_pem
    assert fetched.inbox_url == f"{alice.uri}/inbox"
    # A user on B follows Alice, found by her handle like anyone would.
    alice_on_b = await remote_actor(b, "alice@commune-a.test")
    assert alice_on_b.id == fetched.id
    await outbox(b).follow(bob.id, alice_on_b.id)
    await eventually(lambda: first(b, select(Follow.state).where(
        Follow.follower_id == bob.id, Follow.followee_id == alice_on_b.id, Follow.state == "accepted")),
        what="Accept from the authorized-fetch instance")
    assert await first(a, select(Actor.followers_count).where(Actor.id == alice.id)) == 1
    # B, signing, can read Alice's followers and outbox; Bob is listed.
    assert b.runtime.http is not None and b.runtime.instance_signer is not None
    signer = b.runtime.instance_signer.as_tuple()
    page = await b.runtime.http.get_json(f"{alice.uri}/followers?page=true", signer=signer)
    assert page["orderedItems"] == [bob.uri]
    post = await outbox(a).publish(alice.id, html(a, "Bienvenue Bob"))
    page = await b.runtime.http.get_json(f"{alice.uri}/outbox?page=true", signer=signer)
    assert [item["object"]["id"] for item in page["orderedItems"]] == [post.uri]
    # And Alice's posts now reach her follower on B.
    await eventually(lambda: first(b, select(Status.id).where(Status.uri == post.uri)), what="post delivered to B")
