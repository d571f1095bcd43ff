"""The OAuth token side: the token endpoint (code with PKCE, password, client credentials, refresh)
and revocation (RFC 7009), with errors in RFC 6749's shape. Codes and tokens are random secrets
stored hashed."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse

from actors.logins import active, may_act_as
from fediverse.api.apps import find_app, secret_matches
from fediverse.api.auth import hash_secret, new_secret
from fediverse.api.errors import ApiError
from fediverse.api.oauth_logins import verify_login
from fediverse.api.params import read_params, text_param
from fediverse.api.scopes import parse_scopes, subset
from fediverse.db import utcnow
from fediverse.login_throttle import client_ip, throttle_of
from fediverse.models import OAuthApp, OAuthGrant, OAuthToken, User
from fediverse.runtime import Runtime

GRANT_TYPES = ["authorization_code", "password", "client_credentials", "refresh_token"]
# RFC 7636: verifiers and S256 challenges are 43-128 unreserved characters.
PKCE_RE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: `{"error": code, "error_description": text}`."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def oauth_error_response(exc: OAuthError) -> JSONResponse:
    headers = dict(NO_STORE)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="oauth"'
    return JSONResponse({"error": exc.error, "error_description": exc.description}, status_code=exc.status,
                        headers=headers)


def client_credentials_of(request: Request, params: dict[str, Any]) -> tuple[str | None, str | None]:
    """client_id and client_secret from HTTP Basic (RFC 6749 §2.3.1, form-urlencoded parts) or the body."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise OAuthError("invalid_client", "Malformed Basic credentials", 401) from exc
        client_id, sep, client_secret = decoded.partition(":")
        if not sep:
            raise OAuthError("invalid_client", "Malformed Basic credentials", 401)
        return unquote(client_id.replace("+", " ")), unquote(client_secret.replace("+", " "))
    return text_param(params, "client_id"), text_param(params, "client_secret")


async def authenticate_client(request: Request, session: AsyncSession,
                              params: dict[str, Any]) -> tuple[OAuthApp, bool]:
    """The calling app, and whether it proved its secret (a wrong secret is always refused)."""
    client_id, client_secret = client_credentials_of(request, params)
    app = await find_app(session, client_id)
    if app is None:
        raise OAuthError("invalid_client", "Client authentication failed due to unknown client", 401)
    if client_secret is None:
        return app, False
    if not secret_matches(app, client_secret):
        raise OAuthError("invalid_client", "Client authentication failed", 401)
    return app, True


def requested_scopes(params: dict[str, Any], allowed: list[str], default: str = "read") -> list[str]:
    try:
        scopes = parse_scopes(text_param(params, "scope"), default=default)
    except ValueError as exc:
        raise OAuthError("invalid_scope", f"The requested scope is invalid: {exc}") from exc
    if not subset(scopes, allowed):
        raise OAuthError("invalid_scope", "The requested scope exceeds the scope granted to the client")
    return scopes


async def issue_tokens(session: AsyncSession, app: OAuthApp, scopes: list[str], user_id: int | None = None,
                       actor_id: int | None = None, refresh: bool = True) -> dict[str, Any]:
    """Store a new token (hashed) and return the RFC 6749 token response Mastodon clients read."""
    access_token = new_secret()
    refresh_token = new_secret() if refresh else None
    created_at = utcnow()
    session.add(OAuthToken(token_hash=hash_secret(access_token),
                           refresh_token_hash=hash_secret(refresh_token) if refresh_token else None,
                           app_id=app.id, user_id=user_id, actor_id=actor_id, scopes=" ".join(scopes),
                           created_at=created_at))
    await session.commit()
    body: dict[str, Any] = {"access_token": access_token, "token_type": "Bearer", "scope": " ".join(scopes),
                            "created_at": int(created_at.timestamp())}
    if refresh_token:
        body["refresh_token"] = refresh_token
    return body


def pkce_matches(verifier: str | None, challenge: str) -> bool:
    if not verifier or not PKCE_RE.match(verifier):
        return False
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return secrets.compare_digest(computed, challenge)


async def _authorization_code(request: Request, session: AsyncSession, app: OAuthApp, authenticated: bool,
                              params: dict[str, Any]) -> dict[str, Any]:
    code = text_param(params, "code")
    if code is None:
        raise OAuthError("invalid_request", "Missing required parameter: code")
    grant = await session.scalar(select(OAuthGrant).where(OAuthGrant.code_hash == hash_secret(code)))
    if grant is None or grant.app_id != app.id:
        raise OAuthError("invalid_grant", "The authorization code is invalid")
    # Consumed by the first attempt, right or wrong: a code cannot be replayed or its verifier guessed.
    used = await session.execute(update(OAuthGrant).where(OAuthGrant.id == grant.id, OAuthGrant.used_at.is_(None))
                                 .values(used_at=utcnow()))
    await session.commit()
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise OAuthError("invalid_grant", "The authorization code was already used")
    if grant.expires_at < utcnow():
        raise OAuthError("invalid_grant", "The authorization code has expired")
    if text_param(params, "redirect_uri") != grant.redirect_uri:
        raise OAuthError("invalid_grant", "The redirect_uri does not match the one of the authorization request")
    if grant.code_challenge:
        if not pkce_matches(text_param(params, "code_verifier"), grant.code_challenge):
            raise OAuthError("invalid_grant", "The code_verifier does not match the code_challenge")
    elif not authenticated:
        raise OAuthError("invalid_client", "Client authentication failed", 401)
    user = await session.get(User, grant.user_id)
    if user is None or not await active(session, user) or not await may_act_as(session, user, grant.actor_id):
        raise OAuthError("invalid_grant", "The account of this authorization can no longer be used")
    return await issue_tokens(session, app, grant.scopes.split(), user.id, grant.actor_id)


