"""Polls, driven by the real Mastodon.py against live instances: voting rules on one instance, and
a poll federated as a `Question` whose votes travel both ways between commune-a and commune-b."""

from __future__ import annotations

import json
import ssl
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update

from fediverse.db import utcnow
from fediverse.models import Follow, Notification, Poll, PollVote, Status
from outbox.polls import close_ended_polls
from tests.api import test_statuses as shared
from tests.api.test_statuses import close, refused
from tests.federation_steps import count, first, make_account, outbox, remote_actor
from tests.live import LiveInstance, eventually

databases = shared.databases  # the same fixture: PostgreSQL when FEDIVERSE_TEST_POSTGRES_URL is set


def poll(client: Any, options: list[str], **kwargs: Any) -> dict[str, Any]:
    return client.sync.make_poll(options, expires_in=kwargs.pop("expires_in", 3600), **kwargs)


async def activitypub(instance: LiveInstance, uri: str) -> dict[str, Any]:
    headers = {"Accept": "application/activity+json"}
    async with aiohttp.ClientSession() as session, session.get(uri, headers=headers,
                                                               ssl=ssl.create_default_context()) as resp:
        assert resp.status == 200
        return json.loads(await resp.read())


async def expire(instance: LiveInstance, poll_id: str) -> None:
    async with instance.runtime.sessions() as session, session.begin():
        await session.execute(update(Poll).where(Poll.id == int(poll_id)).values(
            expires_at=utcnow() - timedelta(seconds=1)))


@pytest.fixture
async def town(make_instance, mastodon_client, databases):
    a = await make_instance("commune-a.test", **await databases())
    actors = {name: await make_account(a, name) for name in ("alice", "bob", "carol")}
    clients = {name: await mastodon_client(a, actor.id) for name, actor in actors.items()}
    yield a, actors, clients
    close(*clients.values())


async def test_a_single_choice_poll_takes_one_vote_per_account(town):
    a, actors, clients = town
    alice, carol = clients["alice"], clients["carol"]
    status = await alice.status_post("Date de la fête ?", poll=poll(alice, ["Samedi", "Dimanche"]))
    entity = status["poll"]
    assert [o["title"] for o in entity["options"]] == ["Samedi", "Dimanche"]
    assert (entity["multiple"], entity["expired"], entity["votes_count"], entity["voted"]) == (False, False, 0, False)
    assert entity["expires_at"] is not None
    for choices in ([0, 1], [5]):
        assert await refused(carol.poll_vote(entity["id"], choices)) == 422
    assert await refused(alice.poll_vote(entity["id"], [0])) == 422  # not in one's own poll
    voted = await carol.poll_vote(entity["id"], [1])
    assert (voted["voted"], voted["own_votes"], voted["votes_count"]) == (True, [1], 1)
    assert [o["votes_count"] for o in voted["options"]] == [0, 1]
    assert await refused(carol.poll_vote(entity["id"], [0])) == 422
    await clients["bob"].poll_vote(entity["id"], [1])
    seen = await alice.poll(entity["id"])
    assert (seen["votes_count"], seen["voters_count"], seen["voted"]) == (2, 2, False)
    assert (await alice.status(status["id"]))["poll"]["options"][1]["votes_count"] == 2
    await expire(a, entity["id"])
    assert await refused(clients["bob"].poll_vote(entity["id"], [0])) == 422
    assert (await carol.poll(entity["id"]))["expired"] is True


async def test_a_multiple_choice_poll_counts_votes_and_voters(town):
    a, actors, clients = town
    status = await clients["alice"].status_post(
        "Quels stands ?", poll=poll(clients["alice"], ["Crêpes", "Livres", "Jeux"], multiple=True))
    poll_id = status["poll"]["id"]
    voted = await clients["carol"].poll_vote(poll_id, [0, 2])
    assert (voted["own_votes"], voted["votes_count"], voted["voters_count"]) == ([0, 2], 2, 1)
    voted = await clients["bob"].poll_vote(poll_id, [2])
    assert [o["votes_count"] for o in voted["options"]] == [1, 0, 2] and voted["voters_count"] == 2


async def test_hidden_totals_stay_hidden_until_the_end(town):
    a, actors, clients = town
    status = await clients["alice"].status_post(
        "Budget participatif", poll=poll(clients["alice"], ["Parc", "Piste cyclable"], hide_totals=True))
    voted = await clients["carol"].poll_vote(status["poll"]["id"], [0])
    assert [o["votes_count"] for o in voted["options"]] == [None, None] and voted["own_votes"] == [0]
    await expire(a, status["poll"]["id"])
    assert [o["votes_count"] for o in (await clients["carol"].poll(status["poll"]["id"]))["options"]] == [1, 0]


async def test_the_end_of_a_poll_notifies_its_author_and_voters_once(town):
    a, actors, clients = town
    status = await clients["alice"].status_post("Horaires ?", poll=poll(clients["alice"], ["Matin", "Soir"]))
    await clients["carol"].poll_vote(status["poll"]["id"], [0])
    assert await close_ended_polls(a.runtime) == 0
    await expire(a, status["poll"]["id"])
    await close_ended_polls(a.runtime)
    for name in ("alice", "carol"):
        assert await count(a, Notification, Notification.recipient_id == actors[name].id,
                           Notification.kind == "poll", Notification.status_id == int(status["id"])) == 1
    assert await count(a, Notification, Notification.recipient_id == actors["bob"].id) == 0
    assert await close_ended_polls(a.runtime) == 0
    assert await count(a, Notification, Notification.kind == "poll") == 2
    question = await activitypub(a, status["uri"])
    assert question["type"] == "Question" and question["closed"] == question["endTime"]


