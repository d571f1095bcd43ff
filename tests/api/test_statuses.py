"""Statuses endpoints, driven by the real Mastodon.py against live instances (commune-a.test, and
commune-b.test for what must federate)."""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from mastodon import MastodonAPIError
from sqlalchemy import func, make_url, select, text, update

from fediverse.db import create_engine, utcnow
from fediverse.ids import new_id
from fediverse.models import (
    Attachment,
    Bookmark,
    ConversationMute,
    Follow,
    IdempotencyKey,
    Mention,
    Notification,
    ScheduledStatus,
    Status,
    StatusEdit,
    StatusTag,
    User,
)
from outbox.scheduled import publish_due_scheduled
from tests.conftest import issue_token
from tests.federation_steps import count, first, make_account, outbox, remote_actor
from tests.live import LiveInstance, eventually


async def raw(instance: LiveInstance, method: str, path: str, token: str | None = None,
              **kwargs: Any) -> tuple[int, Any]:
    """One HTTP request without a client library: exact status code and JSON body."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kwargs.pop("headers", {}))
    async with aiohttp.ClientSession() as session, session.request(
            method, instance.base_url + path, headers=headers, ssl=ssl.create_default_context(), **kwargs) as resp:
        body = await resp.read()
        return resp.status, json.loads(body) if body else None


def close(*clients: Any) -> None:
    """Close the clients' keep-alive connections: an idle TLS connection left open makes the server's
    shutdown wait for the TLS close handshake (30 s) at teardown."""
    for client in clients:
        client.sync.session.close()


async def refused(call: Awaitable[Any]) -> int:
    """The HTTP status of a call that must fail. The exception is dropped here rather than kept by
    pytest.raises: its traceback would hold the client's connection open past the test."""
    try:
        await call
    except MastodonAPIError as exc:
        return exc.args[1]
    raise AssertionError("the call succeeded")


@pytest.fixture
async def databases() -> AsyncIterator[Callable[[], Awaitable[dict[str, Any]]]]:
    """Settings overrides giving an instance its own fresh PostgreSQL database when
    FEDIVERSE_TEST_POSTGRES_URL is set (to prove the SQL portable), SQLite otherwise."""
    admin_url = os.environ.get("FEDIVERSE_TEST_POSTGRES_URL", "")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT") if admin_url else None
    created: list[str] = []

    async def fresh() -> dict[str, Any]:
        if admin is None:
            return {}
        name = f"api_statuses_{new_id()}"
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return {"database_url": make_url(admin_url).set(database=name).render_as_string(hide_password=False)}

    yield fresh
    if admin is not None:
        async with admin.connect() as connection:
            for name in created:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def town(make_instance, mastodon_client, databases):
    """One instance with alice (author), bob (follower) and carol (stranger), each with a client."""
    a = await make_instance("commune-a.test", **await databases())
    alice = await make_account(a, "alice")
    bob = await make_account(a, "bob")
    carol = await make_account(a, "carol")
    await outbox(a).follow(bob.id, alice.id)
    clients = {name: await mastodon_client(a, actor.id) for name, actor in
               (("alice", alice), ("bob", bob), ("carol", carol))}
    yield a, {"alice": alice, "bob": bob, "carol": carol}, clients
    close(*clients.values())


async def test_posting_returns_the_status_entity_for_every_visibility(town):
    a, actors, clients = town
    alice = clients["alice"]
    posted = {}
    for visibility in ("public", "unlisted", "private"):
        posted[visibility] = await alice.status_post(f"Conseil municipal ({visibility}) #Mairie",
                                                     visibility=visibility)
    posted["direct"] = await alice.status_post("@bob réunion à 18h", visibility="direct")
    for visibility, status in posted.items():
        assert status["visibility"] == visibility
        assert status["account"]["acct"] == "alice"
        assert isinstance(status["id"], str) and status["content"].startswith("<p>")
        assert status["edited_at"] is None and status["favourited"] is False and status["reblogged"] is False
    assert posted["public"]["tags"][0]["name"] == "mairie"
    assert 'class="mention hashtag"' in posted["public"]["content"]
    mention = posted["direct"]["mentions"][0]
    assert (mention["acct"], mention["id"]) == ("bob", str(actors["bob"].id))
    assert 'class="u-url mention"' in posted["direct"]["content"]
    assert await first(a, select(Notification.kind).where(Notification.recipient_id == actors["bob"].id,
                                                          Notification.kind == "mention")) == "mention"
    assert await count(a, StatusTag, StatusTag.name == "mairie") == 3