async def _password(request: Request, session: AsyncSession, app: OAuthApp, authenticated: bool,
                    params: dict[str, Any]) -> dict[str, Any]:
    if not authenticated:
        raise OAuthError("invalid_client", "Client authentication failed", 401)
    login, password = text_param(params, "username") or "", params.get("password")
    if not login or not isinstance(password, str) or not password:
        raise OAuthError("invalid_request", "Missing required parameter: username and password")
    scopes = requested_scopes(params, app.scopes.split())
    if throttle_of(request).blocked(client_ip(request), login):
        raise OAuthError("invalid_grant", "Too many failed login attempts, try again later", 429)
    user = await verify_login(request, session, login, password)
    if user is None:
        raise OAuthError("invalid_grant", "The username or password is invalid")
    user.last_login_at = utcnow()
    return await issue_tokens(session, app, scopes, user.id, user.actor_id)


async def _client_credentials(request: Request, session: AsyncSession, app: OAuthApp, authenticated: bool,
                              params: dict[str, Any]) -> dict[str, Any]:
    """An app-only token (no user): RFC 6749 §4.4.3 gives it no refresh token."""
    if not authenticated:
        raise OAuthError("invalid_client", "Client authentication failed", 401)
    return await issue_tokens(session, app, requested_scopes(params, app.scopes.split()), refresh=False)


async def _refresh_token(request: Request, session: AsyncSession, app: OAuthApp, authenticated: bool,
                         params: dict[str, Any]) -> dict[str, Any]:
    """Rotation: the old access and refresh tokens stop working when the new pair is issued."""
    if not authenticated:
        raise OAuthError("invalid_client", "Client authentication failed", 401)
    value = text_param(params, "refresh_token")
    if value is None:
        raise OAuthError("invalid_request", "Missing required parameter: refresh_token")
    old = await session.scalar(select(OAuthToken).where(OAuthToken.refresh_token_hash == hash_secret(value)))
    if old is None or old.app_id != app.id or old.revoked_at is not None:
        raise OAuthError("invalid_grant", "The refresh token is invalid")
    granted = old.scopes.split()
    scopes = requested_scopes(params, granted, default=old.scopes)
    user = await session.get(User, old.user_id) if old.user_id is not None else None
    if old.user_id is not None and not await active(session, user):
        raise OAuthError("invalid_grant", "The account of this token can no longer be used")
    revoked = await session.execute(update(OAuthToken).where(OAuthToken.id == old.id, OAuthToken.revoked_at.is_(None))
                                    .values(revoked_at=utcnow()))
    if revoked.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        raise OAuthError("invalid_grant", "The refresh token is invalid")
    return await issue_tokens(session, app, scopes, old.user_id, old.actor_id)


GRANT_HANDLERS = {"authorization_code": _authorization_code, "password": _password,
                  "client_credentials": _client_credentials, "refresh_token": _refresh_token}


OAuthHandler = Callable[[Request, dict[str, Any]], Awaitable[JSONResponse]]


def oauth_endpoint(handler: OAuthHandler) -> Callable[[Request], Awaitable[JSONResponse]]:
    """A token-side endpoint: form or JSON body (unknown extra fields are ignored, as clients send
    some), and refusals as RFC 6749 errors rather than Mastodon's `{"error": ...}`."""
    async def endpoint(request: Request) -> JSONResponse:
        try:
            try:
                params = await read_params(request)
            except ApiError as exc:
                raise OAuthError("invalid_request", "The request body could not be parsed") from exc
            return await handler(request, params)
        except OAuthError as exc:
            return oauth_error_response(exc)

    return endpoint


@oauth_endpoint
async def token(request: Request, params: dict[str, Any]) -> JSONResponse:
    """The token endpoint: one handler per grant type."""
    runtime: Runtime = request.app.state.runtime
    grant_type = text_param(params, "grant_type")
    handler = GRANT_HANDLERS.get(grant_type or "")
    if handler is None:
        raise OAuthError("unsupported_grant_type", f"The grant type {grant_type!r} is not supported")
    async with runtime.sessions() as session:
        app, authenticated = await authenticate_client(request, session, params)
        body = await handler(request, session, app, authenticated, params)
    return JSONResponse(body, headers=NO_STORE)


@oauth_endpoint
async def revoke(request: Request, params: dict[str, Any]) -> JSONResponse:
    """RFC 7009: revoking an unknown token succeeds too; another app's token is refused (as Doorkeeper)."""
    runtime: Runtime = request.app.state.runtime
    value = text_param(params, "token")
    if value is None:
        raise OAuthError("invalid_request", "Missing required parameter: token")
    async with runtime.sessions() as session:
        app, authenticated = await authenticate_client(request, session, params)
        if not authenticated:
            raise OAuthError("invalid_client", "Client authentication failed", 401)
        digest = hash_secret(value)
        row = await session.scalar(select(OAuthToken).where(
            (OAuthToken.token_hash == digest) | (OAuthToken.refresh_token_hash == digest)))
        if row is not None:
            if row.app_id != app.id:
                raise OAuthError("unauthorized_client", "You are not authorized to revoke this token", 403)
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                await session.commit()
    return JSONResponse({}, headers=NO_STORE)
