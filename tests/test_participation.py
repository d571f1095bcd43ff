"""Taking part in events exactly like Mobilizon: Join / Accept (the whole Join inside) / Reject / Leave.

commune-a.test is our server (organiser alice). commune-c.test is a fake Mobilizon instance: a tiny aiohttp
app with its own key that serves its participants' actor documents, signs the Joins and Leaves it POSTs to
A's inbox in Mobilizon's shapes, and records what A delivers back. commune-b.test is a second instance of
our server whose residents join A's events through the client API. RSVP replies come from Mastodon.py.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from actors.remote import ActorResolver
from fediverse.ids import new_id
from fediverse.keys import generate_rsa_keypair
from fediverse.models import Actor, Event, Follow, IncomingActivity, Notification, Participation, Status
from fediverse.signatures import sign_request
from outbox.events import EventCommands, event_spec
from outbox.rsvp import rsvp_intent
from tests.conftest import issue_token
from tests.federation_steps import count, first, make_account, outbox, remote_actor
from tests.live import LiveInstance, eventually, serve_on_test_host

C = "https://commune-c.test"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
MOBILIZON_CONTEXT = ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1",
                     {"mz": "https://joinmobilizon.org/ns#",
                      "participationMessage": {"@id": "mz:participationMessage", "@type": "sc:Text"}}]


# -- the keyword rule ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "intent"), [
    ("Je participe !", "join"),
    ("@alice@commune-a.test je participe", "join"),
    ("J’y vais, à samedi", "join"),
    ("J'Y VAIS", "join"),
    ("Super, je viens avec ma sœur.", "join"),
    ("Inscrite !", "join"),
    ("Inscription pour deux personnes svp", "join"),
    ("je ne participe pas", None),
    ("Je participe pas, désolé", None),
    ("Je ne suis pas inscrit", None),
    ("Je ne sais pas si je viens", None),
    ("L'inscription est-elle obligatoire ?", None),
    ("Qui participe ?", None),
    ("Bravo pour l'organisation", None),
    ("Je ne viens plus, désolée", "leave"),
    ("désinscription", "leave"),
    ("Je me désinscris. Je participe à autre chose", "leave"),
    ("", None),
])
def test_the_rsvp_keywords_join_or_leave_only_when_affirmed(text: str, intent: str | None) -> None:
    assert rsvp_intent(text) == intent


# -- a fake Mobilizon instance -------------------------------------------------------------------------

@dataclass
class FakeMobilizon:
    """Participants of a Mobilizon instance on commune-c.test (one key shared by all, for speed)."""

    keys: tuple[str, str] = field(default_factory=generate_rsa_keypair)
    received: list[tuple[dict[str, Any], str]] = field(default_factory=list)

    @staticmethod
    def actor(name: str) -> str:
        return f"{C}/@{name}"

    def document(self, name: str) -> dict[str, Any]:
        uri = self.actor(name)
        return {"@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
                "id": uri, "type": "Person", "preferredUsername": name, "name": name.title(),
                "inbox": f"{uri}/inbox", "outbox": f"{uri}/outbox", "endpoints": {"sharedInbox": f"{C}/inbox"},
                "publicKey": {"id": f"{uri}#main-key", "owner": uri, "publicKeyPem": self.keys[1]}}

    def join(self, name: str, event_uri: str, message: str | None = None) -> dict[str, Any]:
        doc = {"@context": MOBILIZON_CONTEXT, "id": f"{C}/join/event/{new_id()}", "type": "Join",
               "actor": self.actor(name), "object": event_uri, "to": [self.actor(name)], "cc": []}
        if message is not None:
            doc["participationMessage"] = message
        return doc

    def leave(self, name: str, event_uri: str) -> dict[str, Any]:
        return {"@context": MOBILIZON_CONTEXT, "id": f"{C}/leave/event/{new_id()}", "type": "Leave",
                "actor": self.actor(name), "object": event_uri, "to": [self.actor(name)], "cc": []}

    def answers(self, kind: str, join_id: str | None = None) -> list[dict[str, Any]]:
        return [body for body, _ in self.received if body.get("type") == kind
                and (join_id is None or isinstance(body.get("object"), dict) and body["object"].get("id") == join_id)]

    def signature_of(self, body: dict[str, Any]) -> str:
        return next(signature for received, signature in self.received if received is body)

    async def post(self, http: aiohttp.ClientSession, activity: dict[str, Any], url: str = "https://commune-a.test/inbox"
                   ) -> int:
        body = json.dumps(activity).encode()
        headers = sign_request("POST", url, key_id=f"{activity['actor']}#main-key", private_key_pem=self.keys[0],
                               body=body, headers={"Content-Type": "application/activity+json"})
        async with http.post(url, data=body, headers=headers) as response:
            return response.status


@pytest.fixture
async def mobilizon(test_ca: Any) -> AsyncIterator[FakeMobilizon]:
    ca, _ = test_ca
    fake = FakeMobilizon()

    async def actor(request: web.Request) -> web.Response:
        return web.json_response(fake.document(request.match_info["name"]), content_type="application/activity+json")

    async def inbox(request: web.Request) -> web.Response:
        fake.received.append((json.loads(await request.read()), request.headers.get("Signature", "")))
        return web.json_response({}, status=202)

    app = web.Application()
    app.router.add_get("/@{name}", actor)
    app.router.add_post("/inbox", inbox)
    app.router.add_post("/@{name}/inbox", inbox)
    async with serve_on_test_host(app, ca, backlog=1024):
        yield fake


def http_client(token: str | None = None, limit: int = 100) -> aiohttp.ClientSession:
    headers = {"Authorization": f"Bearer {token}"} if token else {"Accept": "application/activity+json"}
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl.create_default_context(), limit=limit),
                                 headers=headers)


# -- steps ----------------------------------------------------------------------------------------------

def start_in(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


async def make_event(instance: LiveInstance, organiser: Actor, **fields: Any) -> tuple[Event, Status]:
    raw = {"title": "Fest-noz de la Saint-Jean", "description": "Venez danser !", "start": start_in(7), **fields}
    event = await EventCommands(instance.runtime).create_event(organiser.id, event_spec(raw))
    async with instance.runtime.sessions() as session:
        status = await session.get(Status, event.status_id)
    assert status is not None
    return event, status


async def event_row(instance: LiveInstance, event_id: int) -> Event:
    row = await first(instance, select(Event).where(Event.id == event_id).execution_options(populate_existing=True))
    assert row is not None
    return row


async def terms(instance: LiveInstance, status: Status) -> dict[str, Any]:
    """participantCount / remainingAttendeeCapacity of the event document A serves at the event's id."""
    async with http_client() as http, http.get(status.uri) as response:
        assert response.status == 200
        doc = await response.json(content_type=None)
    return {k: doc.get(k) for k in ("participantCount", "remainingAttendeeCapacity")}