async def test_default_visibility_and_sensitivity_come_from_the_user(town):
    a, actors, clients = town
    async with a.runtime.sessions() as session, session.begin():
        await session.execute(update(User).where(User.actor_id == actors["alice"].id).values(
            default_visibility="unlisted", default_sensitive=True, default_language="fr"))
    status = await clients["alice"].status_post("Travaux rue de l'église", sensitive=None)
    assert (status["visibility"], status["sensitive"], status["language"]) == ("unlisted", True, "fr")
    spoiler = await clients["alice"].status_post("Détails", spoiler_text="Travaux", sensitive=False,
                                                 visibility="public")
    assert (spoiler["spoiler_text"], spoiler["sensitive"], spoiler["visibility"]) == ("Travaux", True, "public")


async def test_a_stranger_cannot_read_followers_only_or_direct_statuses(town):
    a, actors, clients = town
    private = await clients["alice"].status_post("Pour mes abonnés", visibility="private")
    direct = await clients["alice"].status_post("@bob entre nous", visibility="direct")
    public = await clients["alice"].status_post("Pour tout le monde")
    assert (await clients["bob"].status(private["id"]))["id"] == private["id"]
    assert (await clients["bob"].status(direct["id"]))["id"] == direct["id"]
    for hidden in (private, direct):
        assert await refused(clients["carol"].status(hidden["id"])) == 404
    assert (await clients["carol"].status(public["id"]))["id"] == public["id"]
    code, body = await raw(a, "GET", f"/api/v1/statuses/{private['id']}")
    assert (code, body) == (404, {"error": "Record not found"})
    code, body = await raw(a, "GET", f"/api/v1/statuses/{public['id']}")
    assert code == 200 and body["favourited"] is None
    many = await clients["carol"].statuses([direct["id"], public["id"], private["id"]])
    assert [s["id"] for s in many] == [public["id"]]
    assert [s["id"] for s in await clients["bob"].statuses([direct["id"], public["id"]])] == [direct["id"],
                                                                                              public["id"]]
    assert await refused(clients["carol"].status_favourite(private["id"])) == 404


async def test_reply_thread_context_lists_visible_ancestors_and_descendants(town):
    a, actors, clients = town
    alice, bob, carol = clients["alice"], clients["bob"], clients["carol"]
    root = await alice.status_post("Fête du village samedi ?")
    first_reply = await bob.status_post("@alice oui, à 15h", in_reply_to_id=root["id"])
    nested = await alice.status_post("@bob parfait", in_reply_to_id=first_reply["id"])
    second_reply = await carol.status_post("@alice je viendrai", in_reply_to_id=root["id"])
    # Followers-only, nobody follows carol: only carol and bob (the replied-to author) may read it.
    hidden = await carol.status_post("@bob entre nous", in_reply_to_id=first_reply["id"], visibility="private")
    assert first_reply["in_reply_to_id"] == root["id"]
    assert first_reply["in_reply_to_account_id"] == str(actors["alice"].id)
    context = await alice.status_context(nested["id"])
    assert [s["id"] for s in context["ancestors"]] == [root["id"], first_reply["id"]]
    assert context["descendants"] == []
    visible_to_all = [first_reply["id"], nested["id"], second_reply["id"]]
    assert [s["id"] for s in (await alice.status_context(root["id"]))["descendants"]] == visible_to_all
    code, anonymous = await raw(a, "GET", f"/api/v1/statuses/{root['id']}/context")
    assert code == 200 and [s["id"] for s in anonymous["descendants"]] == visible_to_all
    for client in (bob, carol):
        context = await client.status_context(root["id"])
        assert [s["id"] for s in context["descendants"]] == [first_reply["id"], nested["id"], hidden["id"],
                                                              second_reply["id"]]
    assert await refused(alice.status_context(hidden["id"])) == 404
    assert (await alice.status(root["id"]))["replies_count"] == 2


