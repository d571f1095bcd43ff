"""Mastodon's streaming API: Server-Sent Events (`/api/v1/streaming/user` ...) and the
multiplexed WebSocket (`/api/v1/streaming` with subscribe/unsubscribe messages).

Events come from the in-process bus (`runtime.events`), which publishes only after commit.
Each connection has its own queue and decides, per event and per subscribed stream, whether
its viewer should see it (follows, visibility, blocks and mutes), then renders the entity for
that viewer exactly as the REST API does (`favourited`, `bookmarked` ... are per viewer).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, exists, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from actors import timelines as domain
from fediverse.api.auth import Identity, identify
from fediverse.api.errors import ApiError
from fediverse.api.notifications import render_notifications
from fediverse.api.params import truthy
from fediverse.api.scopes import allows
from fediverse.api.serializers.accounts import account_to_api
from fediverse.api.serializers.statuses import render_statuses
from fediverse.events import Event
from fediverse.models import Actor, ConversationState, ListMember, Mention, Status, UserList
from fediverse.runtime import Runtime

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 15.0
MAX_SUBSCRIPTIONS = 50
PUBLIC_STREAMS = frozenset({"public", "public:media", "public:local", "public:local:media", "public:remote",
                            "public:remote:media", "hashtag", "hashtag:local"})
PRIVATE_STREAMS = frozenset({"user", "user:notification", "list", "direct"})


@dataclass(frozen=True)
class Channel:
    """One subscribed stream, as Mastodon names it (`hashtag` carries its tag, `list` its id)."""

    name: str
    tag: str | None = None
    list_id: int | None = None

    @property
    def stream(self) -> list[str]:
        """The `stream` field of WebSocket messages: `["hashtag", "x"]`, `["list", "1"]`, `["user"]`."""
        if self.tag is not None:
            return [self.name, self.tag]
        if self.list_id is not None:
            return [self.name, str(self.list_id)]
        return [self.name]


async def open_channel(runtime: Runtime, identity: Identity | None, name: str | None, tag: str | None = None,
                       list_id: str | None = None) -> Channel:
    """Validate a stream request the way Mastodon's streaming server does (400/401/403/404)."""
    if not name or name not in PUBLIC_STREAMS | PRIVATE_STREAMS:
        raise ApiError(400, "Unknown stream type")
    viewer = identity.actor if identity is not None else None
    if name in PRIVATE_STREAMS and viewer is None:
        raise ApiError(401, "Missing access token")
    if identity is not None and viewer is not None:
        needed = "read:notifications" if name == "user:notification" else "read:statuses"
        if not allows(identity.scopes, needed):
            raise ApiError(403, "Access token does not have the required scopes")
    if name.startswith("hashtag"):
        clean = (tag or "").strip().lstrip("#").lower()
        if not clean:
            raise ApiError(400, "No tag for stream provided")
        return Channel(name, tag=clean)
    if name == "list":
        if not list_id or not list_id.isdigit() or len(list_id) > 19:
            raise ApiError(400, "No list for stream provided")
        assert viewer is not None
        async with runtime.sessions() as session:
            owned = await session.scalar(select(UserList.id).where(
                UserList.id == int(list_id), UserList.actor_id == viewer.id))
        if owned is None:
            raise ApiError(404, "List not found")
        return Channel(name, list_id=int(list_id))
    return Channel(name)


# Mastodon's filter context for each stream (keyword filters apply to streamed statuses too).
FILTER_CONTEXT = {"user": "home", "list": "home", "direct": "thread"}


