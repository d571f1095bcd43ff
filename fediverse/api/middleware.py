"""ASGI middleware for the client API: trailing slashes, and per-client rate limits."""

from __future__ import annotations

import time
from collections import OrderedDict

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIXES = ("/api/", "/oauth/")


class StripTrailingSlash:
    """Real clients call `/api/v1/instance/` (Mastodon.py): route it like `/api/v1/instance`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/") and path.startswith(API_PREFIXES):
                scope = dict(scope)
                scope["path"] = path.rstrip("/")
                raw = scope.get("raw_path")
                if raw:
                    scope["raw_path"] = raw.rstrip(b"/")
        await self.app(scope, receive, send)


class RateLimit:
    """Mastodon's default budget: 300 API requests per 5 minutes per token (or per IP without one).

    Counts are per process (fixed windows); several processes each apply the budget.
    """

    def __init__(self, app: ASGIApp, limit: int = 300, window: int = 300, max_clients: int = 100_000) -> None:
        self.app = app
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self.counters: OrderedDict[str, tuple[int, int]] = OrderedDict()

    def _key(self, scope: Scope) -> str:
        for name, value in scope["headers"]:
            if name == b"authorization":
                return "t:" + value.decode("latin-1")[-43:]
        client = scope.get("client")
        return "ip:" + (client[0] if client else "?")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limit or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        now = int(time.time())
        window_start = now - now % self.window
        key = self._key(scope)
        start, count = self.counters.get(key, (window_start, 0))
        if start != window_start:
            start, count = window_start, 0
        count += 1
        self.counters[key] = (start, count)
        self.counters.move_to_end(key)
        while len(self.counters) > self.max_clients:
            self.counters.popitem(last=False)
        reset = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(start + self.window))
        headers = [(b"x-ratelimit-limit", str(self.limit).encode()),
                   (b"x-ratelimit-remaining", str(max(0, self.limit - count)).encode()),
                   (b"x-ratelimit-reset", reset.encode())]
        if count > self.limit:
            body = b'{"error":"Too many requests"}'
            await send({"type": "http.response.start", "status": 429,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"retry-after", str(start + self.window - now).encode()), *headers]})
            await send({"type": "http.response.body", "body": body})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)