async def test_boost_and_unboost_update_counts_and_reblogged_by(town):
    a, actors, clients = town
    status = await clients["alice"].status_post("Marché de producteurs dimanche")
    boost = await clients["bob"].status_reblog(status["id"])
    assert boost["reblog"]["id"] == status["id"] and boost["reblog"]["reblogged"] is True
    assert boost["reblog"]["reblogs_count"] == 1 and boost["account"]["acct"] == "bob"
    again = await clients["bob"].status_reblog(status["id"])
    assert again["id"] == boost["id"]
    boosters = await clients["carol"].status_reblogged_by(status["id"])
    assert [acc["acct"] for acc in boosters] == ["bob"]
    assert await first(a, select(Notification.kind).where(Notification.recipient_id == actors["alice"].id,
                                                          Notification.kind == "reblog")) == "reblog"
    undone = await clients["bob"].status_unreblog(status["id"])
    assert undone["id"] == status["id"] and (undone["reblogged"], undone["reblogs_count"]) == (False, 0)
    assert await clients["carol"].status_reblogged_by(status["id"]) == []
    private = await clients["alice"].status_post("Abonnés seulement", visibility="private")
    assert await refused(clients["bob"].status_reblog(private["id"])) == 422


async def test_favourite_and_unfavourite_update_counts_and_favourited_by(town):
    a, actors, clients = town
    status = await clients["alice"].status_post("Bibliothèque ouverte le samedi")
    for name in ("bob", "carol"):
        liked = await clients[name].status_favourite(status["id"])
        assert liked["favourited"] is True
    assert liked["favourites_count"] == 2
    assert (await clients["alice"].status(status["id"]))["favourited"] is False
    code, page = await raw(a, "GET", f"/api/v1/statuses/{status['id']}/favourited_by?limit=1")
    assert code == 200 and [acc["acct"] for acc in page] == ["carol"]
    everyone = await clients["alice"].status_favourited_by(status["id"])
    assert sorted(acc["acct"] for acc in everyone) == ["bob", "carol"]
    unliked = await clients["bob"].status_unfavourite(status["id"])
    assert (unliked["favourited"], unliked["favourites_count"]) == (False, 1)


async def test_bookmark_pin_and_conversation_mute_are_reflected_on_the_status(town):
    a, actors, clients = town
    alice, bob = clients["alice"], clients["bob"]
    status = await alice.status_post("Horaires de la déchetterie")
    marked = await bob.status_bookmark(status["id"])
    assert marked["bookmarked"] is True
    assert await count(a, Bookmark, Bookmark.actor_id == actors["bob"].id) == 1
    assert (await bob.status_unbookmark(status["id"]))["bookmarked"] is False
    assert (await alice.status(status["id"]))["pinned"] is False
    assert (await alice.status_pin(status["id"]))["pinned"] is True
    assert (await alice.status_unpin(status["id"]))["pinned"] is False
    assert await refused(bob.status_pin(status["id"])) == 422
    muted = await bob.status_mute(status["id"])
    assert muted["muted"] is True
    assert await count(a, ConversationMute, ConversationMute.actor_id == actors["bob"].id) == 1
    assert (await bob.status_unmute(status["id"]))["muted"] is False


async def test_edit_keeps_history_and_source(town):
    a, actors, clients = town
    alice = clients["alice"]
    status = await alice.status_post("Marché le mardi")
    edited = await alice.status_update(status["id"], "Marché le mercredi @bob", spoiler_text="Changement")
    assert "mercredi" in edited["content"] and edited["edited_at"] is not None
    assert (edited["spoiler_text"], edited["sensitive"]) == ("Changement", True)
    assert [m["acct"] for m in edited["mentions"]] == ["bob"]
    history = await alice.status_history(status["id"])
    assert len(history) == 2
    assert "mardi" in history[0]["content"] and "mercredi" in history[1]["content"]
    assert history[0]["spoiler_text"] == "" and history[1]["spoiler_text"] == "Changement"
    assert history[0]["account"]["acct"] == "alice"
    source = await alice.status_source(status["id"])
    assert source == {"id": status["id"], "text": "Marché le mercredi @bob", "spoiler_text": "Changement"}
    assert len(await clients["carol"].status_history(status["id"])) == 2
    never_edited = await alice.status_post("Pas modifié")
    assert len(await alice.status_history(never_edited["id"])) == 1
    assert await refused(clients["bob"].status_update(status["id"], "Pas à moi")) == 404


async def test_delete_returns_the_source_text_for_redraft(town):
    a, actors, clients = town
    status = await clients["alice"].status_post("Annonce à corriger #Voirie")
    assert await refused(clients["bob"].status_delete(status["id"])) == 404
    deleted = await clients["alice"].status_delete(status["id"])
    assert deleted["id"] == status["id"] and deleted["text"] == "Annonce à corriger #Voirie"
    assert await refused(clients["alice"].status(status["id"])) == 404
    assert await count(a, Status, Status.id == int(status["id"])) == 0


