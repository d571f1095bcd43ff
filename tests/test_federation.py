"""Two instances of this server federating over real HTTPS on loopback (commune-a.test, commune-b.test)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from fediverse.models import (
    Actor,
    Block,
    Delivery,
    Favourite,
    Follow,
    IncomingActivity,
    Notification,
    Status,
    Tombstone,
)
from tests.federation_steps import count, first, html, make_account, outbox, remote_actor
from tests.live import eventually


@pytest.fixture
async def pair(make_instance):
    a = await make_instance("commune-a.test")
    b = await make_instance("commune-b.test")
    alice = await make_account(a, "alice")
    bob = await make_account(b, "bob")
    return a, b, alice, bob


async def _follow(a, b, follower, handle):
    target = await remote_actor(a, handle)
    await outbox(a).follow(follower.id, target.id)
    await eventually(lambda: first(a, select(Follow.state).where(
        Follow.follower_id == follower.id, Follow.followee_id == target.id, Follow.state == "accepted")),
        what="Accept to reach the follower's instance")
    return target


async def test_follow_is_accepted_and_listed_in_followers(pair):
    a, b, alice, bob = pair
    bob_on_a = await _follow(a, b, alice, "bob@commune-b.test")
    assert bob_on_a.uri == "https://commune-b.test/users/bob"
    alice_on_b = await first(b, select(Actor).where(Actor.uri == alice.uri))
    assert alice_on_b is not None and alice_on_b.domain == "commune-a.test"
    assert await first(b, select(Follow.state).where(Follow.follower_id == alice_on_b.id)) == "accepted"
    assert await first(b, select(Actor.followers_count).where(Actor.id == bob.id)) == 1
    assert await first(a, select(Actor.following_count).where(Actor.id == alice.id)) == 1
    notification = await first(b, select(Notification.kind).where(Notification.recipient_id == bob.id))
    assert notification == "follow"


async def test_posts_of_every_visibility_arrive_with_the_same_visibility(pair):
    a, b, alice, bob = pair
    await _follow(a, b, alice, "bob@commune-b.test")
    alice_on_b = await first(b, select(Actor).where(Actor.uri == alice.uri))
    posted = {}
    for visibility in ("public", "unlisted", "private"):
        status = await outbox(b).publish(bob.id, html(b, f"Message {visibility}"), visibility=visibility)
        posted[visibility] = status.uri
    dm = await outbox(b).publish(bob.id, html(b, "@alice@commune-a.test message privé", [alice_on_b]),
                                 visibility="direct", mentions=[alice_on_b])
    posted["direct"] = dm.uri
    for visibility, uri in posted.items():
        got = await eventually(lambda uri=uri: first(a, select(Status).where(Status.uri == uri)),
                               what=f"{visibility} post on commune-a")
        assert got.visibility == visibility
        assert got.local is False
    assert await first(a, select(Notification.kind).where(
        Notification.recipient_id == alice.id, Notification.kind == "mention")) == "mention"


async def test_reply_thread_boost_and_like_reach_the_author(pair):
    a, b, alice, bob = pair
    await _follow(a, b, alice, "bob@commune-b.test")
    original = await outbox(b).publish(bob.id, html(b, "Vide-grenier dimanche #Brocante"), tags=["Brocante"])
    on_a = await eventually(lambda: first(a, select(Status).where(Status.uri == original.uri)), what="post on A")
    reply = await outbox(a).publish(alice.id, html(a, "J'y serai !"), in_reply_to_id=on_a.id)
    reply_on_b = await eventually(lambda: first(b, select(Status).where(Status.uri == reply.uri)),
                                  what="reply on B")
    assert reply_on_b.in_reply_to_id == original.id
    await outbox(a).boost(alice.id, on_a.id)
    await outbox(a).favourite(alice.id, on_a.id)

    async def counters():
        row = await first(b, select(Status).where(Status.id == original.id))
        return row if (row.replies_count, row.reblogs_count, row.favourites_count) == (1, 1, 1) else None

    await eventually(counters, what="reply, boost and like counted on B")
    kinds = {k for k in (await _notification_kinds(b, bob.id))}
    assert {"mention", "reblog", "favourite"} <= kinds
    # Undo both: counters go back to zero.
    await outbox(a).unboost(alice.id, on_a.id)
    await outbox(a).unfavourite(alice.id, on_a.id)

    async def undone():
        row = await first(b, select(Status).where(Status.id == original.id))
        return (row.reblogs_count, row.favourites_count) == (0, 0)

    await eventually(undone, what="Undo of boost and like")
    assert await count(b, Favourite) == 0


async def _notification_kinds(instance, actor_id):
    async with instance.runtime.sessions() as session:
        return list((await session.scalars(select(Notification.kind).where(
            Notification.recipient_id == actor_id))).all())


async def test_delete_removes_the_post_and_leaves_a_tombstone(pair):
    a, b, alice, bob = pair
    await _follow(a, b, alice, "bob@commune-b.test")
    status = await outbox(b).publish(bob.id, html(b, "Annonce à supprimer"))
    await eventually(lambda: first(a, select(Status.id).where(Status.uri == status.uri)), what="post on A")
    await outbox(b).delete_status(bob.id, status.id)
    await eventually(lambda: first(a, select(Tombstone.uri).where(Tombstone.uri == status.uri)),
                     what="tombstone on A")
    assert await count(a, Status, Status.uri == status.uri) == 0


async def test_profile_update_refreshes_the_remote_copy(pair):
    a, b, alice, bob = pair
    await _follow(a, b, alice, "bob@commune-b.test")
    await outbox(b).update_profile(bob.id, display_name="Bob de Saint-Brice", summary="<p>Bénévole</p>")

    async def refreshed():
        return await first(a, select(Actor.display_name).where(Actor.uri == bob.uri)) == "Bob de Saint-Brice"

    await eventually(refreshed, what="profile update on A")


async def test_unfollow_and_block_cut_the_relation_on_both_sides(pair):
    a, b, alice, bob = pair
    bob_on_a = await _follow(a, b, alice, "bob@commune-b.test")
    await outbox(a).unfollow(alice.id, bob_on_a.id)
    await eventually(lambda: _no_follows(b), what="Undo(Follow) on B")
    await _follow(a, b, alice, "bob@commune-b.test")
    alice_on_b = await first(b, select(Actor).where(Actor.uri == alice.uri))
    await outbox(b).block(bob.id, alice_on_b.id)
    await eventually(lambda: first(a, select(Block.id).where(Block.target_id == alice.id)), what="Block on A")
    assert await count(a, Follow) == 0
    assert await count(b, Follow) == 0


async def _no_follows(instance):
    return await count(instance, Follow) == 0


async def test_delivery_to_a_host_that_is_down_is_retried_when_it_comes_back(pair):
    a, b, alice, bob = pair
    await _follow(a, b, alice, "bob@commune-b.test")
    await b.stop()
    alice_on_b_uri = alice.uri
    # Bob's instance is down: Alice's reply to nobody in particular is for her followers... use a DM to Bob.
    bob_on_a = await first(a, select(Actor).where(Actor.uri == bob.uri))
    dm = await outbox(a).publish(alice.id, html(a, "@bob@commune-b.test tu es là ?", [bob_on_a]),
                                 visibility="direct", mentions=[bob_on_a])

    async def retried():
        row = await first(a, select(Delivery).where(Delivery.host == "commune-b.test", Delivery.state == "pending",
                                                    Delivery.attempts >= 1))
        return row

    failing = await eventually(retried, what="a failed attempt recorded")
    assert failing.last_error
    await b.start()
    await eventually(lambda: first(b, select(Status.id).where(Status.uri == dm.uri)), within=30,
                     what="DM delivered after the host came back")
    assert await first(a, select(Delivery.state).where(Delivery.id == failing.id)) == "delivered"
    assert alice_on_b_uri


async def test_each_activity_is_processed_once(pair):
    a, b, alice, bob = pair
    await _follow(a, b, alice, "bob@commune-b.test")
    await outbox(b).publish(bob.id, html(b, "Un"))
    await eventually(lambda: first(a, select(Status.id).where(Status.actor_id != alice.id)), what="post")
    async with a.runtime.sessions() as session:
        rows = (await session.scalars(select(IncomingActivity))).all()
    assert rows and all(r.state in ("done", "pending") for r in rows), [(r.activity_type, r.error) for r in rows]
    assert len({r.activity_uri for r in rows}) == len(rows)
    assert all(json.loads(r.body)["id"] == r.activity_uri for r in rows)


async def test_locked_account_holds_the_follow_until_approved(pair):
    a, b, alice, bob = pair
    await outbox(b).update_profile(bob.id, manually_approves_followers=True)
    bob_on_a = await remote_actor(a, "bob@commune-b.test")
    assert bob_on_a.manually_approves_followers is True
    await outbox(a).follow(alice.id, bob_on_a.id)
    alice_on_b = await eventually(lambda: first(b, select(Actor).where(Actor.uri == alice.uri)),
                                  what="follow request on B")
    await eventually(lambda: first(b, select(Notification.id).where(Notification.kind == "follow_request")),
                     what="follow request notification")
    assert await first(b, select(Follow.state).where(Follow.follower_id == alice_on_b.id)) == "pending"
    assert await first(a, select(Follow.state).where(Follow.follower_id == alice.id)) == "pending"
    await outbox(b).answer_follow_request(bob.id, alice_on_b.id, accept=True)
    await eventually(lambda: first(a, select(Follow.id).where(Follow.follower_id == alice.id,
                                                              Follow.state == "accepted")),
                     what="Accept after approval")


async def test_rejected_follow_request_disappears_on_both_sides(pair):
    a, b, alice, bob = pair
    await outbox(b).update_profile(bob.id, manually_approves_followers=True)
    bob_on_a = await remote_actor(a, "bob@commune-b.test")
    await outbox(a).follow(alice.id, bob_on_a.id)
    alice_on_b = await eventually(lambda: first(b, select(Actor).where(Actor.uri == alice.uri)),
                                  what="follow request on B")
    await eventually(lambda: first(b, select(Follow.id).where(Follow.follower_id == alice_on_b.id)),
                     what="pending follow stored")
    await outbox(b).answer_follow_request(bob.id, alice_on_b.id, accept=False)
    await eventually(lambda: _no_follows(a), what="Reject processed on A")
    assert await count(b, Follow) == 0


async def test_edit_updates_the_remote_copy(pair):
    a, b, alice, bob = pair
    await _follow(a, b, alice, "bob@commune-b.test")
    status = await outbox(b).publish(bob.id, html(b, "Marché le mardi"))
    await eventually(lambda: first(a, select(Status.id).where(Status.uri == status.uri)), what="post on A")
    await outbox(b).edit(bob.id, status.id, html(b, "Marché le mercredi"))

    async def edited():
        content = await first(a, select(Status.content).where(Status.uri == status.uri))
        return content and "mercredi" in content

    await eventually(edited, what="Update(Note) on A")
    assert await first(a, select(Status.updated).where(Status.uri == status.uri)) is not None


async def test_pinned_post_appears_in_the_remote_featured_collection(pair):
    a, b, alice, bob = pair
    await _follow(a, b, alice, "bob@commune-b.test")
    status = await outbox(b).publish(bob.id, html(b, "Horaires de la mairie"))
    on_a = await eventually(lambda: first(a, select(Status.id).where(Status.uri == status.uri)), what="post")
    await outbox(b).pin(bob.id, status.id)
    from fediverse.models import FeaturedStatus

    await eventually(lambda: first(a, select(FeaturedStatus.id).where(FeaturedStatus.status_id == on_a)),
                     what="Add to featured on A")
    await outbox(b).pin(bob.id, status.id, pinned=False)
    await eventually(lambda: _none(a, FeaturedStatus), what="Remove from featured on A")


async def _none(instance, model):
    return await count(instance, model) == 0


async def test_remote_html_is_sanitized_and_mentions_kept(pair):
    a, b, alice, bob = pair
    alice_on_b = await remote_actor(b, "alice@commune-a.test")
    content = (html(b, "@alice@commune-a.test regarde", [alice_on_b])
               + '<script>alert(1)</script><img src=x onerror=alert(1)><a href="javascript:alert(1)">x</a>')
    status = await outbox(b).publish(bob.id, content, mentions=[alice_on_b])
    got = await eventually(lambda: first(a, select(Status).where(Status.uri == status.uri)), what="mention on A")
    assert "<script" not in got.content and "onerror" not in got.content and "javascript:" not in got.content
    assert 'class="u-url mention"' in got.content


async def test_move_brings_local_followers_to_the_new_account(pair):
    a, b, alice, bob = pair
    carol = await make_account(b, "carol")
    await _follow(b, a, carol, "alice@commune-a.test")  # carol@B follows alice@A
    # alice moves to bob's instance as "alice2", which first declares the old account as an alias.
    alice2 = await make_account(b, "alice2")
    await outbox(b).update_profile(alice2.id, also_known_as=[alice.uri])
    alice2_on_a = await remote_actor(a, "alice2@commune-b.test")
    await outbox(a).move(alice.id, alice2_on_a)
    await eventually(lambda: first(b, select(Follow.id).where(Follow.follower_id == carol.id,
                                                              Follow.followee_id == alice2.id,
                                                              Follow.state == "accepted")),
                     what="carol following alice2 after the Move")
    assert await first(b, select(Actor.moved_to_uri).where(Actor.uri == alice.uri)) == alice2.uri

    async def old_follow_gone():
        return await count(b, Follow, Follow.follower_id == carol.id) == 1

    await eventually(old_follow_gone, what="the follow of the old account undone")
