"""Streaming: Mastodon.py's SSE `stream_user` and raw WebSockets (aiohttp) against live instances.

Each test waits for the server-side subscription (`runtime.events.subscriber_count`) before
acting, so nothing depends on timing; the arrival of later events is the synchronisation point.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from typing import Any

import aiohttp
import pytest
from mastodon import StreamListener
from sqlalchemy import select

from fediverse.models import Follow, Status
from tests.conftest import issue_token
from tests.federation_steps import first, html, make_account, outbox, remote_actor
from tests.live import eventually


class Collector(StreamListener):
    """Collects events in the client's streaming thread; the test reads them from the event loop."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.lock = threading.Lock()

    def on_update(self, status: Any) -> None:
        with self.lock:
            self.events.append(("update", status))

    def on_notification(self, notification: Any) -> None:
        with self.lock:
            self.events.append(("notification", notification))

    def on_delete(self, status_id: Any) -> None:
        with self.lock:
            self.events.append(("delete", status_id))

    def on_abort(self, err: Exception) -> None:
        pass

    def find(self, kind: str, predicate: Any) -> Any:
        with self.lock:
            return next((payload for name, payload in self.events if name == kind and predicate(payload)), None)


async def _subscribed(instance, count: int = 1) -> None:
    async def check() -> bool:
        return instance.runtime.events.subscriber_count >= count

    await eventually(check, what="stream subscription")


async def _unsubscribed(instance) -> None:
    async def check() -> bool:
        return instance.runtime.events.subscriber_count == 0

    await eventually(check, what="stream cleanup")


async def _seen(listener: Collector, kind: str, predicate: Any) -> Any:
    async def check() -> Any:
        return listener.find(kind, predicate)

    return await eventually(check, what=f"{kind} event")