async def states(instance: LiveInstance, event_id: int) -> dict[str, str]:
    async with instance.runtime.sessions() as session:
        rows = await session.execute(select(Actor.uri, Participation.state).join(
            Participation, Participation.actor_id == Actor.id).where(Participation.event_id == event_id))
        return {uri: state for uri, state in rows}


async def processed(instance: LiveInstance, activity_id: str) -> IncomingActivity:
    async def done() -> IncomingActivity | None:
        row = await first(instance, select(IncomingActivity).where(IncomingActivity.activity_uri == activity_id)
                          .execution_options(populate_existing=True))
        return row if row is not None and row.state != "pending" else None
    return await eventually(done, what=f"{activity_id} processed")


def without_context(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "@context"}


@pytest.fixture
async def town(make_instance: Any, mobilizon: FakeMobilizon) -> tuple[LiveInstance, Actor, FakeMobilizon]:
    a = await make_instance("commune-a.test")
    alice = await make_account(a, "alice")
    return a, alice, mobilizon


# -- a Mobilizon participant -----------------------------------------------------------------------------

async def test_a_free_event_accepts_a_mobilizon_join_with_the_whole_join_inside_and_leave_frees_the_place(town):
    a, alice, mz = town
    event, status = await make_event(a, alice, capacity=2)
    join = mz.join("anne", status.uri, "Je viendrai avec mon accordéon")
    async with http_client() as http:
        assert await mz.post(http, join) == 202
        accept = (await eventually(lambda: _answers(mz, "Accept", join["id"]), what="Accept at Mobilizon"))[0]
        assert accept["actor"] == alice.uri
        assert accept["object"] == without_context(join)  # the whole Join, as sent
        assert accept["to"] == [mz.actor("anne")]
        assert f'keyId="{alice.uri}#main-key"' in mz.signature_of(accept)
        assert await states(a, event.id) == {mz.actor("anne"): "accepted"}
        assert (await event_row(a, event.id)).participant_count == 1
        assert await terms(a, status) == {"participantCount": 1, "remainingAttendeeCapacity": 1}
        message = await first(a, select(Participation.message).where(Participation.event_id == event.id))
        assert message == "Je viendrai avec mon accordéon"

        # The same participant joins again (a new Join id): answered again, counted once.
        again = mz.join("anne", status.uri)
        assert await mz.post(http, again) == 202
        second = (await eventually(lambda: _answers(mz, "Accept", again["id"]), what="second Accept"))[0]
        assert second["object"] == without_context(again)
        assert (await event_row(a, event.id)).participant_count == 1

        leave = mz.leave("anne", status.uri)
        assert await mz.post(http, leave) == 202
        assert (await processed(a, leave["id"])).state == "done"
    assert await states(a, event.id) == {}
    assert (await event_row(a, event.id)).participant_count == 0
    assert await terms(a, status) == {"participantCount": 0, "remainingAttendeeCapacity": 2}


