"""Security headers on every HTML page: a Content-Security-Policy, no sniffing, no framing.

The policy allows only this site's own scripts and style sheets (no inline script or style: the
templates keep both in /static), images from https (remote avatars and media, map tiles), and
forms that post back to this site. Remote HTML is sanitized before it is stored (fediverse/sanitize.py);
the policy is the second line: an injected <script> or inline handler would not run anyway.

A response that already carries its own policy (the OAuth pages, whose consent form redirects to an
app) keeps it.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fediverse.config import Settings


def content_security_policy(settings: Settings) -> str:
    remote = "https:" if not settings.insecure_http else "https: http:"
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self' data: blob: {remote}",
        f"media-src 'self' {remote}",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


class HtmlSecurityHeaders:
    """Pure ASGI middleware (no body buffering): adds the headers when the response is text/html."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.policy = content_security_policy(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", self.policy)
                    headers.setdefault("X-Frame-Options", "DENY")
                    headers.setdefault("Referrer-Policy", "same-origin")
                    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(self)")
                headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        await self.app(scope, receive, send_with_headers)