async def test_same_idempotency_key_returns_the_same_status(town):
    a, actors, clients = town
    first_try = await clients["alice"].status_post("Collecte des encombrants", idempotency_key="key-1")
    second_try = await clients["alice"].status_post("Collecte des encombrants", idempotency_key="key-1")
    other_key = await clients["alice"].status_post("Collecte des encombrants", idempotency_key="key-2")
    assert first_try["id"] == second_try["id"] != other_key["id"]
    # Another account may use the same key: keys are per account.
    bobs = await clients["bob"].status_post("Collecte des encombrants", idempotency_key="key-1")
    assert bobs["id"] != first_try["id"]
    # After 24 hours the key is forgotten.
    async with a.runtime.sessions() as session, session.begin():
        await session.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=25)))
    later = await clients["alice"].status_post("Collecte des encombrants", idempotency_key="key-1")
    assert later["id"] != first_try["id"]
    assert await count(a, Status, Status.actor_id == actors["alice"].id) == 3


async def test_scheduled_status_is_returned_then_published_when_due(town):
    a, actors, clients = town
    when = utcnow() + timedelta(minutes=30)
    scheduled = await clients["alice"].status_post("Rappel : vote du budget", scheduled_at=when,
                                                   visibility="unlisted")
    assert set(scheduled) >= {"id", "scheduled_at", "params", "media_attachments"}
    assert scheduled["params"]["text"] == "Rappel : vote du budget"
    assert scheduled["params"]["visibility"] == "unlisted"
    assert await count(a, Status, Status.actor_id == actors["alice"].id) == 0
    assert await publish_due_scheduled(a.runtime) == 0
    async with a.runtime.sessions() as session, session.begin():
        await session.execute(update(ScheduledStatus).where(ScheduledStatus.id == int(scheduled["id"])).values(
            scheduled_at=utcnow() - timedelta(seconds=1)))
    await publish_due_scheduled(a.runtime)
    published = await eventually(lambda: first(a, select(Status).where(Status.actor_id == actors["alice"].id)),
                                 what="the scheduled status published")
    assert published.source_text == "Rappel : vote du budget" and published.visibility == "unlisted"
    assert await count(a, ScheduledStatus) == 0
    assert await refused(clients["alice"].status_post("Trop tôt", scheduled_at=utcnow() + timedelta(minutes=2))) == 422


async def _upload(instance: LiveInstance, actor_id: int, name: str) -> int:
    """An uploaded image as the media endpoint leaves it: owned, not attached yet."""
    async with instance.runtime.sessions() as session, session.begin():
        media = Attachment(actor_id=actor_id, kind="image", media_type="image/png",
                           url=f"{instance.base_url}/media/{name}.png", description=name)
        session.add(media)
        await session.flush()
        return media.id


async def test_media_are_attached_once_and_only_by_their_owner(town):
    a, actors, clients = town
    alice_media = [await _upload(a, actors["alice"].id, f"photo{i}") for i in range(5)]
    bob_media = await _upload(a, actors["bob"].id, "bob")
    status = await clients["alice"].status_post("", media_ids=alice_media[:2])
    assert [m["id"] for m in status["media_attachments"]] == [str(i) for i in alice_media[:2]]
    assert status["media_attachments"][0]["description"] == "photo0"
    for media_ids in ([alice_media[0]], [bob_media], alice_media, [123456789]):
        assert await refused(clients["alice"].status_post("Encore", media_ids=media_ids)) == 422
    # Delete-and-redraft: the deleted status gives its media back to be posted again.
    deleted = await clients["alice"].status_delete(status["id"])
    assert len(deleted["media_attachments"]) == 2
    redraft = await clients["alice"].status_post(deleted["text"], media_ids=alice_media[:2])
    assert len(redraft["media_attachments"]) == 2