async def _answers(mz: FakeMobilizon, kind: str, join_id: str) -> list[dict[str, Any]]:
    return mz.answers(kind, join_id)


async def test_a_full_event_rejects_the_next_join_and_its_count_stays(town):
    a, alice, mz = town
    event, status = await make_event(a, alice, capacity=1)
    first_join, next_join = mz.join("anne", status.uri), mz.join("bert", status.uri)
    async with http_client() as http:
        assert await mz.post(http, first_join) == 202
        await eventually(lambda: _answers(mz, "Accept", first_join["id"]), what="Accept of the first Join")
        assert await mz.post(http, next_join) == 202
        reject = (await eventually(lambda: _answers(mz, "Reject", next_join["id"]), what="Reject"))[0]
    assert reject["actor"] == alice.uri and reject["object"] == without_context(next_join)
    assert await states(a, event.id) == {mz.actor("anne"): "accepted"}
    assert (await event_row(a, event.id)).participant_count == 1
    assert await terms(a, status) == {"participantCount": 1, "remainingAttendeeCapacity": 0}
    assert mz.answers("Accept", next_join["id"]) == []


async def test_a_restricted_event_keeps_a_join_pending_until_the_organiser_authorizes_it_through_the_api(town):
    a, alice, mz = town
    carol = await make_account(a, "carol")
    event, status = await make_event(a, alice, join_mode="restricted", capacity=5)
    join = mz.join("anne", status.uri, "<p>Bonjour, <b>je</b> suis bénévole</p>")
    alice_token, carol_token = await issue_token(a, alice.id), await issue_token(a, carol.id)
    base = f"https://commune-a.test/api/v1/events/{status.id}"
    async with http_client() as http:
        assert await mz.post(http, join) == 202
        assert (await processed(a, join["id"])).state == "done"
        assert await states(a, event.id) == {mz.actor("anne"): "pending"}
        assert mz.answers("Accept") == [] and mz.answers("Reject") == []
        # The organiser is told with a notification every Mastodon app shows: the event, from the participant.
        anne = await first(a, select(Actor).where(Actor.uri == mz.actor("anne")))
        assert await count(a, Notification, Notification.recipient_id == alice.id, Notification.kind == "mention",
                           Notification.from_actor_id == anne.id, Notification.status_id == status.id) == 1

        async with http_client(alice_token) as api:
            async with api.get(f"{base}/participants") as response:
                listing = await response.json()
            assert response.status == 200
            assert [(p["account"]["acct"], p["state"], p["message"]) for p in listing["participants"]] == [
                ("anne@commune-c.test", "pending", "Bonjour, je suis bénévole")]
        async with http_client(carol_token) as api:
            async with api.get(f"{base}/participants") as response:
                assert response.status == 200
                assert (await response.json())["participants"] == []  # who takes part is not public
            async with api.post(f"{base}/participants/{anne.id}/authorize") as response:
                assert response.status == 403
                assert "error" in await response.json()
        assert await states(a, event.id) == {mz.actor("anne"): "pending"}

        async with http_client(alice_token) as api, api.post(f"{base}/participants/{anne.id}/authorize") as response:
            assert response.status == 200
            answer = await response.json()
        assert answer["state"] == "accepted" and answer["participant_count"] == 1 and answer["remaining_capacity"] == 4
        accept = (await eventually(lambda: _answers(mz, "Accept", join["id"]), what="Accept after authorize"))[0]
        assert accept["object"] == without_context(join)
        assert await terms(a, status) == {"participantCount": 1, "remainingAttendeeCapacity": 4}

        async with http_client(alice_token) as api, api.post(f"{base}/participants/{anne.id}/reject") as response:
            assert response.status == 200
            assert (await response.json())["state"] == "rejected"
        reject = (await eventually(lambda: _answers(mz, "Reject", join["id"]), what="Reject after reject"))[0]
        assert reject["object"] == without_context(join)
    assert await states(a, event.id) == {mz.actor("anne"): "rejected"}
    assert (await event_row(a, event.id)).participant_count == 0


