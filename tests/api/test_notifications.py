"""Notifications, read markers and direct-message conversations, driven by the real Mastodon.py
against live instances (commune-b.test for a conversation across servers)."""

from __future__ import annotations

import pytest
from mastodon import MastodonNotFoundError
from sqlalchemy import select

from actors.relationships import mute
from fediverse.models import Follow, Status
from tests.api import test_timelines as shared
from tests.api.test_timelines import follow, post, raw
from tests.conftest import issue_token
from tests.federation_steps import first, make_account, outbox, remote_actor
from tests.live import eventually

# Fixtures shared with the timeline tests.
close_idle_client_connections = shared.close_idle_client_connections
commune_a = shared.commune_a
trio = shared.trio


@pytest.fixture
async def busy_bob(trio):
    """bob receives, in this order: a follow (alice), a mention (carol), a favourite and a boost (alice)."""
    instance, alice, bob, carol = trio
    await follow(instance, alice, bob)  # already following: no new notification
    bob_post = await post(instance, bob, "le marché est ouvert")
    dave = await make_account(instance, "dave")
    await follow(instance, dave, bob)
    await post(instance, carol, "@bob bonjour", mentions=[bob])
    await outbox(instance).favourite(alice.id, bob_post.id)
    await outbox(instance).boost(alice.id, bob_post.id)
    return instance, alice, bob, carol, dave, bob_post


async def test_notifications_list_every_kind_newest_first_with_account_and_status(busy_bob, mastodon_client):
    instance, alice, bob, carol, dave, bob_post = busy_bob
    client = await mastodon_client(instance, bob.id)
    found = await client.notifications()
    assert [(n["type"], n["account"]["acct"]) for n in found] == [
        ("reblog", "alice"), ("favourite", "alice"), ("mention", "carol"), ("follow", "dave"), ("follow", "alice")]
    assert found[0]["status"]["id"] == str(bob_post.id)
    assert "bonjour" in found[2]["status"]["content"]
    token = await issue_token(instance, bob.id)
    status, body, _ = await raw(instance, "GET", "/api/v1/notifications", token)
    assert status == 200
    follow_entry = body[3]
    assert set(follow_entry) == {"id", "type", "created_at", "group_key", "account"}  # no `status` for a follow
    assert isinstance(follow_entry["id"], str) and follow_entry["created_at"].endswith("Z")
    single = await client.notifications(id=found[2]["id"])
    assert single["type"] == "mention"


async def test_types_exclude_types_and_account_narrow_the_notifications(busy_bob, mastodon_client):
    instance, alice, bob, carol, dave, _ = busy_bob
    client = await mastodon_client(instance, bob.id)
    assert [n["type"] for n in await client.notifications(types=["mention"])] == ["mention"]
    assert [n["type"] for n in await client.notifications(types=["follow", "favourite"])] == [
        "favourite", "follow", "follow"]
    assert [n["type"] for n in await client.notifications(exclude_types=["follow", "reblog"])] == [
        "favourite", "mention"]
    assert [n["type"] for n in await client.notifications(account_id=str(alice.id))] == [
        "reblog", "favourite", "follow"]


async def test_notifications_are_paginated_with_link_headers(busy_bob, mastodon_client):
    instance, _alice, bob, *_ = busy_bob
    client = await mastodon_client(instance, bob.id)
    everything = [n["id"] for n in await client.notifications()]
    page = await client.notifications(limit=2)
    seen = [n["id"] for n in page]
    while (page := await client.fetch_next(page)):
        seen.extend(n["id"] for n in page)
    assert seen == everything
    older = await client.notifications(max_id=everything[1], limit=2)
    assert [n["id"] for n in older] == everything[2:4]
    back = await client.fetch_previous(older)
    assert [n["id"] for n in back] == everything[:2]


async def test_dismiss_removes_one_notification_and_clear_removes_all(busy_bob, mastodon_client):
    instance, alice, bob, *_ = busy_bob
    client = await mastodon_client(instance, bob.id)
    found = await client.notifications()
    await client.notifications_dismiss(found[0]["id"])
    assert [n["id"] for n in await client.notifications()] == [n["id"] for n in found[1:]]
    with pytest.raises(MastodonNotFoundError):
        await client.notifications(id=found[0]["id"])
    # Nobody else can read or dismiss bob's notifications.
    intruder = await mastodon_client(instance, alice.id)
    with pytest.raises(MastodonNotFoundError):
        await intruder.notifications(id=found[1]["id"])
    with pytest.raises(MastodonNotFoundError):
        await intruder.notifications_dismiss(found[1]["id"])
    await client.notifications_clear()
    assert await client.notifications() == []


async def test_notifications_from_muted_and_blocked_accounts_are_hidden(busy_bob, mastodon_client):
    instance, alice, bob, carol, dave, _ = busy_bob
    client = await mastodon_client(instance, bob.id)
    await mute(instance.runtime, bob.id, dave.id, notifications=False)  # posts muted, notifications kept
    assert "dave" in [n["account"]["acct"] for n in await client.notifications()]
    await mute(instance.runtime, bob.id, dave.id, notifications=True)
    await outbox(instance).block(bob.id, carol.id)
    assert {n["account"]["acct"] for n in await client.notifications()} == {"alice"}