async def test_invalid_statuses_are_refused_with_422(town):
    a, actors, clients = town
    token = await issue_token(a, actors["alice"].id)
    for form in ([("status", "")], [("status", "x" * 5001)], [("status", "ok"), ("visibility", "everyone")],
                 [("status", "ok"), ("poll[options][]", "seul"), ("poll[expires_in]", "3600")],
                 [("status", "ok"), ("poll[options][]", "a"), ("poll[options][]", "b"), ("poll[expires_in]", "10")],
                 [("status", "ok"), ("media_ids[]", "abc")], [("status", "@nobody message"), ("visibility", "direct")]):
        code, body = await raw(a, "POST", "/api/v1/statuses", token, data=form)
        assert code == 422, form
        assert body["error"].startswith("Validation failed")
    code, _ = await raw(a, "POST", "/api/v1/statuses", token, data={"status": "ok", "in_reply_to_id": "999"})
    assert code == 404
    assert await count(a, Status) == 0
    code, body = await raw(a, "POST", "/api/v1/statuses", token, json={"status": "x" * 5000})
    assert code == 200 and body["content"].startswith("<p>x")


async def test_scopes_and_tokens_are_enforced(town, mastodon_client):
    a, actors, clients = town
    reader = await mastodon_client(a, actors["alice"].id, scopes="read")
    assert await refused(reader.status_post("Je ne peux pas écrire")) == 403
    status = await clients["alice"].status_post("Lecture seule")
    assert (await reader.status(status["id"]))["id"] == status["id"]
    close(reader)
    code, body = await raw(a, "POST", "/api/v1/statuses", data={"status": "anonyme"})
    assert code == 401 and "error" in body
    code, _ = await raw(a, "POST", f"/api/v1/statuses/{status['id']}/favourite", "not-a-token")
    assert code == 401


# -- federation -----------------------------------------------------------------------------------

@pytest.fixture
async def pair(make_instance, mastodon_client, databases):
    a = await make_instance("commune-a.test", **await databases())
    b = await make_instance("commune-b.test", **await databases())
    alice = await make_account(a, "alice")
    bob = await make_account(b, "bob")
    alice_on_b = await remote_actor(b, "alice@commune-a.test")
    await outbox(b).follow(bob.id, alice_on_b.id)
    await eventually(lambda: first(b, select(Follow.id).where(Follow.follower_id == bob.id,
                                                              Follow.state == "accepted")), what="bob follows alice")
    alice_api, bob_api = await mastodon_client(a, alice.id), await mastodon_client(b, bob.id)
    yield a, b, alice, bob, alice_api, bob_api
    close(alice_api, bob_api)


async def test_posts_with_remote_mentions_federate_and_unknown_handles_stay_text(pair):
    a, b, alice, bob, alice_api, bob_api = pair
    status = await alice_api.status_post("@bob@commune-b.test et @personne@commune-b.test : réunion #Budget",
                                         visibility="private")
    assert [m["acct"] for m in status["mentions"]] == ["bob@commune-b.test"]
    assert "@personne@commune-b.test" in status["content"] and status["content"].count("u-url mention") == 1
    on_b = await eventually(lambda: first(b, select(Status).where(Status.uri == status["uri"])),
                            what="the post on commune-b")
    assert on_b.visibility == "private"
    assert await first(b, select(Mention.actor_id).where(Mention.status_id == on_b.id)) == bob.id
    seen = await bob_api.status(str(on_b.id))
    assert seen["account"]["acct"] == "alice@commune-a.test" and seen["tags"][0]["name"] == "budget"
    assert await first(b, select(Notification.kind).where(Notification.recipient_id == bob.id,
                                                          Notification.kind == "mention")) == "mention"


async def test_edit_and_delete_federate_and_remote_history_is_kept(pair):
    a, b, alice, bob, alice_api, bob_api = pair
    status = await alice_api.status_post("Conseil le lundi")
    on_b = await eventually(lambda: first(b, select(Status.id).where(Status.uri == status["uri"])),
                            what="the post on commune-b")
    await alice_api.status_update(status["id"], "Conseil le jeudi")

    async def edited() -> bool:
        return await count(b, StatusEdit, StatusEdit.status_id == on_b) == 1

    await eventually(edited, what="Update(Note) on commune-b")
    history = await bob_api.status_history(str(on_b))
    assert ["lundi" in history[0]["content"], "jeudi" in history[1]["content"]] == [True, True]
    assert (await bob_api.status(str(on_b)))["edited_at"] is not None
    await alice_api.status_delete(status["id"])
    await eventually(lambda: _gone(b, on_b), what="Delete on commune-b")


async def _gone(instance: LiveInstance, status_id: int) -> bool:
    async with instance.runtime.sessions() as session:
        return await session.scalar(select(func.count()).select_from(Status).where(Status.id == status_id)) == 0