async def test_editing_the_options_resets_the_votes_and_keeps_the_old_ones_in_history(town):
    a, actors, clients = town
    alice = clients["alice"]
    status = await alice.status_post("Couleur du banc ?", poll=poll(alice, ["Vert", "Bleu"]))
    await clients["carol"].poll_vote(status["poll"]["id"], [0])
    edited = await alice.status_update(status["id"], "Couleur du banc ?", poll=poll(alice, ["Vert", "Rouge"]))
    assert [o["title"] for o in edited["poll"]["options"]] == ["Vert", "Rouge"]
    assert edited["poll"]["votes_count"] == 0 and await count(a, PollVote) == 0
    history = await alice.status_history(status["id"])
    assert [[o["title"] for o in v["poll"]["options"]] for v in history] == [["Vert", "Bleu"], ["Vert", "Rouge"]]
    kept = await alice.status_update(status["id"], "Couleur du banc (vote en cours)",
                                     poll=poll(alice, ["Vert", "Rouge"]))
    assert kept["poll"]["id"] == edited["poll"]["id"]
    removed = await alice.status_update(status["id"], "Plus de sondage")
    assert removed["poll"] is None


# -- federation -----------------------------------------------------------------------------------

@pytest.fixture
async def pair(make_instance, mastodon_client, databases):
    a = await make_instance("commune-a.test", **await databases())
    b = await make_instance("commune-b.test", **await databases())
    alice = await make_account(a, "alice")
    carol = await make_account(a, "carol")
    bob = await make_account(b, "bob")
    alice_on_b = await remote_actor(b, "alice@commune-a.test")
    await outbox(b).follow(bob.id, alice_on_b.id)
    await eventually(lambda: first(b, select(Follow.id).where(Follow.follower_id == bob.id,
                                                              Follow.state == "accepted")), what="bob follows alice")
    clients = {"alice": await mastodon_client(a, alice.id), "carol": await mastodon_client(a, carol.id),
               "bob": await mastodon_client(b, bob.id)}
    yield a, b, clients
    close(*clients.values())


async def test_a_poll_federates_as_a_question_and_votes_are_counted_on_both_sides(pair):
    a, b, clients = pair
    alice, carol, bob = clients["alice"], clients["carol"], clients["bob"]
    status = await alice.status_post("Nom de la nouvelle place ?", poll=poll(alice, ["Place des Tilleuls",
                                                                                   "Place du Marché"]))
    question = await activitypub(a, status["uri"])
    assert question["type"] == "Question" and "endTime" in question and question["votersCount"] == 0
    assert [(o["name"], o["replies"]["totalItems"]) for o in question["oneOf"]] == [
        ("Place des Tilleuls", 0), ("Place du Marché", 0)]

    # commune-b shows it as a poll.
    on_b = await eventually(lambda: first(b, select(Status.id).where(Status.uri == status["uri"])),
                            what="the Question on commune-b")
    remote = await bob.status(str(on_b))
    assert [o["title"] for o in remote["poll"]["options"]] == ["Place des Tilleuls", "Place du Marché"]
    assert remote["poll"]["voted"] is False and remote["poll"]["expires_at"] is not None

    # bob votes on commune-b: the vote goes to alice's server, which counts it.
    voted = await bob.poll_vote(remote["poll"]["id"], [1])
    assert (voted["voted"], voted["own_votes"], voted["votes_count"]) == (True, [1], 1)

    async def counted_on_a() -> Any:
        seen = await alice.poll(status["poll"]["id"])
        return seen if seen["votes_count"] == 1 else None

    seen = await eventually(counted_on_a, what="bob's vote counted on commune-a")
    assert [o["votes_count"] for o in seen["options"]] == [0, 1] and seen["voters_count"] == 1
    # A vote is not a reply.
    assert (await alice.status(status["id"]))["replies_count"] == 0
    assert (await alice.status_context(status["id"]))["descendants"] == []
    assert await count(a, Status, Status.in_reply_to_id == int(status["id"])) == 0

    # carol votes on commune-a: the new totals reach commune-b (Update of the Question).
    await carol.poll_vote(status["poll"]["id"], [0])

    async def updated_on_b() -> Any:
        row = await first(b, select(Poll).where(Poll.status_id == on_b))
        return row if row.votes_count == 2 else None

    await eventually(updated_on_b, what="Update(Question) on commune-b")
    remote = await bob.status(str(on_b))
    assert [o["votes_count"] for o in remote["poll"]["options"]] == [1, 1]
    assert (remote["poll"]["own_votes"], remote["poll"]["voters_count"]) == ([1], 2)
    assert remote["edited_at"] is None
    assert await refused(bob.poll_vote(remote["poll"]["id"], [0])) == 422

    # The end: commune-a sends the final totals, commune-b shows the poll ended and tells bob.
    await expire(a, status["poll"]["id"])
    await close_ended_polls(a.runtime)

    async def ended_on_b() -> bool:
        return (await bob.poll(remote["poll"]["id"]))["expired"]

    await eventually(ended_on_b, what="the poll ended on commune-b")
    await close_ended_polls(b.runtime)
    assert await count(b, Notification, Notification.kind == "poll", Notification.status_id == on_b) == 1