async def test_markers_move_forward_with_a_version_and_drive_the_unread_count(busy_bob, mastodon_client):
    instance, _alice, bob, *_ = busy_bob
    client = await mastodon_client(instance, bob.id)
    assert await client.markers_get(["home", "notifications"]) == {}
    found = await client.notifications()
    assert (await client.notifications_unread_count())["count"] == 5
    saved = await client.markers_set(["notifications", "home"], [found[2]["id"], "123"])
    assert saved["notifications"]["last_read_id"] == found[2]["id"] and saved["notifications"]["version"] == 0
    assert saved["home"]["last_read_id"] == "123"
    assert (await client.notifications_unread_count())["count"] == 2
    again = await client.markers_set("notifications", found[0]["id"])
    assert again["notifications"]["version"] == 1 and list(again) == ["notifications"]
    got = await client.markers_get(["home", "notifications"])
    assert (got["home"]["version"], got["notifications"]["version"]) == (0, 1)
    assert got["notifications"]["updated_at"] is not None
    assert (await client.notifications_unread_count())["count"] == 0
    # A form-encoded save (how older clients send it) works the same way.
    token = await issue_token(instance, bob.id)
    status, body, _ = await raw(instance, "POST", "/api/v1/markers", token, data={"home[last_read_id]": "456"})
    assert status == 200 and body["home"]["last_read_id"] == "456" and body["home"]["version"] == 1
    status, body, _ = await raw(instance, "GET", "/api/v1/markers?timeline[]=home", token)
    assert list(body) == ["home"]


# -- conversations ----------------------------------------------------------------------------------


async def test_direct_messages_form_conversations_with_unread_state(trio, mastodon_client):
    instance, alice, bob, carol = trio
    await post(instance, bob, "pas une conversation")
    first_dm = await post(instance, bob, "@alice on se voit ?", mentions=[alice], visibility="direct")
    await post(instance, carol, "@alice @bob réunion", mentions=[alice, bob], visibility="direct")
    client = await mastodon_client(instance, alice.id)
    conversations = await client.conversations()
    assert [sorted(a["acct"] for a in c["accounts"]) for c in conversations] == [["bob", "carol"], ["bob"]]
    assert all(c["unread"] for c in conversations)
    assert "on se voit" in conversations[1]["last_status"]["content"]
    with_bob = conversations[1]
    read = await client.conversations_read(with_bob["id"])
    assert read["unread"] is False and read["id"] == with_bob["id"]
    # alice answers: the conversation moves up and stays read; bob's answer makes it unread again.
    answer = await post(instance, alice, "@bob oui, demain", mentions=[bob], visibility="direct",
                        in_reply_to_id=first_dm.id)
    conversations = await client.conversations()
    assert conversations[0]["id"] == with_bob["id"] and conversations[0]["unread"] is False
    assert conversations[0]["last_status"]["id"] == str(answer.id)
    await post(instance, bob, "@alice parfait", mentions=[alice], visibility="direct", in_reply_to_id=answer.id)
    assert (await client.conversations())[0]["unread"] is True
    # bob sees the same thread from his side, with alice as the other participant.
    bob_view = await (await mastodon_client(instance, bob.id)).conversations()
    assert [a["acct"] for a in bob_view[0]["accounts"]] == ["alice"]


async def test_a_deleted_conversation_disappears_until_a_new_message_arrives(trio, mastodon_client):
    instance, alice, bob, _carol = trio
    dm = await post(instance, bob, "@alice premier", mentions=[alice], visibility="direct")
    client = await mastodon_client(instance, alice.id)
    conversation = (await client.conversations())[0]
    token = await issue_token(instance, alice.id)
    status, body, _ = await raw(instance, "DELETE", f"/api/v1/conversations/{conversation['id']}", token)
    assert (status, body) == (200, {})
    assert await client.conversations() == []
    await post(instance, bob, "@alice second", mentions=[alice], visibility="direct", in_reply_to_id=dm.id)
    back = await client.conversations()
    assert [c["id"] for c in back] == [conversation["id"]] and "second" in back[0]["last_status"]["content"]
    # Deleting the last message falls back to the previous one.
    last = await first(instance, select(Status).where(Status.content.like("%second%")))
    await outbox(instance).delete_status(bob.id, last.id)
    assert "premier" in (await client.conversations())[0]["last_status"]["content"]
    status, _, _ = await raw(instance, "POST", "/api/v1/conversations/999/read", token)
    assert status == 404


async def test_a_direct_message_from_the_other_instance_starts_a_conversation(make_instance, mastodon_client):
    a = await make_instance("commune-a.test")
    b = await make_instance("commune-b.test")
    alice = await make_account(a, "alice")
    bob = await make_account(b, "bob")
    alice_on_b = await remote_actor(b, "alice@commune-a.test")
    dm = await post(b, bob, "@alice@commune-a.test bonjour d'ailleurs", mentions=[alice_on_b], visibility="direct")
    await eventually(lambda: first(a, select(Status.id).where(Status.uri == dm.uri)), what="DM on commune-a")
    client = await mastodon_client(a, alice.id)
    conversations = await client.conversations()
    assert [[acc["acct"] for acc in c["accounts"]] for c in conversations] == [["bob@commune-b.test"]]
    assert conversations[0]["unread"] is True and conversations[0]["last_status"]["visibility"] == "direct"
    mention = (await client.notifications(types=["mention"]))[0]
    assert mention["account"]["acct"] == "bob@commune-b.test"
    assert await first(a, select(Follow.id)) is None  # no follow needed for a DM
