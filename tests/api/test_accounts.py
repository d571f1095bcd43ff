"""Accounts and relationships endpoints, driven by the real Mastodon.py against live instances
(commune-a.test, and commune-b.test for what must federate)."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from io import BytesIO
from typing import Any

import aiohttp
import pytest
from mastodon import Mastodon, MastodonAPIError, MastodonNotFoundError
from PIL import Image
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from fediverse.db import create_engine
from fediverse.ids import new_id
from fediverse.models import Attachment, Bookmark, Follow, ListMember, UserList
from tests.conftest import issue_token
from tests.federation_steps import first, html, make_account, outbox
from tests.live import LiveInstance, eventually


async def raw(instance: LiveInstance, method: str, path: str, token: str | None = None,
              **kwargs: Any) -> tuple[int, Any, Any]:
    """One HTTP request without a client library: exact status, JSON body and headers."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.request(
            method, instance.base_url + path, headers=headers, ssl=ssl.create_default_context(), **kwargs) as resp:
        body = await resp.read()
        return resp.status, json.loads(body) if body else None, resp.headers


def png(width: int, height: int) -> bytes:
    out = BytesIO()
    Image.new("RGB", (width, height), (200, 60, 40)).save(out, "PNG")
    return out.getvalue()


def ids(items: list[Any]) -> list[int]:
    """Entity ids as integers (Mastodon sends strings, Mastodon.py keeps them as strings)."""
    return [int(item["id"]) for item in items]


class Anonymous:
    """Mastodon.py without a token (public endpoints), each call in a thread like the fixture's client."""

    def __init__(self, instance: LiveInstance) -> None:
        self.sync = Mastodon(api_base_url=instance.base_url, version_check_mode="none", request_timeout=30)
        without_keep_alive(self.sync)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.sync, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        return call


def without_keep_alive(client: Mastodon) -> None:
    """An idle keep-alive TLS connection left open by a client in a thread holds uvicorn's graceful
    shutdown for the whole TLS shutdown timeout (the instance then fails to stop in time)."""
    client.session.headers["Connection"] = "close"


@pytest.fixture
async def start(make_instance):
    """`make_instance`, on a fresh PostgreSQL database per instance when FEDIVERSE_TEST_POSTGRES_URL is set
    (e.g. postgresql+asyncpg://postgres@127.0.0.1/postgres), to prove the queries are portable."""
    admin_url = os.environ.get("FEDIVERSE_TEST_POSTGRES_URL", "")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT") if admin_url else None
    started: list[LiveInstance] = []
    databases: list[str] = []

    async def start_instance(domain: str) -> LiveInstance:
        overrides: dict[str, Any] = {}
        if admin is not None:
            name = f"accounts_{new_id()}"
            async with admin.connect() as connection:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
            databases.append(name)
            overrides["database_url"] = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        instance = await make_instance(domain, **overrides)
        started.append(instance)
        return instance

    yield start_instance
    if admin is not None:
        for instance in reversed(started):
            await instance.stop()
        async with admin.connect() as connection:
            for name in databases:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def mastodon_client(mastodon_client, start):
    """The shared fixture, with clients that close their connections (see `without_keep_alive`)."""
    made: list[Any] = []

    async def make(*args: Any, **kwargs: Any) -> Any:
        client = await mastodon_client(*args, **kwargs)
        without_keep_alive(client.sync)
        made.append(client)
        return client

    yield make
    for client in made:
        client.sync.session.close()


@pytest.fixture
async def anonymous_client(start):
    made: list[Anonymous] = []

    def make(instance: LiveInstance) -> Anonymous:
        client = Anonymous(instance)
        made.append(client)
        return client

    yield make
    for client in made:
        client.sync.session.close()


async def collect(client: Any, first_page: list[Any]) -> list[Any]:
    """Every page, following the Link `next` header the way Mastodon.py does."""
    items = list(first_page)
    page = first_page
    while True:
        page = await client.fetch_next(page)
        if not page:
            return items
        items.extend(page)


@pytest.fixture
async def commune_a(start):
    return await start("commune-a.test")


@pytest.fixture
async def pair(start):
    return await start("commune-a.test"), await start("commune-b.test")


