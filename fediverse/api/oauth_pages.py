"""The OAuth authorize pages: login, then consent with an identity chooser (the user's own actor or
an account their team manages), answered with a code or a denial to the app's redirect URI."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from actors.browser_sessions import find_browser_session, open_browser_session
from actors.logins import active, identities_of, may_act_as
from fediverse.api.apps import OOB, find_app, registered_redirect_uris
from fediverse.api.auth import hash_secret, new_secret
from fediverse.api.oauth_logins import verify_login
from fediverse.api.oauth_tokens import PKCE_RE
from fediverse.api.params import text_param, truthy
from fediverse.api.scopes import parse_scopes, subset
from fediverse.config import Settings
from fediverse.db import utcnow
from fediverse.login_throttle import client_ip, throttle_of
from fediverse.models import OAuthApp, OAuthGrant, User
from fediverse.runtime import Runtime
from fediverse.templating import LOCALE_DIR, render
from fediverse.web.session import CSRF_FIELD, WebSession, load_session, save_session

CODE_TTL = timedelta(minutes=10)
STATE_LIMIT = 1000


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
    """The browser's user while its session lives (signing out elsewhere ends it here too)."""
    if web.user_id is None or await find_browser_session(session, web.user_id, web.browser_key) is None:
        return None
    user = await session.get(User, web.user_id)
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
    web.log_in(user.id, await open_browser_session(session, user, ip=client_ip(request),
                                                   user_agent=request.headers.get("user-agent", "")))
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