# -- hostile and wrong Joins ---------------------------------------------------------------------------------

async def test_joins_that_name_no_event_of_ours_or_come_from_a_suspended_actor_change_nothing(town):
    a, alice, mz = town
    event, status = await make_event(a, alice)
    cancelled, cancelled_status = await make_event(a, alice, status="CANCELLED")
    past, past_status = await make_event(a, alice, start=start_in(-3), end=start_in(-2))
    array = {**mz.join("anne", status.uri), "object": [status.uri, cancelled_status.uri]}
    unknown = mz.join("anne", f"https://commune-a.test/users/alice/statuses/{new_id()}")
    elsewhere = mz.join("anne", "https://commune-b.test/events/1")
    to_cancelled, to_past = mz.join("anne", cancelled_status.uri), mz.join("anne", past_status.uri)
    async with http_client() as http:
        for activity in (array, unknown, elsewhere, to_cancelled, to_past):
            assert await mz.post(http, activity) == 202
        assert (await processed(a, array["id"])).state == "rejected"
        assert (await processed(a, unknown["id"])).state == "rejected"
        assert (await processed(a, elsewhere["id"])).state == "ignored"
        # A cancelled or finished event answers Reject (Mobilizon shows the refusal).
        for refused in (to_cancelled, to_past):
            await eventually(lambda refused=refused: _answers(mz, "Reject", refused["id"]), what="Reject")

        await ActorResolver(a.runtime).get(mz.actor("zed"))
        async with a.runtime.transaction() as session:
            zed = await session.scalar(select(Actor).where(Actor.uri == mz.actor("zed")))
            zed.suspended_at = datetime.now(UTC)
        suspended = mz.join("zed", status.uri)
        assert await mz.post(http, suspended) == 401  # a suspended actor's signature is not accepted
    assert await count(a, IncomingActivity, IncomingActivity.activity_uri == suspended["id"]) == 0
    assert await count(a, Participation) == 0
    for event_id in (event.id, cancelled.id, past.id):
        assert (await event_row(a, event_id)).participant_count == 0
    assert mz.answers("Accept") == []


