"""OAuth 2 for Mastodon clients: server metadata (RFC 8414), the authorize pages (login, then consent
with an identity chooser), the token endpoint (code with PKCE, password, client credentials, refresh)
and revocation (RFC 7009).

Codes and tokens are random secrets stored hashed. A token acts as the identity chosen on the consent
page: the user's own actor, or an account their team manages (TeamMember admin/editor), so a team can
post as its association from its own apps without sharing a password.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.accounts import check_password, find_local_actor, hash_password
from fediverse.api.apps import OOB, find_app, read_params, registered_redirect_uris, secret_matches, text_param
from fediverse.api.auth import hash_secret, new_secret
from fediverse.api.scopes import ALL_SCOPES, TOP_LEVEL, parse_scopes, subset
from fediverse.config import Settings
from fediverse.db import utcnow
from fediverse.models import Actor, OAuthApp, OAuthGrant, OAuthToken, TeamMember, User
from fediverse.runtime import Runtime
from fediverse.web.session import CSRF_FIELD, WebSession, load_session, save_session
from fediverse.web.templating import LOCALE_DIR, render

CODE_TTL = timedelta(minutes=10)
TEAM_ROLES = ("admin", "editor")
GRANT_TYPES = ["authorization_code", "password", "client_credentials", "refresh_token"]
# RFC 7636: verifiers and S256 challenges are 43-128 unreserved characters.
PKCE_RE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
STATE_LIMIT = 1000
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


# --- server metadata -------------------------------------------------------------------------------

async def authorization_server_metadata(request: Request) -> JSONResponse:
    """RFC 8414 metadata; Mastodon.py reads the endpoints from here and refuses http ones."""
    runtime: Runtime = request.app.state.runtime
    base = runtime.settings.base_url
    granular = sorted(ALL_SCOPES - set(TOP_LEVEL))
    return JSONResponse({
        "issuer": f"{base}/",
        "service_documentation": "https://docs.joinmastodon.org/",
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "app_registration_endpoint": f"{base}/api/v1/apps",
        "scopes_supported": [*TOP_LEVEL, *granular],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GRANT_TYPES,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    })


# --- logins shared by the login form and the password grant ----------------------------------------

class LoginThrottle:
    """Failed logins per client IP and per login name over a sliding window (per process): enough to
    make password guessing slow without any table."""

    def __init__(self, per_login: int = 10, per_ip: int = 50, window: float = 900.0, max_keys: int = 50_000) -> None:
        self.limits = {"login": per_login, "ip": per_ip}
        self.window = window
        self.max_keys = max_keys
        self.failures: OrderedDict[str, deque[float]] = OrderedDict()

    @staticmethod
    def keys(ip: str, login: str) -> list[tuple[str, str]]:
        return [("ip", f"ip:{ip}"), ("login", f"login:{login.strip().lower()}")]

    def blocked(self, ip: str, login: str) -> bool:
        now = time.monotonic()
        for kind, key in self.keys(ip, login):
            times = self.failures.get(key)
            while times and times[0] < now - self.window:
                times.popleft()
            if times and len(times) >= self.limits[kind]:
                return True
        return False

    def failed(self, ip: str, login: str) -> None:
        now = time.monotonic()
        for _kind, key in self.keys(ip, login):
            self.failures.setdefault(key, deque(maxlen=100)).append(now)
            self.failures.move_to_end(key)
        while len(self.failures) > self.max_keys:
            self.failures.popitem(last=False)


def throttle_of(request: Request) -> LoginThrottle:
    throttle = getattr(request.app.state, "login_throttle", None)
    if throttle is None:
        throttle = request.app.state.login_throttle = LoginThrottle()
    return throttle


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "?"


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


async def find_user(session: AsyncSession, settings: Settings, login: str) -> User | None:
    """The user behind an email address, a username, @username or username@our-domain."""
    login = login.strip().lstrip("@")
    if not login:
        return None
    if "@" in login:
        user = await session.scalar(select(User).where(func.lower(User.email) == login.lower()))
        if user is not None:
            return user
        login, _, domain = login.partition("@")
        if domain.lower() != settings.domain:
            return None
    actor = await find_local_actor(session, login)
    if actor is None or actor.kind == "instance":
        return None
    return await session.scalar(select(User).where(User.actor_id == actor.id))


async def active(session: AsyncSession, user: User | None) -> bool:
    """A user may log in when approved and their own actor is neither suspended nor deleted."""
    if user is None or not user.approved:
        return False
    actor = await session.get(Actor, user.actor_id)
    return actor is not None and actor.suspended_at is None and actor.deleted_at is None


async def verify_login(request: Request, session: AsyncSession, login: str, password: str) -> User | None:
    """The user when the password is right (argon2 runs in a thread); failures feed the throttle."""
    runtime: Runtime = request.app.state.runtime
    user = await find_user(session, runtime.settings, login)
    stored = user.password_hash if user is not None else None
    # An unknown login costs a hash check too, so response times do not tell which accounts exist.
    ok = await asyncio.to_thread(lambda: check_password(stored or _dummy_hash(), password)) and user is not None
    if not ok or not await active(session, user):
        throttle_of(request).failed(client_ip(request), login)
        return None
    return user


async def identities_of(session: AsyncSession, user: User) -> list[Actor]:
    """Who this user may act as: their own actor first, then the live local accounts their team manages."""
    own = await session.get(Actor, user.actor_id)
    team = (await session.scalars(
        select(Actor).join(TeamMember, TeamMember.actor_id == Actor.id)
        .where(TeamMember.user_id == user.id, TeamMember.role.in_(TEAM_ROLES), Actor.domain_key == "",
               Actor.suspended_at.is_(None), Actor.deleted_at.is_(None))
        .order_by(Actor.username_lower))).all()
    return [actor for actor in [own, *team] if actor is not None and (actor is own or actor.id != user.actor_id)]


async def may_act_as(session: AsyncSession, user: User, actor_id: int) -> bool:
    return any(actor.id == actor_id for actor in await identities_of(session, user))


# --- the authorize pages ---------------------------------------------------------------------------

class PageError(Exception):
    """A request the authorize page refuses; `reason` picks the message in templates/oauth/error.html."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class AuthorizeRequest:
    app: OAuthApp
    redirect_uri: str
    scopes: list[str]
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    force_login: bool
    language: str

    def hidden_fields(self) -> dict[str, str]:
        """The parameters every form posts back, so each step re-validates the whole request."""
        fields = {"client_id": self.app.client_id, "redirect_uri": self.redirect_uri, "response_type": "code",
                  "scope": " ".join(self.scopes), "state": self.state, "code_challenge": self.code_challenge,
                  "code_challenge_method": self.code_challenge_method, "lang": self.language}
        return {key: value for key, value in fields.items() if value}