def _ws_url(instance, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"wss://{instance.domain}/api/v1/streaming?{query}"


async def _next_update(ws: aiohttp.ClientWebSocketResponse, kinds: tuple[str, ...] = ("update",)) -> dict[str, Any]:
    while True:
        message = await asyncio.wait_for(ws.receive(), timeout=20)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        data = json.loads(message.data)
        if data.get("event") in kinds or "error" in data:
            return data


@pytest.fixture
async def commune(make_instance):
    a = await make_instance("commune-a.test")
    alice = await make_account(a, "alice")
    carol = await make_account(a, "carol")
    await outbox(a).follow(alice.id, carol.id)
    return a, alice, carol


async def test_user_stream_gets_followed_posts_mentions_and_deletions(commune, make_instance, mastodon_client):
    a, alice, carol = commune
    b = await make_instance("commune-b.test")
    bob = await make_account(b, "bob")
    bob_on_a = await remote_actor(a, "bob@commune-b.test")
    await outbox(a).follow(alice.id, bob_on_a.id)
    await eventually(lambda: first(a, select(Follow.id).where(Follow.followee_id == bob_on_a.id,
                                                              Follow.state == "accepted")), what="Accept")
    stranger = await make_account(a, "stranger")
    client = await mastodon_client(a, alice.id)
    listener = Collector()
    handle = await client.stream_user(listener, run_async=True)
    try:
        await _subscribed(a)
        await outbox(a).publish(stranger.id, html(a, "Personne ne me suit"))
        local = await outbox(a).publish(carol.id, html(a, "Bonjour de Carol"))
        update = await _seen(listener, "update", lambda s: str(s["id"]) == str(local.id))
        assert update["account"]["acct"] == "carol" and "Bonjour de Carol" in update["content"]
        assert update["favourited"] is False  # rendered for the viewer
        remote = await outbox(b).publish(bob.id, html(b, "Salut depuis commune-b"))
        await _seen(listener, "update", lambda s: s["uri"] == remote.uri)
        mention = await outbox(a).publish(carol.id, html(a, "@alice tu viens ?", [alice]), mentions=[alice])
        notification = await _seen(listener, "notification",
                                   lambda n: n["type"] == "mention" and str(n["status"]["id"]) == str(mention.id))
        assert notification["account"]["acct"] == "carol" and notification["group_key"].startswith("ungrouped-")
        await outbox(a).delete_status(carol.id, local.id)
        await _seen(listener, "delete", lambda i: str(i) == str(local.id))
        assert listener.find("update", lambda s: s["account"]["acct"] == "stranger") is None
    finally:
        await asyncio.to_thread(handle.close)
    await _unsubscribed(a)


async def test_public_local_websocket_gets_only_local_public_posts(commune, make_instance):
    a, alice, carol = commune
    b = await make_instance("commune-b.test")
    bob = await make_account(b, "bob")
    bob_on_a = await remote_actor(a, "bob@commune-b.test")
    await outbox(a).follow(alice.id, bob_on_a.id)
    await eventually(lambda: first(a, select(Follow.id).where(Follow.followee_id == bob_on_a.id,
                                                              Follow.state == "accepted")), what="Accept")
    token = await issue_token(a, alice.id)
    async with aiohttp.ClientSession() as http, http.ws_connect(
            _ws_url(a, stream="public:local", access_token=token), ssl=ssl.create_default_context()) as ws:
        await _subscribed(a)
        remote = await outbox(b).publish(bob.id, html(b, "Public mais distant"))
        await eventually(lambda: first(a, select(Status.id).where(Status.uri == remote.uri)), what="remote post")
        await outbox(a).publish(carol.id, html(a, "Non listé"), visibility="unlisted")
        await outbox(a).publish(carol.id, html(a, "Abonnés seulement"), visibility="private")
        barrier = await outbox(a).publish(carol.id, html(a, "Public et local"))
        message = await _next_update(ws)
        assert message["stream"] == ["public:local"]
        status = json.loads(message["payload"])
        assert status["id"] == str(barrier.id) and status["visibility"] == "public"
        await outbox(a).edit(carol.id, barrier.id, html(a, "Public et local, corrigé"))
        edited = await _next_update(ws, ("status.update", "update"))
        assert edited["event"] == "status.update"
        assert "corrigé" in json.loads(edited["payload"])["content"]
    await _unsubscribed(a)


async def test_websocket_subscribe_message_adds_a_hashtag_stream(commune):
    a, alice, carol = commune
    async with aiohttp.ClientSession() as http, http.ws_connect(
            _ws_url(a), ssl=ssl.create_default_context()) as ws:
        await _subscribed(a)
        await ws.send_str(json.dumps({"type": "subscribe", "stream": "hashtag", "tag": "Brocante"}))
        # Messages are handled in order: the error for this one proves the subscription is in place.
        await ws.send_str(json.dumps({"type": "subscribe", "stream": "nonsense"}))
        error = await _next_update(ws)
        assert error["status"] == 400 and "error" in error
        await outbox(a).publish(carol.id, html(a, "Sans étiquette"))
        tagged = await outbox(a).publish(carol.id, html(a, "Vide-grenier #Brocante"), tags=["Brocante"])
        message = await _next_update(ws)
        assert message["stream"] == ["hashtag", "brocante"]
        assert json.loads(message["payload"])["id"] == str(tagged.id)
        await outbox(a).delete_status(carol.id, tagged.id)
        deleted = await _next_update(ws, ("delete",))
        assert deleted["payload"] == str(tagged.id)


async def test_websocket_token_in_subprotocol_and_user_stream_notifications(commune):
    a, alice, carol = commune
    token = await issue_token(a, alice.id)
    async with aiohttp.ClientSession() as http, http.ws_connect(
            _ws_url(a, stream="user:notification"), protocols=(token,), ssl=ssl.create_default_context()) as ws:
        assert ws.protocol == token
        await _subscribed(a)
        await outbox(a).publish(carol.id, html(a, "Pas pour toi"))
        mention = await outbox(a).publish(carol.id, html(a, "@alice bonjour", [alice]), mentions=[alice])
        message = await _next_update(ws, ("notification", "update"))
        assert message["event"] == "notification" and message["stream"] == ["user:notification"]
        notification = json.loads(message["payload"])
        assert notification["type"] == "mention" and notification["status"]["id"] == str(mention.id)


async def test_private_streams_need_a_token_and_health_is_ok(commune, mastodon_client):
    a, alice, carol = commune
    context = ssl.create_default_context()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{a.base_url}/api/v1/streaming/user", ssl=context) as response:
            assert response.status == 401
            assert "error" in await response.json()
        async with http.get(f"{a.base_url}/api/v1/streaming/hashtag", ssl=context) as response:
            assert response.status == 400
        async with http.get(f"{a.base_url}/api/v1/streaming/health", ssl=context) as response:
            assert response.status == 200 and await response.text() == "OK"
        with pytest.raises(aiohttp.WSServerHandshakeError):
            async with http.ws_connect(_ws_url(a, stream="user"), ssl=context):
                pass
    client = await mastodon_client(a, alice.id)
    assert await client.stream_healthy() is True


async def test_anonymous_sse_public_stream_and_direct_conversations(commune, mastodon_client):
    a, alice, carol = commune
    context = ssl.create_default_context()
    token = await issue_token(a, alice.id)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{a.base_url}/api/v1/streaming/public", ssl=context) as public, \
                http.get(f"{a.base_url}/api/v1/streaming/direct", ssl=context,
                         headers={"Authorization": f"Bearer {token}"}) as direct:
            assert public.status == 200 and public.headers["content-type"].startswith("text/event-stream")
            assert direct.status == 200
            await _subscribed(a, 2)
            dm = await outbox(a).publish(carol.id, html(a, "@alice en privé", [alice]), visibility="direct",
                                         mentions=[alice])
            post = await outbox(a).publish(carol.id, html(a, "Pour tout le monde"))
            name, data = await _read_sse_event(public)
            assert name == "update" and json.loads(data)["id"] == str(post.id)  # the DM never reached it
            name, data = await _read_sse_event(direct)
            conversation = json.loads(data)
            assert name == "conversation" and conversation["last_status"]["id"] == str(dm.id)
            assert [acc["acct"] for acc in conversation["accounts"]] == ["carol"]
    await _unsubscribed(a)


async def _read_sse_event(response: aiohttp.ClientResponse) -> tuple[str, str]:
    fields: dict[str, str] = {}
    while True:
        line = (await asyncio.wait_for(response.content.readline(), timeout=20)).decode().rstrip("\n")
        if line.startswith(":"):
            continue
        if line == "":
            if fields:
                return fields["event"], fields.get("data", "")
            continue
        key, _, value = line.partition(": ")
        fields[key] = value