async def test_a_thousand_joins_at_once_at_capacity_ten_accept_exactly_ten(town):
    a, alice, mz = town
    event, status = await make_event(a, alice, capacity=10)
    joins = [mz.join(f"p{n}", status.uri) for n in range(1000)]
    gate = asyncio.Semaphore(64)

    async def send(http: aiohttp.ClientSession, join: dict[str, Any]) -> int:
        async with gate:
            return await mz.post(http, join)

    async with http_client(limit=64) as http:
        assert set(await asyncio.gather(*(send(http, join) for join in joins))) == {202}

    async def all_processed() -> bool:
        return await count(a, IncomingActivity, IncomingActivity.activity_type == "Join",
                           IncomingActivity.state == "pending") == 0
    await eventually(all_processed, within=240, what="every Join processed")
    assert await count(a, Participation, Participation.event_id == event.id, Participation.state == "accepted") == 10
    assert await count(a, Participation) == 10
    assert (await event_row(a, event.id)).participant_count == 10
    assert await terms(a, status) == {"participantCount": 10, "remainingAttendeeCapacity": 0}

    async def answered() -> bool:
        return len(mz.answers("Accept")) + len(mz.answers("Reject")) >= 1000
    await eventually(answered, within=240, what="every Join answered")
    assert len(mz.answers("Accept")) == 10 and len(mz.answers("Reject")) == 990


# -- two instances of our server ------------------------------------------------------------------------------

async def remote_copy(b: LiveInstance, a_status: Status) -> tuple[Status, Event]:
    """B's copy of A's event, as federation (Create of the Event, followed by bob) made it."""
    copy = await eventually(lambda: first(b, select(Status).where(Status.uri == a_status.uri)),
                            what="the event on B")
    event = await eventually(lambda: first(b, select(Event).where(Event.status_id == copy.id)),
                             what="B's Event row")
    return copy, event


async def test_a_resident_of_b_joins_an_event_of_a_through_the_api_and_a_accept_settles_it(make_instance, mobilizon):
    a = await make_instance("commune-a.test")
    b = await make_instance("commune-b.test")
    alice, bob = await make_account(a, "alice"), await make_account(b, "bob")
    alice_on_b = await remote_actor(b, "alice@commune-a.test")
    await outbox(b).follow(bob.id, alice_on_b.id)
    await eventually(lambda: first(b, select(Follow.id).where(Follow.follower_id == bob.id,
                                                              Follow.state == "accepted")), what="bob following alice")
    event, status = await make_event(a, alice, capacity=3)
    copy, b_event = await remote_copy(b, status)
    assert not b_event.local and b_event.capacity == 3
    token = await issue_token(b, bob.id)
    base = f"https://commune-b.test/api/v1/events/{copy.id}"
    async with http_client(token) as api:
        async with api.post(f"{base}/join", json={"message": "À samedi"}) as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["participation"]["state"] == "pending"

        async def accepted_on_b() -> bool:
            return await states(b, b_event.id) == {bob.uri: "accepted"}
        await eventually(accepted_on_b, what="A's Accept on B")
        assert await states(a, event.id) == {bob.uri: "accepted"}
        assert (await event_row(a, event.id)).participant_count == 1
        assert await first(a, select(Participation.message)) == "À samedi"

        # Another server cannot answer for A's event.
        join_uri = await first(b, select(Participation.join_uri))
        forged = {"@context": MOBILIZON_CONTEXT, "id": f"{C}/reject/{new_id()}", "type": "Reject",
                  "actor": mobilizon.actor("mallory"),
                  "object": {"id": join_uri, "type": "Join", "actor": bob.uri, "object": status.uri}}
        async with http_client() as http:
            assert await mobilizon.post(http, forged, url="https://commune-b.test/inbox") == 202
        assert (await processed(b, forged["id"])).state == "rejected"
        assert await states(b, b_event.id) == {bob.uri: "accepted"}

        async with api.post(f"{base}/leave") as response:
            assert response.status == 200
            assert (await response.json())["participation"] is None
    await eventually(lambda: _no_participants(a, event.id), what="the Leave on A")
    assert (await event_row(a, event.id)).participant_count == 0
    assert await count(b, Participation) == 0


