"""Hostile and broken input on the inbox, over real HTTPS between two live instances.

commune-a.test receives. commune-b.test is a real remote: its actors' keys are fetchable by A, and the
tests sign requests themselves with those actors' private keys, so each request differs from a valid
delivery in exactly one way. Every refusal must be a clear status with a JSON {"error": ...} body,
never a 500, and must leave nothing behind (no incoming row, no status, no follow).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime as http_date
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from multidict import CIMultiDict
from sqlalchemy import select

from fediverse.ids import new_id
from fediverse.keys import generate_rsa_keypair, load_private_key
from fediverse.models import Actor, Follow, IncomingActivity, Notification, Status, Tombstone
from fediverse.signatures import body_digest, sign_request, signing_string
from tests.federation_steps import count, first, html, make_account, outbox
from tests.live import LiveInstance, eventually, serve_on_test_host

A = "https://commune-a.test"
INBOX = f"{A}/inbox"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
SIGNED = ("(request-target)", "host", "date", "digest", "content-type")


@dataclass
class Remote:
    """An actor of commune-b.test whose private key the test holds."""

    uri: str
    key_id: str
    private_key_pem: str

    @classmethod
    def of(cls, actor: Actor) -> Remote:
        assert actor.public_key_id and actor.private_key_pem
        return cls(actor.uri, actor.public_key_id, actor.private_key_pem)

    def activity_id(self) -> str:
        return f"{self.uri}/activities/{new_id()}"

    def note_id(self) -> str:
        return f"{self.uri}/statuses/{new_id()}"


@dataclass
class Env:
    a: LiveInstance
    b: LiveInstance
    alice: Actor
    bob: Remote
    http: aiohttp.ClientSession

    async def post(self, body: bytes, headers: Any, url: str = INBOX, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        """POST and return (status, JSON body); every answer of the inbox must be JSON."""
        async with self.http.post(url, data=body, headers=headers, allow_redirects=False, **kwargs) as response:
            raw = await response.read()
            assert response.content_type == "application/json", (response.status, response.content_type, raw[:300])
            return response.status, json.loads(raw)

    async def deliver(self, activity: dict[str, Any], sender: Remote | None = None, url: str = INBOX) -> int:
        """A correctly signed delivery, as a well-behaved server would send it."""
        sender = sender or self.bob
        body = json.dumps(activity).encode()
        status, answer = await self.post(body, signed(sender, body, url=url), url=url)
        assert status != 500, answer
        return status


def signed(sender: Remote, body: bytes | None, *, url: str = INBOX, method: str = "POST",
           now: datetime | None = None, key_pem: str | None = None) -> dict[str, str]:
    return sign_request(method, url, key_id=sender.key_id, private_key_pem=key_pem or sender.private_key_pem,
                        body=body, now=now)


def hand_signed(sender: Remote, headers: dict[str, str], covered: tuple[str, ...], *, target: str = "/inbox",
                method: str = "post") -> str:
    """A Signature header over whatever headers the test chose (sign_request would fix them)."""
    text = signing_string(method, target, headers, covered)
    raw = load_private_key(sender.private_key_pem).sign(text.encode("latin-1"), padding.PKCS1v15(), hashes.SHA256())
    return (f'keyId="{sender.key_id}",algorithm="rsa-sha256",headers="{" ".join(covered)}",'
            f'signature="{base64.b64encode(raw).decode()}"')


def note(sender: Remote, to: list[str], *, note_id: str | None = None, content: str = "<p>Bonjour</p>",
         **fields: Any) -> dict[str, Any]:
    doc = {"id": note_id or sender.note_id(), "type": "Note", "attributedTo": sender.uri, "content": content,
           "to": to, "cc": [], "published": "2024-05-01T10:00:00Z"}
    doc.update(fields)
    return doc


def create(sender: Remote, obj: dict[str, Any] | str, to: list[str]) -> dict[str, Any]:
    return {"@context": "https://www.w3.org/ns/activitystreams", "id": sender.activity_id(), "type": "Create",
            "actor": sender.uri, "to": to, "object": obj}


def activity(sender: Remote, kind: str, obj: Any, **fields: Any) -> dict[str, Any]:
    doc = {"@context": "https://www.w3.org/ns/activitystreams", "id": sender.activity_id(), "type": kind,
           "actor": sender.uri, "object": obj}
    doc.update(fields)
    return doc


async def incoming(instance: LiveInstance, activity_uri: str) -> IncomingActivity | None:
    return await first(instance, select(IncomingActivity).where(IncomingActivity.activity_uri == activity_uri))


async def processed(instance: LiveInstance, activity_uri: str) -> IncomingActivity:
    """Wait until the inbox worker has finished with a stored activity."""
    async def done() -> IncomingActivity | None:
        row = await incoming(instance, activity_uri)
        return row if row is not None and row.state != "pending" else None

    return await eventually(done, within=10, what=f"inbox worker to process {activity_uri}")


async def assert_nothing_stored(env: Env) -> None:
    assert await count(env.a, IncomingActivity) == 0
    assert await count(env.a, Status) == 0
    assert await count(env.a, Follow) == 0


def refused(status: int, answer: dict[str, Any], expected: int, because: str = "") -> None:
    """The expected status with a JSON error; `because` is a fragment of the reason given."""
    assert status == expected, answer
    assert isinstance(answer.get("error"), str) and answer["error"], answer
    assert because.lower() in answer["error"].lower(), answer


@pytest.fixture
async def http(test_ca) -> AsyncIterator[aiohttp.ClientSession]:
    # test_ca has pointed SSL_CERT_FILE at the session CA; a fresh default context reads it.
    connector = aiohttp.TCPConnector(ssl=ssl.create_default_context())
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


@pytest.fixture
async def env(make_instance, http) -> Env:
    a = await make_instance("commune-a.test")
    b = await make_instance("commune-b.test")
    alice = await make_account(a, "alice", display_name="Alice")
    bob = await make_account(b, "bob")
    return Env(a, b, alice, Remote.of(bob), http)


# ------------------------------------------------------------------------------------ control case


async def test_valid_signed_create_from_a_remote_actor_is_accepted_and_stored(env):
    obj = note(env.bob, [env.alice.uri])
    act = create(env.bob, obj, [env.alice.uri])
    assert await env.deliver(act) == 202
    row = await processed(env.a, act["id"])
    assert row.state == "done", row.error
    stored = await first(env.a, select(Status).where(Status.uri == obj["id"]))
    assert stored is not None and stored.local is False


# ------------------------------------------------------------------------------------ signatures


async def test_unsigned_post_is_refused_with_401(env):
    body = json.dumps(create(env.bob, note(env.bob, [env.alice.uri]), [env.alice.uri])).encode()
    status, answer = await env.post(body, {"Content-Type": "application/activity+json"})
    refused(status, answer, 401, "not signed")
    await assert_nothing_stored(env)


async def test_signature_made_with_another_key_is_refused_with_401(env):
    body = json.dumps(create(env.bob, note(env.bob, [env.alice.uri]), [env.alice.uri])).encode()
    other_pem, _ = generate_rsa_keypair()
    status, answer = await env.post(body, signed(env.bob, body, key_pem=other_pem))
    refused(status, answer, 401, "does not match")
    await assert_nothing_stored(env)


async def test_body_changed_after_signing_is_refused_with_401(env):
    act = create(env.bob, note(env.bob, [env.alice.uri]), [env.alice.uri])
    headers = signed(env.bob, json.dumps(act).encode())
    act["object"]["content"] = "<p>Texte modifié en route</p>"
    status, answer = await env.post(json.dumps(act).encode(), headers)
    refused(status, answer, 401, "digest does not match")
    await assert_nothing_stored(env)


async def test_post_signature_covering_only_date_is_refused_with_401(env):
    body = json.dumps(create(env.bob, note(env.bob, [env.alice.uri]), [env.alice.uri])).encode()
    headers = {"Host": "commune-a.test", "Date": http_date(datetime.now(UTC), usegmt=True),
               "Digest": body_digest(body), "Content-Type": "application/activity+json"}
    headers["Signature"] = hand_signed(env.bob, headers, ("date",))
    status, answer = await env.post(body, headers)
    refused(status, answer, 401, "does not cover")
    await assert_nothing_stored(env)


@pytest.mark.parametrize("replay", ["personal-inbox", "shared-inbox", "other-host-header", "signed-for-other-host",
                                    "other-method"])
async def test_signature_replayed_to_another_target_is_refused_with_401(env, replay):
    body = json.dumps(create(env.bob, note(env.bob, [env.alice.uri]), [env.alice.uri])).encode()
    url, kwargs = INBOX, {}
    if replay == "personal-inbox":  # signed for the shared inbox, sent to Alice's own inbox
        headers = signed(env.bob, body)
        url = f"{A}/users/alice/inbox"
    elif replay == "shared-inbox":  # signed for Alice's inbox, sent to the shared one
        headers = signed(env.bob, body, url=f"{A}/users/alice/inbox")
    elif replay == "other-host-header":  # a delivery made for commune-b.test, replayed as is to us
        headers = signed(env.bob, body, url="https://commune-b.test/inbox")
        kwargs = {"server_hostname": "commune-a.test"}
    elif replay == "signed-for-other-host":  # same, but with our Host header put back
        headers = signed(env.bob, body, url="https://commune-b.test/inbox")
        headers["Host"] = "commune-a.test"
    else:  # signed as a PUT, sent as a POST
        headers = signed(env.bob, body, method="PUT")
    status, answer = await env.post(body, headers, url=url, **kwargs)
    refused(status, answer, 401, "is not this server" if replay == "other-host-header" else "does not match")
    await assert_nothing_stored(env)


@pytest.mark.parametrize(("date", "because"), [("two-hours-ahead", "future"), ("two-days-old", "too old"),
                                               ("unparsable", "not a valid http date")])
async def test_signed_date_too_far_ahead_too_old_or_unparsable_is_refused_with_401(env, date, because):
    body = json.dumps(create(env.bob, note(env.bob, [env.alice.uri]), [env.alice.uri])).encode()
    now = datetime.now(UTC)
    if date == "two-hours-ahead":
        headers = signed(env.bob, body, now=now + timedelta(hours=2))
    elif date == "two-days-old":
        headers = signed(env.bob, body, now=now - timedelta(days=2))
    else:
        headers = {"Host": "commune-a.test", "Date": "Thu, 99 Foo 2024 25:61:61 GMT", "Digest": body_digest(body),
                   "Content-Type": "application/activity+json"}
        headers["Signature"] = hand_signed(env.bob, headers, SIGNED)
    status, answer = await env.post(body, headers)
    refused(status, answer, 401, because)
    await assert_nothing_stored(env)


@pytest.mark.parametrize(("digest", "because"), [
    ("missing", "missing digest"), ("not-signed", "does not cover digest"), ("sha1-only", "no sha-256"),
    ("conflicting-values", "conflicting"), ("two-conflicting-headers", "conflicting")])
async def test_missing_weak_or_conflicting_digest_is_refused_with_401(env, digest, because):
    body = json.dumps(create(env.bob, note(env.bob, [env.alice.uri]), [env.alice.uri])).encode()
    good = body_digest(body)
    bad = body_digest(body + b" ")
    sha1 = "SHA=" + base64.b64encode(hashlib.sha1(body).digest()).decode()
    base = {"Host": "commune-a.test", "Date": http_date(datetime.now(UTC), usegmt=True),
            "Content-Type": "application/activity+json"}
    if digest == "missing":
        # The signature covers a digest, but no Digest header is sent.
        headers: Any = dict(base)
        headers["Signature"] = hand_signed(env.bob, {**base, "Digest": good}, SIGNED)
    elif digest == "not-signed":
        # A valid signature that leaves the Digest (hence the body) out.
        headers = {**base, "Digest": good}
        headers["Signature"] = hand_signed(env.bob, headers, ("(request-target)", "host", "date", "content-type"))
    elif digest == "sha1-only":
        headers = {**base, "Digest": sha1}
        headers["Signature"] = hand_signed(env.bob, headers, SIGNED)
    elif digest == "conflicting-values":
        headers = {**base, "Digest": f"SHA-256={bad.split('=', 1)[1]},SHA-256={good.split('=', 1)[1]}"}
        headers["Signature"] = hand_signed(env.bob, headers, SIGNED)
    else:
        # Two Digest fields: a receiver that reads only one of them could be fooled.
        signing_view = {**base, "Digest": f"{good}, {bad}"}
        headers = CIMultiDict(base)
        headers.add("Digest", good)
        headers.add("Digest", bad)
        headers["Signature"] = hand_signed(env.bob, signing_view, SIGNED)
    status, answer = await env.post(body, headers)
    refused(status, answer, 401, because)
    await assert_nothing_stored(env)


@pytest.mark.parametrize("claimed", ["actor-on-another-host", "another-actor-of-the-same-host"])
async def test_activity_signed_by_one_actor_but_claiming_another_is_refused_with_401(env, claimed):
    if claimed == "actor-on-another-host":
        impostor = Remote("https://commune-c.test/users/mallory", env.bob.key_id, env.bob.private_key_pem)
    else:
        carol = await make_account(env.b, "carol")
        impostor = Remote(carol.uri, env.bob.key_id, env.bob.private_key_pem)
    act = create(impostor, note(impostor, [env.alice.uri]), [env.alice.uri])
    body = json.dumps(act).encode()
    status, answer = await env.post(body, signed(env.bob, body))
    refused(status, answer, 401, "not by the activity's actor")
    await assert_nothing_stored(env)


# ------------------------------------------------------------------------------------ body checks


async def test_activity_id_on_another_host_than_its_actor_is_refused_with_400(env):
    act = create(env.bob, note(env.bob, [env.alice.uri]), [env.alice.uri])
    act["id"] = f"https://commune-c.test/activities/{new_id()}"
    body = json.dumps(act).encode()
    status, answer = await env.post(body, signed(env.bob, body))
    refused(status, answer, 400, "not on the actor's host")
    await assert_nothing_stored(env)


@pytest.mark.parametrize("body", [b'{"type": "Create", "actor": ', b"\xff\xfe{}", b"", b"null {}"],
                         ids=["truncated", "not-utf8", "empty", "trailing-garbage"])
async def test_malformed_json_is_refused_with_400(env, body):
    status, answer = await env.post(body, signed(env.bob, body))
    refused(status, answer, 400)
    await assert_nothing_stored(env)


async def test_json_array_is_refused_with_400(env):
    body = json.dumps([create(env.bob, note(env.bob, [env.alice.uri]), [env.alice.uri])]).encode()
    status, answer = await env.post(body, signed(env.bob, body))
    refused(status, answer, 400)
    await assert_nothing_stored(env)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_wrong_content_type_is_refused_with_415(env, content_type):
    body = json.dumps(create(env.bob, note(env.bob, [env.alice.uri]), [env.alice.uri])).encode()
    headers = signed(env.bob, body)
    # None: an empty Content-Type (aiohttp would otherwise label a bytes body application/octet-stream).
    headers["Content-Type"] = content_type or ""
    status, answer = await env.post(body, headers)
    refused(status, answer, 415)
    await assert_nothing_stored(env)


async def test_oversized_body_with_content_length_is_refused_with_413(env):
    limit = env.a.settings.max_body_bytes
    act = create(env.bob, note(env.bob, [env.alice.uri], content="x" * (limit + 10)), [env.alice.uri])
    body = json.dumps(act).encode()
    assert len(body) > limit
    status, answer = await env.post(body, signed(env.bob, body))
    refused(status, answer, 413)
    await assert_nothing_stored(env)
    assert await env.deliver(create(env.bob, note(env.bob, [env.alice.uri]), [env.alice.uri])) == 202


async def test_oversized_chunked_body_without_content_length_is_refused_with_413(env):
    limit = env.a.settings.max_body_bytes
    act = create(env.bob, note(env.bob, [env.alice.uri], content="x" * (limit + 10)), [env.alice.uri])
    body = json.dumps(act).encode()
    headers = signed(env.bob, body)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start:start + 64 * 1024]

    async with env.http.post(INBOX, data=chunks(), headers=headers) as response:
        assert response.request_info.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in response.request_info.headers
        assert response.status == 413, await response.text()
        assert "error" in await response.json(content_type=None)
    await assert_nothing_stored(env)
    assert await env.deliver(create(env.bob, note(env.bob, [env.alice.uri]), [env.alice.uri])) == 202


@pytest.mark.parametrize("depth", [10_000, 150])
async def test_deeply_nested_json_is_refused_with_400_and_the_server_stays_up(env, depth):
    act = create(env.bob, note(env.bob, [env.alice.uri]), [env.alice.uri])
    head, tail = json.dumps(act)[:-1], "}"
    body = (head + ', "nested": ' + '{"a": ' * depth + "1" + "}" * depth + tail).encode()
    status, answer = await env.post(body, signed(env.bob, body))
    refused(status, answer, 400)
    await assert_nothing_stored(env)
    async with env.http.get(f"{A}/health") as response:
        assert response.status == 200
    follow_up = create(env.bob, note(env.bob, [env.alice.uri]), [env.alice.uri])
    assert await env.deliver(follow_up) == 202
    assert (await processed(env.a, follow_up["id"])).state == "done"


@pytest.mark.parametrize("kind", ["Explode", None, 42])
async def test_unknown_or_missing_activity_type_is_refused_with_400(env, kind):
    act = activity(env.bob, "Create", env.alice.uri)
    if kind is None:
        del act["type"]
    else:
        act["type"] = kind
    body = json.dumps(act).encode()
    status, answer = await env.post(body, signed(env.bob, body))
    refused(status, answer, 400)
    await assert_nothing_stored(env)


async def test_activity_claiming_one_of_our_own_actors_is_refused_with_403(env):
    alice = Remote(env.alice.uri, env.bob.key_id, env.bob.private_key_pem)
    act = create(alice, note(alice, [PUBLIC]), [PUBLIC])
    body = json.dumps(act).encode()
    status, answer = await env.post(body, signed(env.bob, body))
    refused(status, answer, 403)
    await assert_nothing_stored(env)


# ------------------------------------------------------------------------------------ worker rules


async def _rejected(env: Env, act: dict[str, Any]) -> IncomingActivity:
    """Signed correctly, so accepted at the edge; the worker must then refuse it."""
    assert await env.deliver(act) == 202
    row = await processed(env.a, act["id"])
    assert row.state == "rejected", (row.state, row.error)
    return row


@pytest.mark.parametrize("forgery", ["object-id-on-another-host", "attributed-to-another-host",
                                     "attributed-to-another-actor", "object-id-is-ours", "attributed-to-us"])
async def test_create_of_an_object_the_sender_does_not_own_is_accepted_then_rejected(env, forgery):
    obj = note(env.bob, [env.alice.uri])
    if forgery == "object-id-on-another-host":
        obj["id"] = f"https://commune-c.test/notes/{new_id()}"
    elif forgery == "attributed-to-another-host":
        obj["attributedTo"] = "https://commune-c.test/users/mallory"
    elif forgery == "attributed-to-another-actor":
        obj["attributedTo"] = "https://commune-b.test/users/carol"
    elif forgery == "object-id-is-ours":
        obj["id"] = f"{env.alice.uri}/statuses/{new_id()}"
    else:
        obj["attributedTo"] = env.alice.uri
    await _rejected(env, create(env.bob, obj, [env.alice.uri]))
    assert await count(env.a, Status) == 0


async def _carols_note(env: Env) -> tuple[Remote, dict[str, Any]]:
    carol = Remote.of(await make_account(env.b, "carol"))
    obj = note(carol, [env.alice.uri], content="<p>Réunion du conseil jeudi</p>")
    act = create(carol, obj, [env.alice.uri])
    assert await env.deliver(act, carol) == 202
    assert (await processed(env.a, act["id"])).state == "done"
    return carol, obj


@pytest.mark.parametrize("claimed_author", ["sender", "real-author"])
async def test_update_of_someone_elses_object_is_rejected_and_the_object_is_intact(env, claimed_author):
    carol, obj = await _carols_note(env)
    forged = {**obj, "content": "<p>Réunion annulée</p>", "updated": "2030-01-01T00:00:00Z",
              "attributedTo": env.bob.uri if claimed_author == "sender" else carol.uri}
    await _rejected(env, activity(env.bob, "Update", forged))
    stored = await first(env.a, select(Status).where(Status.uri == obj["id"]))
    assert stored.content == "<p>Réunion du conseil jeudi</p>"


@pytest.mark.parametrize("reference", ["uri", "tombstone-object"])
async def test_delete_of_someone_elses_object_is_rejected_and_the_object_is_intact(env, reference):
    _carol, obj = await _carols_note(env)
    target = obj["id"] if reference == "uri" else {"id": obj["id"], "type": "Tombstone"}
    await _rejected(env, activity(env.bob, "Delete", target))
    assert await first(env.a, select(Status.content).where(Status.uri == obj["id"])) == obj["content"]
    assert await count(env.a, Tombstone) == 0


async def test_delete_of_one_of_our_objects_by_a_remote_actor_is_rejected(env):
    mine = await outbox(env.a).publish(env.alice.id, html(env.a, "Marché de Noël samedi"))
    await _rejected(env, activity(env.bob, "Delete", mine.uri))
    assert await count(env.a, Status, Status.uri == mine.uri) == 1


@pytest.mark.parametrize("reference", ["embedded-follow", "follow-id-only"])
async def test_accept_of_a_follow_we_never_sent_is_rejected(env, reference):
    follow_id = f"{env.alice.uri}/activities/{new_id()}"
    obj: Any = {"id": follow_id, "type": "Follow", "actor": env.alice.uri, "object": env.bob.uri}
    if reference == "follow-id-only":
        obj = follow_id
    await _rejected(env, activity(env.bob, "Accept", obj))
    assert await count(env.a, Follow) == 0
    assert await first(env.a, select(Actor.following_count).where(Actor.id == env.alice.id)) == 0


@dataclass
class GoneHost:
    """commune-c.test answering 410 Gone to everything, and counting what it was asked."""

    requests: list[str]


@pytest.fixture
async def gone_host(test_ca) -> AsyncIterator[GoneHost]:
    ca, _ = test_ca
    seen = GoneHost([])

    async def gone(request: web.Request) -> web.Response:
        seen.requests.append(f"{request.method} {request.path_qs}")
        return web.json_response({"error": "gone"}, status=410)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", gone)
    async with serve_on_test_host(app, ca):
        yield seen


async def test_delete_of_an_unknown_actor_whose_key_is_gone_is_accepted_without_any_fetch(env, gone_host):
    gone = Remote("https://commune-c.test/users/parti", "https://commune-c.test/users/parti#main-key",
                  generate_rsa_keypair()[0])
    # The host really is gone: anyone fetching the key would get 410.
    async with env.http.get(gone.uri) as response:
        assert response.status == 410
    gone_host.requests.clear()
    act = activity(gone, "Delete", gone.uri, to=[PUBLIC])
    assert await env.deliver(act, gone) == 202
    assert gone_host.requests == []
    await assert_nothing_stored(env)
    assert await count(env.a, Actor, Actor.uri == gone.uri) == 0


# ------------------------------------------------------------------------------------ replays and ordering


async def test_the_same_activity_posted_five_times_in_parallel_is_stored_and_notified_once(env):
    obj = note(env.bob, [env.alice.uri], tag=[{"type": "Mention", "href": env.alice.uri,
                                               "name": "@alice@commune-a.test"}])
    body = json.dumps(create(env.bob, obj, [env.alice.uri])).encode()
    headers = signed(env.bob, body)
    # First contact: A has never seen bob, so all five requests race to fetch and store his key.
    answers = await asyncio.gather(*(env.post(body, headers) for _ in range(5)))
    assert [status for status, _ in answers] == [202] * 5, answers
    await processed(env.a, json.loads(body)["id"])
    assert await count(env.a, IncomingActivity) == 1
    assert await count(env.a, Status, Status.uri == obj["id"]) == 1
    assert await count(env.a, Actor, Actor.uri == env.bob.uri) == 1
    assert await count(env.a, Notification, Notification.recipient_id == env.alice.id) == 1


async def test_delete_arriving_before_its_create_leaves_a_tombstone_that_prevents_resurrection(env):
    obj = note(env.bob, [env.alice.uri])
    delete = activity(env.bob, "Delete", {"id": obj["id"], "type": "Tombstone"}, to=[env.alice.uri])
    assert await env.deliver(delete) == 202
    assert (await processed(env.a, delete["id"])).state in ("done", "ignored")
    assert await count(env.a, Tombstone, Tombstone.uri == obj["id"]) == 1
    late = create(env.bob, obj, [env.alice.uri])
    assert await env.deliver(late) == 202
    assert (await processed(env.a, late["id"])).state == "ignored"
    assert await count(env.a, Status) == 0


async def test_a_delete_by_another_actor_does_not_block_the_authors_own_create(env):
    carol = Remote.of(await make_account(env.b, "carol"))
    obj = note(carol, [env.alice.uri])
    # Bob guesses the id of a post Carol has not published yet and "deletes" it in advance.
    squat = activity(env.bob, "Delete", obj["id"], to=[env.alice.uri])
    assert await env.deliver(squat) == 202
    await processed(env.a, squat["id"])
    real = create(carol, obj, [env.alice.uri])
    assert await env.deliver(real, carol) == 202
    assert (await processed(env.a, real["id"])).state == "done"
    assert await count(env.a, Status, Status.uri == obj["id"]) == 1


@pytest.mark.parametrize("known_version", ["from-an-update", "from-the-create"])
async def test_update_older_than_the_version_we_have_is_ignored(env, known_version):
    if known_version == "from-an-update":
        obj = note(env.bob, [env.alice.uri], content="<p>v1</p>")
        act = create(env.bob, obj, [env.alice.uri])
        assert await env.deliver(act) == 202
        await processed(env.a, act["id"])
        newer = activity(env.bob, "Update", {**obj, "content": "<p>v3</p>", "updated": "2024-05-01T12:00:00Z"})
        assert await env.deliver(newer) == 202
        assert (await processed(env.a, newer["id"])).state == "done"
    else:
        # The post had been edited before we first saw it: its Create carries the v3 date.
        obj = note(env.bob, [env.alice.uri], content="<p>v3</p>", updated="2024-05-01T12:00:00Z")
        act = create(env.bob, obj, [env.alice.uri])
        assert await env.deliver(act) == 202
        assert (await processed(env.a, act["id"])).state == "done"
    older = activity(env.bob, "Update", {**obj, "content": "<p>v2</p>", "updated": "2024-05-01T11:00:00Z"})
    assert await env.deliver(older) == 202
    assert (await processed(env.a, older["id"])).state == "ignored"
    assert await first(env.a, select(Status.content).where(Status.uri == obj["id"])) == "<p>v3</p>"
