"""A signed session cookie and CSRF tokens for the server-rendered forms (OAuth login and consent).

The cookie holds a small JSON payload signed with an HMAC derived from the instance's secret key:
the server keeps no session table, and a tampered or expired cookie is simply an empty session.
Every form carries the session's CSRF token, compared in constant time on POST.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fediverse.config import Settings

COOKIE_NAME = "fediverse_session"
MAX_AGE_SECONDS = 14 * 24 * 3600
CSRF_FIELD = "csrf_token"


def _key(settings: Settings) -> bytes:
    """A key used only for session cookies, so the raw secret key is never an HMAC key elsewhere too."""
    return hashlib.sha256(f"session-cookie|{settings.secret_key}".encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(settings: Settings, payload: dict[str, Any]) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    signature = _b64(hmac.new(_key(settings), body.encode(), hashlib.sha256).digest())
    return f"{body}.{signature}"


def unsign(settings: Settings, value: str) -> dict[str, Any] | None:
    """The payload of a cookie we signed and that has not expired; None otherwise."""
    body, _, signature = value.partition(".")
    if not body or not signature:
        return None
    expected = _b64(hmac.new(_key(settings), body.encode(), hashlib.sha256).digest())
    if not secrets.compare_digest(expected, signature):
        return None
    try:
        payload = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int) or payload["exp"] < time.time():
        return None
    return payload


class WebSession:
    """The browser's session: who is logged in (a User id) and the CSRF token of its forms."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = data or {}
        self.modified = data is None

    @property
    def user_id(self) -> int | None:
        value = self.data.get("uid")
        return value if isinstance(value, int) else None

    @property
    def browser_key(self) -> str | None:
        """The key of this browser's BrowserSession row (actors/browser_sessions.py)."""
        value = self.data.get("sk")
        return value if isinstance(value, str) else None

    def log_in(self, user_id: int, browser_key: str) -> None:
        """A new CSRF token at login: a token seen before logging in is worth nothing after."""
        self.data = {"uid": user_id, "sk": browser_key, "csrf": secrets.token_urlsafe(32)}
        self.modified = True

    def log_out(self) -> None:
        self.data = {"csrf": secrets.token_urlsafe(32)}
        self.modified = True

    @property
    def csrf_token(self) -> str:
        token = self.data.get("csrf")
        if not isinstance(token, str) or not token:
            token = secrets.token_urlsafe(32)
            self.data["csrf"] = token
            self.modified = True
        return token

    def check_csrf(self, submitted: object) -> bool:
        """True only when the form's token equals the one in this (signed) session."""
        token = self.data.get("csrf")
        if not isinstance(token, str) or not token or not isinstance(submitted, str) or not submitted:
            return False
        return secrets.compare_digest(token.encode(), submitted.encode())


def load_session(request: Request, settings: Settings) -> WebSession:
    value = request.cookies.get(COOKIE_NAME)
    payload = unsign(settings, value) if value else None
    if payload is None:
        return WebSession()
    payload.pop("exp", None)
    return WebSession(payload)


def save_session(response: Response, session: WebSession, settings: Settings) -> None:
    """Write the cookie when the session changed: HttpOnly, SameSite=Lax, Secure on https."""
    if not session.modified:
        return
    payload = dict(session.data, exp=int(time.time()) + MAX_AGE_SECONDS)
    response.set_cookie(COOKIE_NAME, sign(settings, payload), max_age=MAX_AGE_SECONDS, path="/",
                        httponly=True, samesite="lax", secure=settings.scheme == "https")