async def _no_participants(instance: LiveInstance, event_id: int) -> bool:
    return await count(instance, Participation, Participation.event_id == event_id) == 0


# -- RSVP by replying -------------------------------------------------------------------------------------------

async def test_replying_je_participe_from_a_mastodon_app_joins_and_a_negation_does_not(town, mastodon_client):
    a, alice, mz = town
    carol, dave = await make_account(a, "carol"), await make_account(a, "dave")
    event, status = await make_event(a, alice, capacity=4)
    carol_app, dave_app = await mastodon_client(a, carol.id), await mastodon_client(a, dave.id)
    reply = await carol_app.status_post("@alice Je participe !", in_reply_to_id=status.id)
    assert reply["in_reply_to_id"] == str(status.id)
    await dave_app.status_post("@alice je ne participe pas, désolé", in_reply_to_id=status.id)
    assert await states(a, event.id) == {carol.uri: "accepted"}
    assert (await event_row(a, event.id)).participant_count == 1

    # A Mastodon user on another server replies too.
    note_id = f"{C}/users/eve/statuses/{new_id()}"
    create = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{note_id}/activity", "type": "Create",
              "actor": mz.actor("eve"), "to": [PUBLIC], "cc": [alice.uri],
              "object": {"id": note_id, "type": "Note", "attributedTo": mz.actor("eve"), "inReplyTo": status.uri,
                         "content": "<p><span class=\"h-card\">@alice</span> J&#39;y vais !</p>", "to": [PUBLIC],
                         "cc": [alice.uri], "published": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}}
    async with http_client() as http:
        assert await mz.post(http, create) == 202
        assert (await processed(a, create["id"])).state == "done"
    assert await states(a, event.id) == {carol.uri: "accepted", mz.actor("eve"): "accepted"}
    assert (await event_row(a, event.id)).participant_count == 2
    assert mz.answers("Accept") == []  # Mastodon would not understand it: nothing extra is sent

    await carol_app.status_post("@alice Je ne viens plus, désolée", in_reply_to_id=status.id)
    assert await states(a, event.id) == {mz.actor("eve"): "accepted"}
    assert (await event_row(a, event.id)).participant_count == 1
    assert await count(a, Status, Status.in_reply_to_id == status.id) == 4  # every reply is posted as usual


async def test_an_undo_of_a_join_from_a_server_other_than_mobilizon_leaves_the_event(town):
    a, alice, mz = town
    event, status = await make_event(a, alice, capacity=3)
    join = mz.join("anne", status.uri)
    async with http_client() as http:
        assert await mz.post(http, join) == 202
        await eventually(lambda: _answers(mz, "Accept", join["id"]), what="Accept at the participant's server")
        assert (await event_row(a, event.id)).participant_count == 1
        undo = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{C}/undo/{new_id()}", "type": "Undo",
                "actor": mz.actor("anne"), "object": without_context(join)}
        assert await mz.post(http, undo) == 202
        assert (await processed(a, undo["id"])).state == "done"
    assert await states(a, event.id) == {}
    assert (await event_row(a, event.id)).participant_count == 0
