"""Home, public, hashtag timelines and their pagination, read with the real Mastodon.py from live
instances (commune-a.test, and commune-b.test for remote content)."""

from __future__ import annotations

import asyncio
import gc
import json
import ssl
from typing import Any

import aiohttp
import pytest
from mastodon import Mastodon, MastodonAPIError, MastodonUnauthorizedError
from sqlalchemy import select

from actors.relationships import mute, set_follow_options
from actors.timelines import in_home
from fediverse.models import Actor, Attachment, ConversationMute, Follow, FollowOptions, Status, TagFollow
from tests.federation_steps import first, html, make_account, outbox, remote_actor
from tests.live import LiveInstance, eventually

# -- helpers shared by the timeline, notification and list/filter tests ---------------------------


async def raw(instance: LiveInstance, method: str, path: str, token: str | None = None,
              **kwargs: Any) -> tuple[int, Any, Any]:
    """One HTTP request without a client library: exact status, JSON body and headers."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.request(
            method, instance.base_url + path, headers=headers, ssl=ssl.create_default_context(), **kwargs) as resp:
        body = await resp.read()
        return resp.status, json.loads(body) if body else None, resp.headers


class Anonymous:
    """Mastodon.py without a token, each call in a thread (the server runs in the test's loop)."""

    def __init__(self, instance: LiveInstance) -> None:
        self.sync = Mastodon(api_base_url=instance.base_url, version_check_mode="none", request_timeout=30)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.sync, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        return call


def texts(statuses: list[Any]) -> list[str]:
    """What a reader sees of each status: its text, or `boost:<text>` for a boost."""
    result = []
    for status in statuses:
        if status["reblog"]:
            result.append("boost:" + status["reblog"]["content"])
        else:
            result.append(status["content"])
    return result


async def post(instance: LiveInstance, author: Actor, text: str, mentions: list[Actor] | None = None,
               **kwargs: Any) -> Status:
    """Publish through the outbox (the write side of the API is another module's job)."""
    return await outbox(instance).publish(author.id, html(instance, text, mentions), mentions=mentions,
                                          **kwargs)


async def follow(instance: LiveInstance, follower: Actor, target: Actor) -> None:
    await outbox(instance).follow(follower.id, target.id)


async def add_media(instance: LiveInstance, status: Status) -> None:
    async with instance.runtime.sessions() as session, session.begin():
        session.add(Attachment(status_id=status.id, actor_id=status.actor_id, url="https://example.invalid/a.png",
                               description="une photo"))


@pytest.fixture(autouse=True)
async def close_idle_client_connections(make_instance):
    """Close the clients' kept-alive TLS connections before the instances stop: an idle connection
    that never answers the server's TLS close holds uvicorn's shutdown (Mastodon.py's clients sit in
    reference cycles, and exceptions kept by pytest.raises keep them alive)."""
    yield
    gc.collect()
    for client in [obj for obj in gc.get_objects() if isinstance(obj, Mastodon)]:
        client.session.close()


@pytest.fixture
async def commune_a(make_instance):
    return await make_instance("commune-a.test")


@pytest.fixture
async def trio(commune_a):
    """alice follows bob; carol is a stranger to both."""
    alice = await make_account(commune_a, "alice")
    bob = await make_account(commune_a, "bob")
    carol = await make_account(commune_a, "carol")
    await follow(commune_a, alice, bob)
    return commune_a, alice, bob, carol


def p(text: str) -> str:
    return f"<p>{text}</p>"


# -- home -------------------------------------------------------------------------------------------


async def test_home_shows_own_and_followed_posts_boosts_and_followers_only_posts(trio, mastodon_client):
    instance, alice, bob, carol = trio
    await post(instance, alice, "alice parle")
    await post(instance, bob, "bob public")
    await post(instance, bob, "bob abonnés", visibility="private")
    await post(instance, bob, "bob non listé", visibility="unlisted")
    stranger = await post(instance, carol, "carol public")
    await outbox(instance).boost(bob.id, stranger.id)
    await post(instance, carol, "carol encore")
    client = await mastodon_client(instance, alice.id)
    home = await client.timeline_home()
    assert texts(home) == ["boost:" + p("carol public"), p("bob non listé"), p("bob abonnés"), p("bob public"),
                           p("alice parle")]
    boost = home[0]
    assert boost["account"]["acct"] == "bob" and boost["reblog"]["account"]["acct"] == "carol"
    assert all(isinstance(s["id"], str) for s in home)


async def test_home_hides_replies_to_accounts_the_viewer_does_not_follow(trio, mastodon_client):
    instance, alice, bob, carol = trio
    carol_post = await post(instance, carol, "question de carol")
    alice_post = await post(instance, alice, "question d'alice")
    bob_post = await post(instance, bob, "fil de bob")
    await post(instance, bob, "réponse à carol", in_reply_to_id=carol_post.id)
    await post(instance, bob, "réponse à alice", in_reply_to_id=alice_post.id)
    await post(instance, bob, "suite du fil", in_reply_to_id=bob_post.id)
    client = await mastodon_client(instance, alice.id)
    shown = texts(await client.timeline_home())
    assert p("réponse à carol") not in shown
    assert {p("réponse à alice"), p("suite du fil")} <= set(shown)
    # Once alice follows carol, the reply to carol shows up.
    await follow(instance, alice, carol)
    assert p("réponse à carol") in texts(await client.timeline_home())


async def test_home_has_direct_messages_of_followed_accounts_that_mention_the_viewer(trio, mastodon_client):
    instance, alice, bob, carol = trio
    await post(instance, bob, "@alice secret pour alice", mentions=[alice], visibility="direct")
    await post(instance, bob, "@carol secret pour carol", mentions=[carol], visibility="direct")
    await post(instance, carol, "@alice message d'une inconnue", mentions=[alice], visibility="direct")
    await post(instance, alice, "@carol message d'alice", mentions=[carol], visibility="direct")
    client = await mastodon_client(instance, alice.id)
    home = await client.timeline_home()
    shown = [s["content"] for s in home]
    assert any("secret pour alice" in c for c in shown)
    assert any("message d&#x27;alice" in c or "message d'alice" in c for c in shown)
    assert not any("secret pour carol" in c for c in shown)
    assert not any("inconnue" in c for c in shown)
    assert {s["visibility"] for s in home} == {"direct"}


async def test_boosts_of_an_account_disappear_when_its_reblogs_are_turned_off(trio, mastodon_client):
    instance, alice, bob, carol = trio
    original = await post(instance, carol, "à partager")
    await outbox(instance).boost(bob.id, original.id)
    await post(instance, bob, "bob écrit")
    client = await mastodon_client(instance, alice.id)
    assert texts(await client.timeline_home()) == [p("bob écrit"), "boost:" + p("à partager")]
    await set_follow_options(instance.runtime, alice.id, bob.id, reblogs=False)
    assert texts(await client.timeline_home()) == [p("bob écrit")]


async def test_muted_and_blocked_accounts_disappear_from_home_and_public(trio, mastodon_client):
    instance, alice, bob, carol = trio
    dave = await make_account(instance, "dave")
    await follow(instance, alice, dave)
    await post(instance, bob, "bob parle")
    await post(instance, dave, "dave parle")
    await post(instance, carol, "carol parle")
    mentions_bob = await post(instance, dave, "@bob salut", mentions=[bob])
    client = await mastodon_client(instance, alice.id)
    assert set(texts(await client.timeline_home())) >= {p("bob parle"), p("dave parle")}
    await mute(instance.runtime, alice.id, bob.id)
    await outbox(instance).block(alice.id, carol.id)
    home = texts(await client.timeline_home())
    assert p("bob parle") not in home
    # A status mentioning a muted account is hidden too (Mastodon's rule), other posts stay.
    assert str(mentions_bob.id) not in [s["id"] for s in await client.timeline_home()]
    assert p("dave parle") in home
    public = texts(await client.timeline_public())
    assert p("bob parle") not in public and p("carol parle") not in public and p("dave parle") in public
    # Somebody else still sees everything.
    other = await mastodon_client(instance, dave.id)
    assert {p("bob parle"), p("carol parle")} <= set(texts(await other.timeline_public()))


async def test_followed_hashtags_bring_public_posts_of_strangers_into_home(trio, mastodon_client):
    instance, alice, _bob, carol = trio
    await post(instance, carol, "#Marche ce matin", tags=["Marche"])
    await post(instance, carol, "#marche entre voisins", tags=["marche"], visibility="unlisted")
    await post(instance, carol, "sans mot-dièse")
    await post(instance, alice, "#marche de mon côté", tags=["marche"])
    client = await mastodon_client(instance, alice.id)
    assert [s["content"] for s in await client.timeline_home() if "ce matin" in s["content"]] == []
    async with instance.runtime.sessions() as session, session.begin():
        session.add(TagFollow(actor_id=alice.id, name="marche"))
    home = [s["content"] for s in await client.timeline_home()]
    assert len(home) == 2 and "de mon côté" in home[0] and "ce matin" in home[1]
    await mute(instance.runtime, alice.id, carol.id)
    assert len(await client.timeline_home()) == 1


async def test_languages_chosen_for_a_follow_narrow_its_posts_in_home(trio, mastodon_client):
    instance, alice, bob, _carol = trio
    await post(instance, bob, "hello", language="en")
    await post(instance, bob, "bonjour", language="fr")
    await post(instance, bob, "sans langue")
    client = await mastodon_client(instance, alice.id)
    assert len(await client.timeline_home()) == 3
    async with instance.runtime.sessions() as session, session.begin():
        session.add(FollowOptions(actor_id=alice.id, target_id=bob.id, languages_json='["fr"]'))
    assert texts(await client.timeline_home()) == [p("sans langue"), p("bonjour")]


async def test_muted_conversations_leave_the_home_timeline(trio, mastodon_client):
    instance, alice, bob, carol = trio
    thread = await post(instance, bob, "début du fil")
    await post(instance, bob, "suite du fil", in_reply_to_id=thread.id)
    await post(instance, bob, "autre sujet")
    async with instance.runtime.sessions() as session, session.begin():
        session.add(ConversationMute(actor_id=alice.id, conversation_uri=thread.conversation_uri))
    client = await mastodon_client(instance, alice.id)
    assert texts(await client.timeline_home()) == [p("autre sujet")]


async def test_a_single_status_is_checked_against_the_home_rules(trio):
    instance, alice, bob, carol = trio
    followed = await post(instance, bob, "bob publie")
    stranger = await post(instance, carol, "carol publie")
    reply = await post(instance, bob, "bob répond à carol", in_reply_to_id=stranger.id)
    async with instance.runtime.sessions() as session:
        assert await in_home(session, alice.id, followed.id)
        assert not await in_home(session, alice.id, stranger.id)
        assert not await in_home(session, alice.id, reply.id)
        assert await in_home(session, carol.id, stranger.id)


async def test_home_needs_a_token_with_read_statuses(trio, mastodon_client):
    instance, alice, _bob, _carol = trio
    with pytest.raises(MastodonUnauthorizedError):
        await Anonymous(instance).timeline_home()
    writer = await mastodon_client(instance, alice.id, scopes="write")
    with pytest.raises(MastodonAPIError) as error:
        await writer.timeline_home()
    assert error.value.args[1] == 403
    granular = await mastodon_client(instance, alice.id, scopes="read:statuses")
    assert await granular.timeline_home() == []
    status, body, _ = await raw(instance, "GET", "/api/v1/timelines/home")
    assert status == 401 and "error" in body


# -- pagination -------------------------------------------------------------------------------------


async def test_pages_follow_link_headers_forwards_and_backwards(trio, mastodon_client):
    instance, alice, bob, _carol = trio
    posted = []
    for number in range(25):
        posted.append(await post(instance, bob if number % 2 else alice, f"message {number}"))
    newest_first = [str(s.id) for s in reversed(posted)]
    client = await mastodon_client(instance, alice.id)
    page1 = await client.timeline_home(limit=10)
    page2 = await client.fetch_next(page1)
    page3 = await client.fetch_next(page2)
    assert [s["id"] for s in page1 + page2 + page3] == newest_first
    assert await client.fetch_next(page3) is None or await client.fetch_next(page3) == []
    back = await client.fetch_previous(page2)
    assert [s["id"] for s in back] == newest_first[:10]
    # since_id keeps the newest, min_id the oldest entries after the cursor; both newest first.
    since = await client.timeline_home(since_id=newest_first[5], limit=2)
    assert [s["id"] for s in since] == newest_first[:2]
    after = await client.timeline_home(min_id=newest_first[5], limit=2)
    assert [s["id"] for s in after] == newest_first[3:5]


async def test_link_header_has_next_and_prev_with_the_other_parameters_kept(trio, issue):
    instance, alice, _bob, _carol = trio
    for number in range(3):
        await post(instance, alice, f"n{number}")
    token = await issue(instance, alice.id)
    status, body, headers = await raw(instance, "GET", "/api/v1/timelines/public?local=true&limit=2", token)
    assert status == 200 and len(body) == 2
    link = headers["Link"]
    assert f'<https://commune-a.test/api/v1/timelines/public?local=true&limit=2&max_id={body[-1]["id"]}>; ' \
           f'rel="next"' in link
    assert f'min_id={body[0]["id"]}>; rel="prev"' in link


@pytest.fixture
def issue():
    from tests.conftest import issue_token

    return issue_token


# -- public and hashtag timelines -------------------------------------------------------------------


async def test_public_timeline_is_open_to_anonymous_readers_and_shows_only_public_originals(trio):
    instance, alice, bob, carol = trio
    public = await post(instance, bob, "pour tout le monde")
    await post(instance, bob, "discret", visibility="unlisted")
    await post(instance, bob, "abonnés", visibility="private")
    await post(instance, carol, "réponse", in_reply_to_id=public.id)
    await post(instance, bob, "auto-réponse", in_reply_to_id=public.id)
    await outbox(instance).boost(alice.id, public.id)
    with_media = await post(instance, carol, "avec photo")
    await add_media(instance, with_media)
    reader = Anonymous(instance)
    shown = await reader.timeline_public()
    assert texts(shown) == [p("avec photo"), p("auto-réponse"), p("pour tout le monde")]
    assert shown[0]["favourited"] is None  # anonymous: no viewer state
    assert texts(await reader.timeline_public(only_media=True)) == [p("avec photo")]
    assert texts(await reader.timeline_local()) == texts(shown)
    assert await reader.timeline_public(remote=True) == []


async def test_hashtag_timeline_combines_any_all_and_none(trio):
    instance, alice, bob, _carol = trio
    await post(instance, alice, "#Marche du dimanche", tags=["Marche"])
    await post(instance, bob, "#marche et #brocante", tags=["marche", "brocante"])
    await post(instance, bob, "#brocante seule", tags=["brocante"])
    await post(instance, bob, "#fete", tags=["fete"])
    await post(instance, bob, "#marche privé", tags=["marche"], visibility="private")
    reader = Anonymous(instance)
    marche = texts(await reader.timeline_hashtag("Marche"))
    assert len(marche) == 2 and all("marche" in t.lower() for t in marche)
    status, body, _ = await raw(instance, "GET", "/api/v1/timelines/tag/marche?any[]=fete")
    assert len(body) == 3
    status, body, _ = await raw(instance, "GET", "/api/v1/timelines/tag/marche?all[]=brocante")
    assert [s["content"] for s in body] == [(await first(instance, select(Status.content).where(
        Status.content.like("%et%brocante%"))))]
    status, body, _ = await raw(instance, "GET", "/api/v1/timelines/tag/brocante?none[]=marche")
    assert status == 200 and len(body) == 1 and "seule" in body[0]["content"]
    assert len(await reader.timeline_hashtag("marche", local=True)) == 2
    assert await reader.timeline_hashtag("inconnu") == []


# -- remote content ---------------------------------------------------------------------------------


async def test_posts_from_the_other_instance_arrive_in_home_after_following(make_instance, mastodon_client):
    a = await make_instance("commune-a.test")
    b = await make_instance("commune-b.test")
    alice = await make_account(a, "alice")
    bob = await make_account(b, "bob")
    before = await post(b, bob, "avant le suivi")
    bob_on_a = await remote_actor(a, "bob@commune-b.test")
    await outbox(a).follow(alice.id, bob_on_a.id)
    await eventually(lambda: first(a, select(Follow.id).where(Follow.follower_id == alice.id,
                                                              Follow.state == "accepted")), what="Accept")
    await post(b, bob, "bonjour de la commune B #Fete", tags=["Fete"])
    await post(b, bob, "pour mes abonnés", visibility="private")
    client = await mastodon_client(a, alice.id)

    async def home_texts():
        got = texts(await client.timeline_home())
        return got if len(got) == 2 else None

    shown = await eventually(home_texts, what="remote posts in alice's home")
    assert shown[0] == p("pour mes abonnés") and "bonjour de la commune B" in shown[1]
    assert "avant le suivi" not in " ".join(shown) and before.uri
    home = await client.timeline_home()
    assert home[0]["account"]["acct"] == "bob@commune-b.test"
    remote_public = await client.timeline_public(remote=True)
    assert [s["uri"] for s in remote_public] == [home[1]["uri"]]
    assert await client.timeline_public(local=True) == []
    assert len(await client.timeline_hashtag("fete")) == 1