class StreamRouter:
    """Turns bus events into the messages one viewer should get on its subscribed streams.

    Whether a status belongs to a stream is decided by the very clauses the REST timelines use
    (`actors.timelines`), evaluated on that one row: a stream never shows what the timeline
    would not, and follows, mutes and blocks changed mid-connection apply to the next event.
    """

    def __init__(self, runtime: Runtime, identity: Identity | None) -> None:
        self.runtime = runtime
        self.viewer_id: int | None = identity.actor.id if identity is not None and identity.actor else None
        self.notifications = identity is not None and allows(identity.scopes, "read:notifications")

    async def messages(self, event: Event, channels: Iterable[Channel]) -> list[tuple[Channel, str, str]]:
        channels = list(channels)
        if not channels:
            return []
        if event.kind in ("status.created", "status.updated"):
            return await self._status_messages(int(event.payload["id"]), channels, event.kind == "status.created")
        if event.kind == "status.deleted":
            # The row is gone: like Mastodon for public posts, every timeline stream gets the id (clients
            # drop what they do not have); a notification stream has no statuses to remove.
            return [(c, "delete", str(event.payload["id"])) for c in channels if c.name != "user:notification"]
        if event.kind == "notification.created" and event.payload.get("recipient_id") == self.viewer_id:
            return await self._notification_messages(int(event.payload["id"]), channels)
        return []

    # -- statuses --------------------------------------------------------------------------------

    async def _clause(self, session: AsyncSession, channel: Channel, rel: domain.Relations | None) -> Any:
        name = channel.name
        viewer = self.viewer_id
        if name == "user" and rel is not None:
            return domain.home_clause(rel)
        if name == "list" and rel is not None and channel.list_id is not None:
            user_list = await session.get(UserList, channel.list_id)
            if user_list is None or user_list.actor_id != viewer:
                return false()
            members = frozenset(await session.scalars(
                select(ListMember.actor_id).where(ListMember.list_id == channel.list_id)))
            return domain.list_clause(rel, members, user_list.replies_policy)
        if name == "direct" and viewer is not None:
            hidden = sorted(rel.hidden) if rel is not None else []
            return and_(Status.visibility == "direct", Status.reblog_of_id.is_(None),
                        or_(Status.actor_id == viewer,
                            exists().where(Mention.status_id == Status.id, Mention.actor_id == viewer)),
                        Status.actor_id.not_in(hidden) if hidden else true())
        if name.startswith("hashtag"):
            return and_(domain.public_clause(rel, local=name == "hashtag:local", replies=True),
                        domain.tag_clause([channel.tag or ""], [], []))
        if name.startswith("public"):
            return domain.public_clause(rel, local=":local" in name, remote=":remote" in name,
                                        only_media=name.endswith(":media"))
        return false()

    async def _status_messages(self, status_id: int, channels: list[Channel],
                               created: bool) -> list[tuple[Channel, str, str]]:
        timeline_channels = [c for c in channels if c.name != "user:notification"]
        if not timeline_channels:
            return []
        async with self.runtime.sessions() as session:
            status = await session.get(Status, status_id)
            if status is None:
                return []
            rel = await domain.load_relations(session, self.viewer_id) if self.viewer_id is not None else None
            clauses = [await self._clause(session, c, rel) for c in timeline_channels]
            row = (await session.execute(select(*[case((clause, 1), else_=0) for clause in clauses])
                                         .where(Status.id == status.id))).first()
            if row is None:
                return []
            matched = [c for c, hit in zip(timeline_channels, row, strict=True) if hit]
            out: list[tuple[Channel, str, str]] = []
            rendered: dict[str, dict[str, Any] | None] = {}
            for channel in matched:
                context = FILTER_CONTEXT.get(channel.name, "public")
                if context not in rendered:
                    rendered[context] = await self._render(session, status, context)
                doc = rendered[context]
                if doc is None:  # a `hide` filter matched
                    continue
                if channel.name == "direct":
                    conversation = await self._conversation(status, doc)
                    if conversation is not None:
                        out.append((channel, "conversation", json.dumps(conversation)))
                else:
                    out.append((channel, "update" if created else "status.update", json.dumps(doc)))
            return out

    async def _render(self, session: AsyncSession, status: Status, context: str) -> dict[str, Any] | None:
        filters = await domain.FilterSet.load(session, self.viewer_id, context)
        if filters and not await filters.keep([status]):
            return None
        docs = await render_statuses(session, self.runtime.settings, self.viewer_id, [status], filters)
        return docs[0] if docs else None

    async def _conversation(self, status: Status, doc: dict[str, Any]) -> dict[str, Any] | None:
        """Mastodon's Conversation entity, with the id GET /api/v1/conversations gives it (the
        conversation state is created here if this message starts the conversation)."""
        viewer = self.viewer_id
        if viewer is None:
            return None
        async with self.runtime.transaction() as session:
            await domain.sync_conversations(session, viewer)
            state = await session.scalar(select(ConversationState).where(
                ConversationState.actor_id == viewer,
                ConversationState.conversation_uri == (status.conversation_uri or status.uri)))
            if state is None:
                return None
            participants = [status.actor_id, *await session.scalars(
                select(Mention.actor_id).where(Mention.status_id == status.id).order_by(Mention.id))]
            others = [a for a in dict.fromkeys(participants) if a != viewer] or [viewer]
            actors = {a.id: a for a in await session.scalars(select(Actor).where(Actor.id.in_(others)))}
            return {"id": str(state.id), "unread": state.unread,
                    "accounts": [account_to_api(actors[a], self.runtime.settings) for a in others if a in actors],
                    "last_status": doc}

    # -- notifications ---------------------------------------------------------------------------

    async def _notification_messages(self, notification_id: int,
                                     channels: list[Channel]) -> list[tuple[Channel, str, str]]:
        wanted = [c for c in channels if c.name in ("user", "user:notification")]
        if not wanted or not self.notifications or self.viewer_id is None:
            return []
        async with self.runtime.sessions() as session:
            try:
                row = await domain.get_notification(session, self.viewer_id, notification_id)
            except domain.Missing:  # gone, or from someone the viewer muted or blocked
                return []
            filters = await domain.FilterSet.load(session, self.viewer_id, "notifications")
            docs = await render_notifications(session, self.runtime.settings, self.viewer_id, [row], filters)
        if not docs:
            return []
        payload = json.dumps(docs[0])
        return [(c, "notification", payload) for c in wanted]