def pick_language(value: str | None, settings: Settings) -> str:
    """The page language: `lang` when we have a catalog for it (or English, the msgids), else the instance's."""
    if value and re.fullmatch(r"[a-z]{2,3}", value) and (value == "en" or (LOCALE_DIR / value).is_dir()):
        return value
    return settings.language


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


async def parse_authorize(session: AsyncSession, params: dict[str, Any], language: str) -> AuthorizeRequest:
    app = await find_app(session, text_param(params, "client_id"))
    if app is None:
        raise PageError("unknown_client")
    registered = registered_redirect_uris(app)
    redirect_uri = text_param(params, "redirect_uri")
    if redirect_uri is None and len(registered) == 1:
        redirect_uri = registered[0]
    if redirect_uri not in registered:
        raise PageError("redirect_uri_mismatch")
    if text_param(params, "response_type") != "code":
        raise PageError("unsupported_response_type")
    try:
        scopes = parse_scopes(text_param(params, "scope"), default="read")
    except ValueError as exc:
        raise PageError("invalid_scope") from exc
    if not subset(scopes, app.scopes.split()):
        raise PageError("invalid_scope")
    challenge = text_param(params, "code_challenge")
    method = text_param(params, "code_challenge_method")
    if challenge is not None:
        if method != "S256":
            raise PageError("pkce_method")
        if not PKCE_RE.match(challenge):
            raise PageError("invalid_request")
    elif method is not None:
        raise PageError("invalid_request")
    state = text_param(params, "state")
    if state is not None and len(state) > STATE_LIMIT:
        raise PageError("invalid_request")
    force_login = truthy(text_param(params, "force_login"))
    return AuthorizeRequest(app, redirect_uri, scopes, state, challenge, method, force_login, language)


