"""Interest groups (FEP-1b12) across two live instances over TLS: a group on commune-a.test with members on
both instances, joining by Follow, re-sharing members' posts with Announce, members-only groups, and
moderation from a Mastodon app authorized for the group (Mastodon.py)."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from actors.groups import create_group
from fediverse.api.auth import hash_secret, new_secret
from fediverse.models import Actor, Follow, IncomingActivity, Notification, OAuthToken, OutgoingActivity, Status, User
from fediverse.uris import PUBLIC
from tests.conftest import ThreadedClient
from tests.federation_steps import count, first, html, make_account, outbox, remote_actor
from tests.live import LiveInstance, eventually

AS_ACCEPT = {"Accept": "application/activity+json"}


@pytest.fixture
async def group_app(make_instance: Any) -> AsyncIterator[Callable[..., Awaitable[ThreadedClient]]]:
    """Mastodon.py with a token a moderator authorized for the group identity (user = moderator, actor =
    group), as the OAuth consent page issues it."""
    from mastodon import Mastodon

    clients: list[Any] = []

    async def make(instance: LiveInstance, moderator: Actor, group: Actor) -> ThreadedClient:
        token = new_secret()
        async with instance.runtime.sessions() as session, session.begin():
            user_id = await session.scalar(select(User.id).where(User.actor_id == moderator.id))
            session.add(OAuthToken(token_hash=hash_secret(token), user_id=user_id, actor_id=group.id,
                                   scopes="read write follow"))
        client = Mastodon(api_base_url=instance.base_url, access_token=token, version_check_mode="none",
                          request_timeout=30)
        client.session.headers["Connection"] = "close"
        clients.append(client)
        return ThreadedClient(client)

    yield make
    for client in clients:
        client.session.close()


async def _group(instance: LiveInstance, name: str, owner: str, **options: Any) -> Actor:
    async with instance.runtime.sessions() as session, session.begin():
        return await create_group(session, instance.runtime.uris, name, owner=owner, **options)


@pytest.fixture
async def town(make_instance: Any) -> dict[str, Any]:
    """commune-a: moderator maelle, member alice, outsider zoe; commune-b: members bob and bea, outsider ben."""
    a = await make_instance("commune-a.test")
    b = await make_instance("commune-b.test")
    people = {name: await make_account(a, name) for name in ("maelle", "alice", "zoe")}
    people.update({name: await make_account(b, name) for name in ("bob", "bea", "ben")})
    return {"a": a, "b": b, **people}


async def _join_remote(b: LiveInstance, member: Actor, handle: str, *, state: str = "accepted") -> Actor:
    """`member` (on B) follows the group; returns the group as B knows it once the Follow is in `state`."""
    group_on_b = await remote_actor(b, handle)
    await outbox(b).follow(member.id, group_on_b.id)
    await eventually(lambda: first(b, select(Follow.id).where(
        Follow.follower_id == member.id, Follow.followee_id == group_on_b.id, Follow.state == state)),
        what=f"{member.username}'s Follow of {handle} {state} on B")
    return group_on_b


def _reblogs_of(timeline: list[Any], uri: str, by_acct: str) -> list[Any]:
    return [s for s in timeline if s.get("reblog") and s["reblog"]["uri"] == uri and s["account"]["acct"] == by_acct]


async def _processed(instance: LiveInstance, activity_uri: str | None) -> Any:
    """The inbox worker finished with this activity (handled, ignored or rejected)."""
    return await first(instance, select(IncomingActivity.id).where(
        IncomingActivity.activity_uri == activity_uri, IncomingActivity.processed_at.is_not(None)))


async def test_group_actor_document_names_its_moderators_like_lemmy(town: dict[str, Any]) -> None:
    a = town["a"]
    group = await _group(a, "parents", "maelle", display_name="Parents de CE2", approval=True)
    async with aiohttp.ClientSession() as http:
        async with http.get(group.uri, headers=AS_ACCEPT, ssl=ssl.create_default_context()) as response:
            doc = await response.json(content_type=None)
        async with http.get(doc["attributedTo"], headers=AS_ACCEPT, ssl=ssl.create_default_context()) as response:
            moderators = await response.json(content_type=None)
        async with http.get(f"{a.base_url}/users/alice/moderators", headers=AS_ACCEPT,
                            ssl=ssl.create_default_context()) as response:
            not_a_group = response.status
    assert doc["type"] == "Group" and doc["name"] == "Parents de CE2"
    assert doc["attributedTo"] == f"{group.uri}/moderators"
    assert doc["postingRestrictedToMods"] is False and doc["manuallyApprovesFollowers"] is True
    assert doc["territoryKind"] == "group"
    assert moderators["type"] == "OrderedCollection" and moderators["orderedItems"] == [town["maelle"].uri]
    assert not_a_group == 404


async def test_remote_members_post_is_announced_to_members_on_both_instances(town: dict[str, Any],
                                                                             mastodon_client: Any) -> None:
    a, b, bob = town["a"], town["b"], town["bob"]
    group = await _group(a, "parents", "maelle")
    group_on_b = await _join_remote(b, bob, "parents@commune-a.test")
    await _join_remote(b, town["bea"], "parents@commune-a.test")
    await outbox(a).follow(town["alice"].id, group.id)  # a local member joins at once (open group)
    post = await outbox(b).publish(bob.id, html(b, "@parents@commune-a.test Réunion jeudi à 18h", [group_on_b]),
                                   mentions=[group_on_b])

    boost = await eventually(lambda: first(a, select(Status).where(
        Status.actor_id == group.id, Status.reblog_of_id.is_not(None))), what="the group's boost on A")
    announce = json.loads(await first(a, select(OutgoingActivity.body).where(OutgoingActivity.uri == boost.uri)))
    assert (announce["type"], announce["actor"], announce["object"]) == ("Announce", group.uri, post.uri)
    assert announce["to"] == [PUBLIC] and group.followers_url in announce["cc"]

    alice_app = await mastodon_client(a, town["alice"].id)
    assert _reblogs_of(await alice_app.timeline_home(), post.uri, "parents")
    bea_app = await mastodon_client(b, town["bea"].id)

    async def bea_sees_it() -> Any:
        return _reblogs_of(await bea_app.timeline_home(), post.uri, "parents@commune-a.test")

    await eventually(bea_sees_it, what="the group's boost in bea's home timeline on B")
    ben_app = await mastodon_client(b, town["ben"].id)
    assert not _reblogs_of(await ben_app.timeline_home(), post.uri, "parents@commune-a.test")
    # The author is told the group shared the post.
    assert await eventually(lambda: first(b, select(Notification.id).where(
        Notification.recipient_id == bob.id, Notification.kind == "reblog")), what="reblog notification")


async def test_local_members_post_and_replies_in_its_thread_reach_remote_members(town: dict[str, Any]) -> None:
    a, b, alice, bob = town["a"], town["b"], town["alice"], town["bob"]
    group = await _group(a, "parents", "maelle")
    await _join_remote(b, bob, "parents@commune-a.test")
    await outbox(a).follow(alice.id, group.id)
    post = await outbox(a).publish(alice.id, html(a, "@parents Qui garde les enfants mercredi ?", [group]),
                                   mentions=[group])
    assert await count(a, Status, Status.actor_id == group.id, Status.reblog_of_id == post.id) == 1
    boost_on_b = await eventually(lambda: first(b, select(Status).join(Actor, Actor.id == Status.actor_id).where(
        Actor.uri == group.uri, Status.reblog_of_id.is_not(None))), what="the group's boost on B")
    original_on_b = await first(b, select(Status).where(Status.id == boost_on_b.reblog_of_id))
    assert original_on_b.uri == post.uri
    async with aiohttp.ClientSession() as http:
        async with http.get(post.uri, headers=AS_ACCEPT, ssl=ssl.create_default_context()) as response:
            note = await response.json(content_type=None)
    assert note["audience"] == group.uri
    # bob answers in the group's thread (Mastodon mentions only the author): the group re-shares the reply.
    reply = await outbox(b).publish(bob.id, html(b, "Moi !"), in_reply_to_id=original_on_b.id)
    reply_on_a = await eventually(lambda: first(a, select(Status).where(Status.uri == reply.uri)), what="reply on A")
    assert await eventually(lambda: first(a, select(Status.id).where(
        Status.actor_id == group.id, Status.reblog_of_id == reply_on_a.id)), what="the group's boost of the reply")


async def test_posts_of_non_members_are_not_reshared(town: dict[str, Any]) -> None:
    a, b, ben = town["a"], town["b"], town["ben"]
    group = await _group(a, "parents", "maelle")
    await _join_remote(b, town["bob"], "parents@commune-a.test")
    group_on_b = await remote_actor(b, "parents@commune-a.test")
    post = await outbox(b).publish(ben.id, html(b, "@parents@commune-a.test Publicité", [group_on_b]),
                                   mentions=[group_on_b])
    await eventually(lambda: _processed(a, post.activity_uri), what="ben's Create processed on A")
    assert await first(a, select(Status.id).where(Status.uri == post.uri)) is not None  # stored: it mentions us
    local = await outbox(a).publish(town["zoe"].id, html(a, "@parents Spam", [group]), mentions=[group])
    assert await count(a, Status, Status.actor_id == group.id) == 0
    assert local.id
    # Followers-only posts are never re-shared, even from members.
    await outbox(a).follow(town["alice"].id, group.id)
    await outbox(a).publish(town["alice"].id, html(a, "@parents privé", [group]), mentions=[group],
                            visibility="private")
    assert await count(a, Status, Status.actor_id == group.id) == 0


async def test_members_only_group_with_approval(town: dict[str, Any], group_app: Any, mastodon_client: Any) -> None:
    a, b, bob = town["a"], town["b"], town["bob"]
    group = await _group(a, "conseil", "maelle", members_only=True, approval=True)
    group_on_b = await _join_remote(b, bob, "conseil@commune-a.test", state="pending")
    await eventually(lambda: first(a, select(Notification.id).where(
        Notification.recipient_id == group.id, Notification.kind == "follow_request")), what="follow request on A")
    bob_on_a = await first(a, select(Actor).where(Actor.uri == bob.uri))
    moderator_app = await group_app(a, town["maelle"], group)
    requests = await moderator_app.follow_requests()
    assert [r["acct"] for r in requests] == ["bob@commune-b.test"]
    await moderator_app.follow_request_authorize(bob_on_a.id)
    await eventually(lambda: first(b, select(Follow.id).where(
        Follow.follower_id == bob.id, Follow.followee_id == group_on_b.id, Follow.state == "accepted")),
        what="Accept of bob's request on B")

    post = await outbox(b).publish(bob.id, html(b, "@conseil@commune-a.test Ordre du jour", [group_on_b]),
                                   mentions=[group_on_b])
    boost = await eventually(lambda: first(a, select(Status).where(Status.actor_id == group.id)),
                             what="the group's boost on A")
    assert boost.visibility == "private"
    announce = await first(a, select(OutgoingActivity).where(OutgoingActivity.uri == boost.uri))
    body = json.loads(announce.body)
    assert body["to"] == [group.followers_url] and PUBLIC not in body["to"] + body["cc"]
    assert announce.public is False
    on_b = await eventually(lambda: first(b, select(Status).where(Status.activity_uri == boost.uri)),
                            what="the Announce on B")
    assert on_b.visibility != "public"
    ben_app = await mastodon_client(b, town["ben"].id)
    assert not _reblogs_of(await ben_app.timeline_home(), post.uri, "conseil@commune-a.test")
    async with aiohttp.ClientSession() as http:
        async with http.get(group.outbox_url, headers=AS_ACCEPT, ssl=ssl.create_default_context()) as response:
            outbox_doc = await response.json(content_type=None)
        async with http.get(f"{group.followers_url}?page=true", headers=AS_ACCEPT,
                            ssl=ssl.create_default_context()) as response:
            followers_page = await response.json(content_type=None)
    assert outbox_doc["totalItems"] == 0
    assert followers_page["orderedItems"] == []


async def test_moderator_removes_a_post_and_a_member_from_the_groups_app(town: dict[str, Any],
                                                                         group_app: Any) -> None:
    a, b, bob = town["a"], town["b"], town["bob"]
    group = await _group(a, "parents", "maelle")
    group_on_b = await _join_remote(b, bob, "parents@commune-a.test")
    await _join_remote(b, town["bea"], "parents@commune-a.test")
    post = await outbox(b).publish(bob.id, html(b, "@parents@commune-a.test Hors sujet", [group_on_b]),
                                   mentions=[group_on_b])
    boost = await eventually(lambda: first(a, select(Status).where(Status.actor_id == group.id)),
                             what="the group's boost on A")
    await eventually(lambda: first(b, select(Status.id).where(Status.activity_uri == boost.uri)),
                     what="the boost on B")
    moderator_app = await group_app(a, town["maelle"], group)
    await moderator_app.status_unreblog(boost.reblog_of_id)
    assert await count(a, Status, Status.actor_id == group.id) == 0

    async def gone_on_b() -> bool:
        return await count(b, Status, Status.activity_uri == boost.uri) == 0

    await eventually(gone_on_b, what="Undo(Announce) removing the boost on B")
    assert await first(b, select(Status.reblogs_count).where(Status.id == post.id)) == 0

    bob_on_a = await first(a, select(Actor).where(Actor.uri == bob.uri))
    await moderator_app.account_remove_from_followers(bob_on_a.id)
    assert await count(a, Follow, Follow.follower_id == bob_on_a.id) == 0

    async def bob_left() -> bool:
        return await count(b, Follow, Follow.follower_id == bob.id, Follow.followee_id == group_on_b.id) == 0

    await eventually(bob_left, what="Reject(Follow) removing bob's Follow on B")
    # No longer a member: his next post to the group is not re-shared.
    again = await outbox(b).publish(bob.id, html(b, "@parents@commune-a.test Encore", [group_on_b]),
                                    mentions=[group_on_b])
    await eventually(lambda: _processed(a, again.activity_uri), what="bob's new Create processed on A")
    assert await count(a, Status, Status.actor_id == group.id) == 0