class Connection:
    """One client connection: its bus queue, its streams, and the router deciding what it gets."""

    def __init__(self, runtime: Runtime, identity: Identity | None) -> None:
        self.runtime = runtime
        self.router = StreamRouter(runtime, identity)
        self.channels: set[Channel] = set()
        self.queue = runtime.events.subscribe()

    def close(self) -> None:
        self.runtime.events.unsubscribe(self.queue)

    async def next_messages(self, event: Event) -> list[tuple[Channel, str, str]]:
        try:
            return await self.router.messages(event, self.channels)
        except Exception:  # one bad event must not end everybody's stream
            log.exception("streaming: cannot route %s", event.kind)
            return []


# -- Server-Sent Events ----------------------------------------------------------------------------

class EventStreamResponse(Response):
    """`text/event-stream` that subscribes before the headers go out (no event is missed between
    the client seeing 200 and the first event), sends `:thump` heartbeats, and unsubscribes when
    the client goes away."""

    media_type = "text/event-stream"

    def __init__(self, runtime: Runtime, identity: Identity | None, channel: Channel) -> None:
        # No Content-Length (the body never ends): headers are set by hand, not by Response.__init__.
        self.status_code = 200
        self.background = None
        self.raw_headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-store"),
                            (b"x-accel-buffering", b"no")]
        self.runtime = runtime
        self.identity = identity
        self.channel = channel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = Connection(self.runtime, self.identity)
        connection.channels.add(self.channel)
        watcher = asyncio.create_task(_wait_for_disconnect(receive))
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            await _send_chunk(send, ":)\n\n")
            while True:
                getter = asyncio.ensure_future(connection.queue.get())
                done, _ = await asyncio.wait({getter, watcher}, timeout=HEARTBEAT_SECONDS,
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    if watcher in done:
                        break
                    await _send_chunk(send, ":thump\n\n")
                    continue
                for _channel, name, payload in await connection.next_messages(getter.result()):
                    await _send_chunk(send, f"event: {name}\ndata: {payload}\n\n")
        except OSError:  # the client went away while we were writing
            pass
        finally:
            watcher.cancel()
            connection.close()


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _send_chunk(send: Send, text: str) -> None:
    await send({"type": "http.response.body", "body": text.encode(), "more_body": True})


SSE_PATHS = {
    "/api/v1/streaming/user": "user",
    "/api/v1/streaming/user/notification": "user:notification",
    "/api/v1/streaming/public": "public",
    "/api/v1/streaming/public/local": "public:local",
    "/api/v1/streaming/public/remote": "public:remote",
    "/api/v1/streaming/hashtag": "hashtag",
    "/api/v1/streaming/hashtag/local": "hashtag:local",
    "/api/v1/streaming/list": "list",
    "/api/v1/streaming/direct": "direct",
}


async def event_stream(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    identity = await identify(request)
    params = request.query_params
    name = SSE_PATHS.get(request.url.path) or params.get("stream")
    if name in ("public", "public:local", "public:remote") and truthy(params.get("only_media")):
        name = f"{name}:media"
    channel = await open_channel(runtime, identity, name, params.get("tag"), params.get("list"))
    return EventStreamResponse(runtime, identity, channel)


async def health(request: Request) -> Response:
    return PlainTextResponse("OK")


# -- WebSocket -------------------------------------------------------------------------------------

def _websocket_token(websocket: WebSocket) -> tuple[str | None, str | None]:
    """(token, subprotocol to echo): `Authorization`, `?access_token=`, or `Sec-WebSocket-Protocol`."""
    header = websocket.headers.get("authorization", "")
    if header[:7].lower() == "bearer " and header[7:].strip():
        return header[7:].strip(), None
    if websocket.query_params.get("access_token"):
        return websocket.query_params["access_token"], None
    protocol = websocket.headers.get("sec-websocket-protocol", "").split(",")[0].strip()
    return (protocol or None), (protocol or None)


async def _websocket_identity(websocket: WebSocket, token: str | None) -> Identity | None:
    """Reuse the API's token check: the WebSocket scope seen as an HTTP request with a bearer header."""
    if token is None:
        return None
    scope = dict(websocket.scope)
    scope["type"] = "http"
    scope["headers"] = [(k, v) for k, v in websocket.scope["headers"] if k != b"authorization"]
    scope["headers"].append((b"authorization", f"Bearer {token}".encode("latin-1")))
    return await identify(Request(scope))


async def _deny(websocket: WebSocket, error: ApiError) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse({"error": error.message}, status_code=error.status))
    else:
        await websocket.close(code=1008, reason=error.message[:120])


async def websocket_stream(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    token, subprotocol = _websocket_token(websocket)
    try:
        identity = await _websocket_identity(websocket, token)
        first: Channel | None = None
        if websocket.query_params.get("stream"):
            params = websocket.query_params
            first = await open_channel(runtime, identity, params["stream"], params.get("tag"), params.get("list"))
    except ApiError as error:
        await _deny(websocket, error)
        return
    # Subscribed before the handshake completes: nothing published after that is missed.
    connection = Connection(runtime, identity)
    if first is not None:
        connection.channels.add(first)
    writer: asyncio.Task[None] | None = None
    try:
        await websocket.accept(subprotocol=subprotocol)
        writer = asyncio.create_task(_write_events(websocket, connection))
        while True:
            try:
                text = await websocket.receive_text()
            except (WebSocketDisconnect, RuntimeError, KeyError):
                break
            await _handle_client_message(websocket, runtime, identity, connection, text)
    finally:
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
        connection.close()


async def _handle_client_message(websocket: WebSocket, runtime: Runtime, identity: Identity | None,
                                 connection: Connection, text: str) -> None:
    """`{"type": "subscribe"|"unsubscribe", "stream": ..., "tag"?: ..., "list"?: ...}`."""
    try:
        message = json.loads(text)
    except ValueError:
        message = None
    if not isinstance(message, dict) or message.get("type") not in ("subscribe", "unsubscribe"):
        await _send_error(websocket, ApiError(400, "Unknown message type"), None)
        return
    stream = message.get("stream")
    tag = message.get("tag")
    list_id = message.get("list")
    try:
        channel = await open_channel(runtime, identity, stream if isinstance(stream, str) else None,
                                     str(tag) if tag is not None else None,
                                     str(list_id) if list_id is not None else None)
    except ApiError as error:
        await _send_error(websocket, error, stream)
        return
    if message["type"] == "subscribe":
        if len(connection.channels) >= MAX_SUBSCRIPTIONS:
            await _send_error(websocket, ApiError(400, "Too many subscriptions"), stream)
            return
        connection.channels.add(channel)
    else:
        connection.channels.discard(channel)


async def _send_error(websocket: WebSocket, error: ApiError, stream: Any) -> None:
    body: dict[str, Any] = {"error": error.message, "status": error.status}
    if isinstance(stream, str):
        body["stream"] = [stream]
    with contextlib.suppress(Exception):
        await websocket.send_text(json.dumps(body))


async def _write_events(websocket: WebSocket, connection: Connection) -> None:
    while True:
        event = await connection.queue.get()
        for channel, name, payload in await connection.next_messages(event):
            await websocket.send_text(json.dumps({"stream": channel.stream, "event": name, "payload": payload}))


routes: list[BaseRoute] = [
    Route("/api/v1/streaming/health", health, methods=["GET", "HEAD"]),
    *[Route(path, event_stream, methods=["GET"]) for path in SSE_PATHS],
    Route("/api/v1/streaming", event_stream, methods=["GET"]),
    WebSocketRoute("/api/v1/streaming", websocket_stream),
]
