"""Clear errors for every edge: JSON for API/federation clients, a readable page for browsers."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


def wants_html(request: Request) -> bool:
    """A browser asking for a page; the client API always answers JSON, as Mastodon's does."""
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept and not request.url.path.startswith("/api/")


def error_response(request: Request, status: int, message: str) -> Response:
    if wants_html(request):
        from html import escape

        body = f"<!doctype html><html lang=fr><meta charset=utf-8><title>{status}</title><h1>{status}</h1>"
        return HTMLResponse(body + f"<p>{escape(message)}</p></html>", status_code=status)
    return JSONResponse({"error": message}, status_code=status)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = error_response(request, exc.status_code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(request, 500, "internal error")


class BodySizeLimit:
    """Refuse request bodies over the cap with 413, whether Content-Length is sent or not."""

    def __init__(self, app: ASGIApp, max_bytes: int, overrides: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Larger caps for upload paths (media, avatars): path prefix -> bytes.
        self.overrides = dict(overrides or {})

    def cap_for(self, path: str) -> int:
        for prefix, cap in self.overrides.items():
            if path == prefix or path.startswith(prefix + "/"):
                return cap
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.cap_for(scope["path"])
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_big = int(value) > max_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    await self._refuse(send)
                    return
        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise HTTPException(413, "request body too large")
            return message

        await self.app(scope, capped_receive, send)

    @staticmethod
    async def _refuse(send: Send) -> None:
        body = b'{"error":"request body too large"}'
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