def page(runtime: Runtime, language: str, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """An authorize page: never cached, never framed (the consent button must not be clickjacked)."""
    html = render(language, template, settings=runtime.settings, **context)
    return HTMLResponse(html, status_code=status, headers={
        "Cache-Control": "no-store", "X-Frame-Options": "DENY",
        "Content-Security-Policy": "frame-ancestors 'none'", "Referrer-Policy": "same-origin"})


def login_page(runtime: Runtime, auth: AuthorizeRequest, web: WebSession, status: int = 200,
               error: str | None = None, login: str = "") -> HTMLResponse:
    return page(runtime, auth.language, "oauth/login.html", status, app=auth.app, hidden=auth.hidden_fields(),
                csrf_field=CSRF_FIELD, csrf_token=web.csrf_token, error=error, login=login)


async def consent_page(runtime: Runtime, session: AsyncSession, auth: AuthorizeRequest, web: WebSession,
                       user: User, status: int = 200, error: str | None = None) -> HTMLResponse:
    identities = await identities_of(session, user)
    switch_params = {**auth.hidden_fields(), "force_login": "true"}
    return page(runtime, auth.language, "oauth/consent.html", status, app=auth.app, scopes=auth.scopes,
                hidden=auth.hidden_fields(), csrf_field=CSRF_FIELD, csrf_token=web.csrf_token,
                identities=identities, own_actor_id=user.actor_id, domain=runtime.settings.domain,
                switch_url="/oauth/authorize?" + urlencode(switch_params), error=error)


def error_page(runtime: Runtime, language: str, reason: str, status: int = 400) -> HTMLResponse:
    return page(runtime, language, "oauth/error.html", status, reason=reason)


def with_query(uri: str, params: dict[str, str | None]) -> str:
    """`uri` with `params` added to its query (keeping the query the app registered)."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(key, value) for key, value in params.items() if value is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


async def logged_in_user(session: AsyncSession, web: WebSession) -> User | None:
    user = await session.get(User, web.user_id) if web.user_id is not None else None
    return user if await active(session, user) else None


async def authorize_page(request: Request) -> Response:
    """GET: the login form when nobody is logged in (or `force_login`), else the consent page."""
    runtime: Runtime = request.app.state.runtime
    params = dict(request.query_params)
    language = pick_language(params.get("lang"), runtime.settings)
    web = load_session(request, runtime.settings)
    async with runtime.sessions() as session:
        try:
            auth = await parse_authorize(session, params, language)
        except PageError as exc:
            return error_page(runtime, language, exc.reason, exc.status)
        if auth.force_login and web.user_id is not None:
            web.log_out()
        user = await logged_in_user(session, web)
        if user is None:
            response: Response = login_page(runtime, auth, web)
        else:
            response = await consent_page(runtime, session, auth, web, user)
    save_session(response, web, runtime.settings)
    return response


async def authorize_submit(request: Request) -> Response:
    """POST: `action` is login, approve or deny; every form carries the session's CSRF token."""
    runtime: Runtime = request.app.state.runtime
    form = {key: value for key, value in (await request.form()).items() if isinstance(value, str)}
    language = pick_language(form.get("lang"), runtime.settings)
    web = load_session(request, runtime.settings)
    if not web.check_csrf(form.get(CSRF_FIELD)):
        return error_page(runtime, language, "csrf", 403)
    async with runtime.sessions() as session:
        try:
            auth = await parse_authorize(session, form, language)
        except PageError as exc:
            return error_page(runtime, language, exc.reason, exc.status)
        action = form.get("action")
        if action == "login":
            response = await _log_in(request, session, auth, web, form)
        else:
            user = await logged_in_user(session, web)
            if user is None:
                response = login_page(runtime, auth, web)
            elif action == "deny":
                response = _deny(runtime, auth)
            elif action == "approve":
                response = await _approve(runtime, session, auth, web, user, form.get("actor_id", ""))
            else:
                response = error_page(runtime, language, "invalid_request")
    save_session(response, web, runtime.settings)
    return response


async def _log_in(request: Request, session: AsyncSession, auth: AuthorizeRequest, web: WebSession,
                  form: dict[str, str]) -> Response:
    runtime: Runtime = request.app.state.runtime
    login, password = form.get("login", "").strip(), form.get("password", "")
    if throttle_of(request).blocked(client_ip(request), login):
        return login_page(runtime, auth, web, 429, error="throttled", login=login)
    user = await verify_login(request, session, login, password) if login and password else None
    if user is None:
        return login_page(runtime, auth, web, 400, error="invalid_login", login=login)
    web.log_in(user.id)
    user.last_login_at = utcnow()
    await session.commit()
    return await consent_page(runtime, session, auth, web, user)


def _deny(runtime: Runtime, auth: AuthorizeRequest) -> Response:
    if auth.redirect_uri == OOB:
        return error_page(runtime, auth.language, "access_denied", 200)
    return RedirectResponse(with_query(auth.redirect_uri, {
        "error": "access_denied", "error_description": "The resource owner denied the request.",
        "state": auth.state}), status_code=302)


async def _approve(runtime: Runtime, session: AsyncSession, auth: AuthorizeRequest, web: WebSession, user: User,
                   actor_field: str) -> Response:
    try:
        actor_id = int(actor_field)
    except ValueError:
        actor_id = 0
    if not await may_act_as(session, user, actor_id):
        return await consent_page(runtime, session, auth, web, user, 400, error="identity")
    code = new_secret()
    session.add(OAuthGrant(code_hash=hash_secret(code), app_id=auth.app.id, user_id=user.id, actor_id=actor_id,
                           redirect_uri=auth.redirect_uri, scopes=" ".join(auth.scopes),
                           code_challenge=auth.code_challenge, code_challenge_method=auth.code_challenge_method,
                           expires_at=utcnow() + CODE_TTL))
    await session.commit()
    if auth.redirect_uri == OOB:
        return page(runtime, auth.language, "oauth/code.html", app=auth.app, code=code)
    return RedirectResponse(with_query(auth.redirect_uri, {"code": code, "state": auth.state}), status_code=302)


# --- the token endpoint ----------------------------------------------------------------------------

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


async def token(request: Request) -> JSONResponse:
    """The token endpoint (form or JSON body; unknown extra fields are ignored, as clients send some)."""
    runtime: Runtime = request.app.state.runtime
    try:
        try:
            params = await read_params(request)
        except ValueError as exc:
            raise OAuthError("invalid_request", "The request body could not be parsed") from exc
        grant_type = text_param(params, "grant_type")
        handler = GRANT_HANDLERS.get(grant_type or "")
        if handler is None:
            raise OAuthError("unsupported_grant_type", f"The grant type {grant_type!r} is not supported")
        async with runtime.sessions() as session:
            app, authenticated = await authenticate_client(request, session, params)
            body = await handler(request, session, app, authenticated, params)
    except OAuthError as exc:
        return oauth_error_response(exc)
    return JSONResponse(body, headers=NO_STORE)


async def revoke(request: Request) -> JSONResponse:
    """RFC 7009: revoking an unknown token succeeds too; another app's token is refused (as Doorkeeper)."""
    runtime: Runtime = request.app.state.runtime
    try:
        try:
            params = await read_params(request)
        except ValueError as exc:
            raise OAuthError("invalid_request", "The request body could not be parsed") from exc
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
    except OAuthError as exc:
        return oauth_error_response(exc)
    return JSONResponse({}, headers=NO_STORE)


routes: list[BaseRoute] = [
    Route("/.well-known/oauth-authorization-server", authorization_server_metadata, methods=["GET"]),
    Route("/oauth/authorize", authorize_page, methods=["GET"]),
    Route("/oauth/authorize", authorize_submit, methods=["POST"]),
    Route("/oauth/token", token, methods=["POST"]),
    Route("/oauth/revoke", revoke, methods=["POST"]),
]