# -- credentials ----------------------------------------------------------------------------------


async def test_verify_credentials_returns_the_account_with_its_source(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice", display_name="Alice")
    client = await mastodon_client(commune_a, alice.id)
    me = await client.account_verify_credentials()
    assert me["id"] == str(alice.id) and me["username"] == "alice" and me["acct"] == "alice"
    assert me["display_name"] == "Alice"
    assert me["source"]["privacy"] == "public" and me["source"]["follow_requests_count"] == 0
    token = await issue_token(commune_a, alice.id, "read:accounts")
    status, body, _ = await raw(commune_a, "GET", "/api/v1/accounts/verify_credentials", token)
    assert status == 200 and body["id"] == str(alice.id) and isinstance(body["source"]["fields"], list)
    profile_only = await issue_token(commune_a, alice.id, "profile")
    status, body, _ = await raw(commune_a, "GET", "/api/v1/accounts/verify_credentials", profile_only)
    assert status == 200 and body["username"] == "alice"


async def test_requests_without_token_bad_token_or_scope_are_refused(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice")
    carol = await make_account(commune_a, "carol")
    status, body, _ = await raw(commune_a, "GET", "/api/v1/accounts/verify_credentials")
    assert status == 401 and "error" in body
    status, body, _ = await raw(commune_a, "GET", "/api/v1/accounts/verify_credentials", "not-a-token")
    assert status == 401 and "error" in body
    statuses_only = await issue_token(commune_a, alice.id, "read:statuses")
    status, body, _ = await raw(commune_a, "GET", "/api/v1/accounts/verify_credentials", statuses_only)
    assert status == 403 and "error" in body
    read_only = await mastodon_client(commune_a, alice.id, "read")
    with pytest.raises(MastodonAPIError) as refused:
        await read_only.account_follow(carol.id)
    assert refused.value.args[1] == 403
    assert await first(commune_a, select(Follow.id).where(Follow.follower_id == alice.id)) is None
    # The legacy `follow` scope covers follows, blocks and mutes.
    legacy = await mastodon_client(commune_a, alice.id, "follow")
    assert (await legacy.account_follow(carol.id))["following"] is True


async def test_unknown_account_ids_answer_404(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice")
    client = await mastodon_client(commune_a, alice.id)
    for unknown in (123456789, "not-an-id"):
        with pytest.raises(MastodonNotFoundError):
            await client.account(unknown)
    with pytest.raises(MastodonNotFoundError):
        await client.account_follow(987654321)
    with pytest.raises(MastodonNotFoundError):
        await client.account_lookup("nobody")
    status, body, _ = await raw(commune_a, "GET", "/api/v1/accounts/42/statuses")
    assert status == 404 and body == {"error": "Record not found"}


async def test_update_credentials_changes_the_profile_and_the_follower_instance_sees_it(pair, mastodon_client):
    a, b = pair
    alice = await make_account(a, "alice", display_name="Alice")
    bob = await make_account(b, "bob")
    alice_client = await mastodon_client(a, alice.id)
    bob_client = await mastodon_client(b, bob.id)
    found = await bob_client.account_search("alice@commune-a.test", resolve=True)
    assert [acc["acct"] for acc in found] == ["alice@commune-a.test"]
    alice_on_b = found[0]
    await bob_client.account_follow(alice_on_b["id"])

    async def bob_follows_alice():
        return (await bob_client.account_relationships(alice_on_b["id"]))[0]["following"]

    await eventually(bob_follows_alice, what="Accept of bob's follow on commune-b")

    updated = await alice_client.account_update_credentials(
        display_name="Alice Martin", note="Bénévole au comité des fêtes.\nhttps://fetes.example/", locked=True,
        fields=[("Quartier", "Centre"), ("Site", "https://fetes.example/")], default_privacy="unlisted",
        default_sensitive=True, default_language="fr", avatar=png(600, 400), avatar_mime_type="image/png",
        header=png(1600, 600), header_mime_type="image/png")
    assert updated["avatar"].startswith("https://commune-a.test/media/avatars/")
    assert updated["header"].startswith("https://commune-a.test/media/headers/")
    async with aiohttp.ClientSession() as http, http.get(updated["avatar"], ssl=ssl.create_default_context()) as got:
        assert got.status == 200 and got.content_type.startswith("image/")
    assert updated["display_name"] == "Alice Martin"
    assert updated["note"].startswith("<p>Bénévole") and 'href="https://fetes.example/"' in updated["note"]
    assert updated["locked"] is True
    assert [(f["name"], f["value"]) for f in updated["fields"]][0] == ("Quartier", "Centre")
    assert 'href="https://fetes.example/"' in updated["fields"][1]["value"]
    assert updated["source"]["note"] == "Bénévole au comité des fêtes.\nhttps://fetes.example/"
    assert [(f["name"], f["value"]) for f in updated["source"]["fields"]] == [
        ("Quartier", "Centre"), ("Site", "https://fetes.example/")]
    assert (updated["source"]["privacy"], updated["source"]["sensitive"], updated["source"]["language"]) == (
        "unlisted", True, "fr")
    again = await alice_client.account_verify_credentials()
    assert again["display_name"] == "Alice Martin" and again["source"]["privacy"] == "unlisted"

    async def seen_on_b():
        account = await bob_client.account(alice_on_b["id"])
        return account if account["display_name"] == "Alice Martin" else None

    account = await eventually(seen_on_b, what="Update(Person) applied on commune-b")
    assert "Bénévole au comité des fêtes." in account["note"] and account["locked"] is True
    assert account["avatar"] == updated["avatar"] and account["header"] == updated["header"]
    # A JSON body works too (Elk, Phanpy) and changing only a default federates nothing new.
    status, body, _ = await raw(a, "PATCH", "/api/v1/accounts/update_credentials",
                                await issue_token(a, alice.id, "write:accounts"),
                                json={"display_name": "Alice M.", "source": {"privacy": "private"},
                                      "fields_attributes": [{"name": "Rue", "value": "Haute"}]})
    assert status == 200 and body["display_name"] == "Alice M." and body["source"]["privacy"] == "private"
    assert [(f["name"], f["value"]) for f in body["fields"]] == [("Rue", "Haute")]
    assert body["avatar"] == updated["avatar"]
    # A new avatar replaces the old file.
    replaced = await alice_client.account_update_credentials(avatar=png(100, 100), avatar_mime_type="image/png")
    assert replaced["avatar"] != updated["avatar"]
    async with aiohttp.ClientSession() as http, http.get(updated["avatar"], ssl=ssl.create_default_context()) as got:
        assert got.status == 404


async def test_update_credentials_rejects_bad_input_and_changes_nothing(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice", display_name="Alice")
    client = await mastodon_client(commune_a, alice.id)
    attempts = [
        {"display_name": "x" * 31},
        {"note": "y" * 501},
        {"display_name": "Fine", "fields": [(f"n{i}", "v") for i in range(5)]},
        {"display_name": "Fine", "default_privacy": "direct"},
        {"display_name": "Fine", "default_language": "french!"},
        {"display_name": "Fine", "avatar": b"not a picture at all", "avatar_mime_type": "image/png"},
    ]
    for attempt in attempts:
        with pytest.raises(MastodonAPIError) as refused:
            await client.account_update_credentials(**attempt)
        assert refused.value.args[1] == 422, attempt
    me = await client.account_verify_credentials()
    assert me["display_name"] == "Alice" and me["fields"] == [] and me["source"]["privacy"] == "public"
    assert me["avatar"].endswith("/static/avatar.png")
    token = await issue_token(commune_a, alice.id)
    status, body, _ = await raw(commune_a, "PATCH", "/api/v1/accounts/update_credentials", token,
                                data={"display_name": "z" * 40})
    assert status == 422 and body["error"].startswith("Validation failed") and "display_name" in body["details"]


# -- reading accounts and statuses ----------------------------------------------------------------


async def test_lookup_search_and_batch_accounts(commune_a, mastodon_client, anonymous_client):
    alice = await make_account(commune_a, "alice")
    carol = await make_account(commune_a, "carol", display_name="Caroline Dupuis")
    await make_account(commune_a, "carla")
    client = await mastodon_client(commune_a, alice.id)
    assert (await client.account_lookup("carol"))["id"] == str(carol.id)
    assert (await client.account_lookup("carol@commune-a.test"))["id"] == str(carol.id)
    names = [acc["username"] for acc in await client.account_search("car")]
    assert set(names) == {"carol", "carla"}
    assert [acc["username"] for acc in await client.account_search("carol")][0] == "carol"
    assert [acc["username"] for acc in await client.account_search("Caroline")] == ["carol"]
    assert await client.account_search("car", following=True) == []
    await client.account_follow(carol.id)
    assert [acc["username"] for acc in await client.account_search("car", following=True)] == ["carol"]
    batch = await client.accounts([carol.id, 999, alice.id])
    assert ids(batch) == [carol.id, alice.id]
    anonymous = anonymous_client(commune_a)
    assert (await anonymous.account(carol.id))["acct"] == "carol"
    status, _, _ = await raw(commune_a, "GET", "/api/v1/accounts/search?q=car")
    assert status == 401


async def test_account_statuses_apply_visibility_filters_and_pagination(commune_a, mastodon_client, anonymous_client):
    a = commune_a
    alice = await make_account(a, "alice")
    carol = await make_account(a, "carol")
    dave = await make_account(a, "dave")
    stranger = await make_account(a, "erin")
    await outbox(a).follow(dave.id, alice.id)
    other = await outbox(a).publish(carol.id, html(a, "Post de Carol"))
    public_ids = []
    for i in range(5):
        status = await outbox(a).publish(alice.id, html(a, f"Public {i}"))
        public_ids.append(status.id)
    tagged = await outbox(a).publish(alice.id, html(a, "Marché #Brocante"), tags=["Brocante"])
    reply = await outbox(a).publish(alice.id, html(a, "Réponse à Carol"), in_reply_to_id=other.id)
    thread = await outbox(a).publish(alice.id, html(a, "Suite du fil"), in_reply_to_id=public_ids[0])
    private = await outbox(a).publish(alice.id, html(a, "Pour mes abonnés"), visibility="private")
    direct = await outbox(a).publish(alice.id, html(a, "@carol message direct", [carol]), visibility="direct",
                                     mentions=[carol])
    boost = await outbox(a).boost(alice.id, other.id)
    with_media = await outbox(a).publish(alice.id, html(a, "Photo du lavoir"))
    async with a.runtime.sessions() as session, session.begin():
        session.add(Attachment(status_id=with_media.id, actor_id=alice.id, url=f"{a.base_url}/media/x.png"))
    await outbox(a).pin(alice.id, public_ids[2])
    everything_public = {*public_ids, tagged.id, reply.id, thread.id, boost.id, with_media.id}

    anonymous = anonymous_client(a)
    seen = ids(await collect(anonymous, await anonymous.account_statuses(alice.id, limit=3)))
    assert set(seen) == everything_public and len(seen) == len(everything_public)
    assert seen == sorted(seen, reverse=True)
    stranger_client = await mastodon_client(a, stranger.id)
    assert set(ids(await collect(stranger_client, await stranger_client.account_statuses(alice.id, limit=4)))) \
        == everything_public
    follower = await mastodon_client(a, dave.id)
    assert set(ids(await collect(follower, await follower.account_statuses(alice.id)))) \
        == everything_public | {private.id}
    mentioned = await mastodon_client(a, carol.id)
    assert set(ids(await mentioned.account_statuses(alice.id, limit=40))) == everything_public | {direct.id}
    author = await mastodon_client(a, alice.id)
    assert set(ids(await author.account_statuses(alice.id, limit=40))) == everything_public | {private.id, direct.id}

    assert reply.id not in ids(await anonymous.account_statuses(alice.id, exclude_replies=True, limit=40))
    assert thread.id in ids(await anonymous.account_statuses(alice.id, exclude_replies=True, limit=40))
    assert boost.id not in ids(await anonymous.account_statuses(alice.id, exclude_reblogs=True, limit=40))
    boosted = next(s for s in await anonymous.account_statuses(alice.id, limit=40) if int(s["id"]) == boost.id)
    assert boosted["reblog"]["id"] == str(other.id)
    assert ids(await anonymous.account_statuses(alice.id, tagged="brocante")) == [tagged.id]
    assert ids(await anonymous.account_statuses(alice.id, only_media=True)) == [with_media.id]
    pinned = await author.account_statuses(alice.id, pinned=True)
    assert ids(pinned) == [public_ids[2]] and pinned[0]["pinned"] is True
    newer = await anonymous.account_statuses(alice.id, min_id=public_ids[3], limit=40)
    assert set(ids(newer)) == {s for s in everything_public if s > public_ids[3]}
    _, _, headers = await raw(a, "GET", f"/api/v1/accounts/{alice.id}/statuses?limit=2")
    assert 'rel="next"' in headers["Link"] and 'rel="prev"' in headers["Link"]


# -- follows --------------------------------------------------------------------------------------


async def test_follow_a_local_account_with_options_then_unfollow(commune_a, mastodon_client):
    a = commune_a
    alice = await make_account(a, "alice")
    carol = await make_account(a, "carol")
    dave = await make_account(a, "dave")
    await outbox(a).follow(dave.id, alice.id)
    client = await mastodon_client(a, alice.id)
    rel = await client.account_follow(carol.id, reblogs=False, notify=True)
    assert rel["id"] == str(carol.id) and rel["following"] is True and rel["requested"] is False
    assert rel["showing_reblogs"] is False and rel["notifying"] is True
    # Following again changes only the options that are sent (Mastodon.py always sends both).
    status, rel, _ = await raw(a, "POST", f"/api/v1/accounts/{carol.id}/follow", await issue_token(a, alice.id),
                               json={"reblogs": True})
    assert status == 200 and rel["showing_reblogs"] is True and rel["notifying"] is True
    status, body, _ = await raw(a, "GET", f"/api/v1/accounts/relationships?id[]={carol.id}&id[]={dave.id}"
                                          f"&id[]=424242&id[]={carol.id}", await issue_token(a, alice.id))
    assert status == 200 and [r["id"] for r in body] == [str(carol.id), str(dave.id)]
    assert set(body[0]) == {"id", "following", "showing_reblogs", "notifying", "languages", "followed_by",
                            "blocking", "blocked_by", "muting", "muting_notifications", "requested",
                            "requested_by", "domain_blocking", "endorsed", "note"}
    assert body[1]["followed_by"] is True and body[1]["following"] is False
    assert ids(await client.account_followers(carol.id)) == [alice.id]
    assert ids(await client.account_following(alice.id)) == [carol.id]
    assert ids(await client.account_followers(alice.id)) == [dave.id]
    assert (await client.me())["following_count"] == 1
    rel = await client.account_unfollow(carol.id)
    assert rel["following"] is False and rel["showing_reblogs"] is False
    assert await client.account_followers(carol.id) == []
    with pytest.raises(MastodonAPIError) as refused:
        await client.account_follow(alice.id)
    assert refused.value.args[1] == 422


async def test_followers_list_paginates_with_link_headers(commune_a, mastodon_client):
    a = commune_a
    alice = await make_account(a, "alice")
    followers = []
    for i in range(5):
        follower = await make_account(a, f"voisin{i}")
        await outbox(a).follow(follower.id, alice.id)
        followers.append(follower.id)
    client = await mastodon_client(a, alice.id)
    page = await client.account_followers(alice.id, limit=2)
    assert len(page) == 2
    everyone = await collect(client, page)
    assert ids(everyone) == list(reversed(followers))


async def test_locked_account_authorizes_and_rejects_follow_requests(commune_a, mastodon_client):
    a = commune_a
    alice = await make_account(a, "alice")
    carol = await make_account(a, "carol")
    dave = await make_account(a, "dave")
    carol_client = await mastodon_client(a, carol.id)
    assert (await carol_client.account_update_credentials(locked=True))["locked"] is True
    alice_client = await mastodon_client(a, alice.id)
    dave_client = await mastodon_client(a, dave.id)
    rel = await alice_client.account_follow(carol.id)
    assert rel["requested"] is True and rel["following"] is False
    await dave_client.account_follow(carol.id)
    pending = await carol_client.follow_requests()
    assert ids(pending) == [dave.id, alice.id]
    assert (await carol_client.me())["source"]["follow_requests_count"] == 2
    assert (await carol_client.account_relationships(alice.id))[0]["requested_by"] is True
    rel = await carol_client.follow_request_authorize(alice.id)
    assert rel["followed_by"] is True and rel["requested_by"] is False
    assert (await alice_client.account_relationships(carol.id))[0]["following"] is True
    rel = await carol_client.follow_request_reject(dave.id)
    assert rel["followed_by"] is False and rel["requested_by"] is False
    dave_rel = (await dave_client.account_relationships(carol.id))[0]
    assert dave_rel["following"] is False and dave_rel["requested"] is False
    assert await carol_client.follow_requests() == []
    with pytest.raises(MastodonNotFoundError):
        await carol_client.follow_request_authorize(dave.id)
    rel = await carol_client.account_remove_from_followers(alice.id)
    assert rel["followed_by"] is False
    assert (await alice_client.account_relationships(carol.id))[0]["following"] is False


async def test_follow_a_remote_account_is_requested_until_accepted(pair, mastodon_client):
    a, b = pair
    alice = await make_account(a, "alice")
    bob = await make_account(b, "bob")
    bob_client = await mastodon_client(b, bob.id)
    await bob_client.account_update_credentials(locked=True)
    alice_client = await mastodon_client(a, alice.id)
    found = await alice_client.account_search("@bob@commune-b.test", resolve=True)
    assert [acc["acct"] for acc in found] == ["bob@commune-b.test"]
    bob_on_a = found[0]
    assert bob_on_a["url"] and bob_on_a["locked"] is True
    rel = await alice_client.account_follow(bob_on_a["id"])
    assert rel["requested"] is True and rel["following"] is False

    async def request_on_b():
        return await bob_client.follow_requests()

    pending = await eventually(request_on_b, what="Follow request delivered to commune-b")
    assert [acc["acct"] for acc in pending] == ["alice@commune-a.test"]
    await bob_client.follow_request_authorize(pending[0]["id"])

    async def following_on_a():
        rel = (await alice_client.account_relationships(bob_on_a["id"]))[0]
        return rel["following"] and not rel["requested"]

    await eventually(following_on_a, what="Accept reaching commune-a")
    assert [acc["acct"] for acc in await bob_client.account_followers(bob.id)] == ["alice@commune-a.test"]
    await alice_client.account_unfollow(bob_on_a["id"])

    async def unfollowed_on_b():
        return await bob_client.account_followers(bob.id) == []

    await eventually(unfollowed_on_b, what="Undo(Follow) reaching commune-b")


async def test_remove_a_remote_follower_rejects_its_follow(pair, mastodon_client):
    a, b = pair
    alice = await make_account(a, "alice")
    bob = await make_account(b, "bob")
    alice_client = await mastodon_client(a, alice.id)
    bob_client = await mastodon_client(b, bob.id)
    alice_on_b = (await bob_client.account_search("alice@commune-a.test", resolve=True))[0]
    rel = await bob_client.account_follow(alice_on_b["id"])
    assert rel["requested"] or rel["following"]

    async def follower_on_a():
        return await alice_client.account_followers(alice.id)

    followers = await eventually(follower_on_a, what="bob following alice")
    rel = await alice_client.account_remove_from_followers(followers[0]["id"])
    assert rel["followed_by"] is False

    async def no_longer_following():
        rel = (await bob_client.account_relationships(alice_on_b["id"]))[0]
        return not rel["following"] and not rel["requested"]

    await eventually(no_longer_following, what="Reject reaching commune-b")


async def test_familiar_followers_and_lists_of_an_account(commune_a, mastodon_client):
    a = commune_a
    alice = await make_account(a, "alice")
    carol = await make_account(a, "carol")
    dave = await make_account(a, "dave")
    await outbox(a).follow(alice.id, carol.id)
    await outbox(a).follow(carol.id, dave.id)
    async with a.runtime.sessions() as session, session.begin():
        voisins = UserList(actor_id=alice.id, title="Voisins")
        session.add(voisins)
        await session.flush()
        session.add(ListMember(list_id=voisins.id, actor_id=carol.id))
    client = await mastodon_client(a, alice.id)
    familiar = await client.account_familiar_followers([dave.id, carol.id])
    assert [(int(f["id"]), ids(f["accounts"])) for f in familiar] == [(dave.id, [carol.id]),
                                                                                   (carol.id, [])]
    lists = await client.account_lists(carol.id)
    assert [(li["id"], li["title"]) for li in lists] == [(str(voisins.id), "Voisins")]
    assert await client.account_lists(dave.id) == []
    assert await client.account_featured_tags(carol.id) == []
    assert await client.endorsements() == []


# -- blocks and mutes -----------------------------------------------------------------------------


async def test_block_cuts_follows_and_unblock_restores_nothing_but_the_block(commune_a, mastodon_client):
    a = commune_a
    alice = await make_account(a, "alice")
    carol = await make_account(a, "carol")
    await outbox(a).publish(alice.id, html(a, "Bonjour"))
    alice_client = await mastodon_client(a, alice.id)
    carol_client = await mastodon_client(a, carol.id)
    await carol_client.account_follow(alice.id)
    rel = await alice_client.account_block(carol.id)
    assert rel["blocking"] is True and rel["followed_by"] is False
    assert ids(await alice_client.blocks()) == [carol.id]
    carol_rel = (await carol_client.account_relationships(alice.id))[0]
    assert carol_rel["blocked_by"] is True and carol_rel["following"] is False
    assert await carol_client.account_statuses(alice.id) == []
    with pytest.raises(MastodonAPIError) as refused:
        await carol_client.account_follow(alice.id)
    assert refused.value.args[1] == 403
    rel = await alice_client.account_unblock(carol.id)
    assert rel["blocking"] is False and rel["followed_by"] is False
    assert await alice_client.blocks() == []
    assert len(await carol_client.account_statuses(alice.id)) == 1


async def test_mute_with_duration_and_without_notifications_then_unmute(commune_a, mastodon_client):
    a = commune_a
    alice = await make_account(a, "alice")
    carol = await make_account(a, "carol")
    dave = await make_account(a, "dave")
    client = await mastodon_client(a, alice.id)
    rel = await client.account_mute(carol.id, notifications=False, duration=3600)
    assert rel["muting"] is True and rel["muting_notifications"] is False
    rel = await client.account_mute(dave.id)
    assert rel["muting"] is True and rel["muting_notifications"] is True
    muted = await client.mutes()
    assert ids(muted) == [dave.id, carol.id]
    assert muted[0]["mute_expires_at"] is None and muted[1]["mute_expires_at"] is not None
    rel = await client.account_unmute(carol.id)
    assert rel["muting"] is False
    assert ids(await client.mutes()) == [dave.id]
    token = await issue_token(a, alice.id)
    status, body, _ = await raw(a, "POST", f"/api/v1/accounts/{carol.id}/mute", token, data={"duration": "soon"})
    assert status == 422 and "duration" in body["details"]
    blocks_only = await issue_token(a, alice.id, "write:blocks")
    status, _, _ = await raw(a, "POST", f"/api/v1/accounts/{carol.id}/mute", blocks_only)
    assert status == 403


# -- favourites and bookmarks ---------------------------------------------------------------------


async def test_favourites_and_bookmarks_list_the_viewers_statuses_newest_first(commune_a, mastodon_client):
    a = commune_a
    alice = await make_account(a, "alice")
    carol = await make_account(a, "carol")
    posts = [await outbox(a).publish(carol.id, html(a, f"Annonce {i}")) for i in range(3)]
    for post in posts:
        await outbox(a).favourite(alice.id, post.id)
    async with a.runtime.sessions() as session, session.begin():
        session.add(Bookmark(actor_id=alice.id, status_id=posts[1].id))
    client = await mastodon_client(a, alice.id)
    page = await client.favourites(limit=2)
    assert len(page) == 2 and page[0]["favourited"] is True
    assert ids(await collect(client, page)) == [p.id for p in reversed(posts)]
    bookmarks = await client.bookmarks()
    assert ids(bookmarks) == [posts[1].id] and bookmarks[0]["bookmarked"] is True
    status, _, _ = await raw(a, "GET", "/api/v1/favourites", await issue_token(a, alice.id, "read:bookmarks"))
    assert status == 403
