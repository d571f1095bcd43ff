"""Signing in and out of the website, and switching the identity a signed-in person acts as.

Sign-in follows Mastodon's path (`/auth/sign_in`) and the same rules as the OAuth login form
(actors/logins.py): email or username, one throttle for both forms, the same generic message whatever
was wrong, except to whoever gave the right password of an account that waits for the confirmation
of its address or for a moderator's approval: they are told what to wait for. The identity chosen in
the header's switcher is kept in the session ("act") and checked again on every request by
`signed_in`, so losing a team membership takes effect at the next click.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.browser_sessions import end_session_by_key, open_browser_session
from actors.logins import find_user, may_act_as, password_matches, verify_login
from actors.registrations import awaiting
from fediverse.config import Settings
from fediverse.db import utcnow
from fediverse.login_throttle import LoginThrottle, client_ip, throttle_of
from fediverse.models import User
from fediverse.runtime import Runtime
from fediverse.web.auth import ACTING_KEY, csrf_refused, form_of, local_path, page, sign_in_redirect, signed_in
from fediverse.web.session import load_session, save_session

MAX_LOGIN_CHARS = 320  # the longest email address a User row holds
SIGN_IN_NOTICES = ("password",)  # `?done=`: what the page that sent here did


def _sign_in_form(request: Request, status_code: int = 200, *, error: str | None = None, login: str = "",
                  next_path: str = "/", notice: str | None = None) -> Response:
    runtime: Runtime = request.app.state.runtime
    web = load_session(request, runtime.settings)
    return page(request, "auth/sign_in.html", None, web=web, status_code=status_code, error=error, login=login,
                next_path=next_path, notice=notice)


async def sign_in_page(request: Request) -> Response:
    """The form; someone already signed in goes straight to where they were heading."""
    next_path = local_path(request.query_params.get("next"))
    if await signed_in(request) is not None:
        return RedirectResponse(next_path, status_code=303)
    done = request.query_params.get("done")
    return _sign_in_form(request, next_path=next_path, notice=done if done in SIGN_IN_NOTICES else None)


async def _check_login(session: AsyncSession, settings: Settings, login: str, password: str, *,
                       throttle: LoginThrottle, ip: str) -> tuple[User | None, str | None]:
    """The user when they may sign in; else why not: "unconfirmed" or "pending" is said only to whoever
    gave the right password (Mastodon says as much), anything else is the generic "invalid_login".
    One password hash either way."""
    found = await find_user(session, settings, login)
    reason = await awaiting(session, found) if found is not None else None
    if found is None or reason is None:
        user = await verify_login(session, settings, login, password, throttle=throttle, ip=ip)
        return user, None if user is not None else "invalid_login"
    if await password_matches(found, password):
        return None, reason
    throttle.failed(ip, login)
    return None, "invalid_login"


async def sign_in(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    form = await form_of(request)
    web = load_session(request, runtime.settings)
    if not web.check_csrf(form.get("csrf_token")):
        return csrf_refused(request, None)
    next_path = local_path(form.get("next"))
    login, password = form.get("login", "").strip()[:MAX_LOGIN_CHARS], form.get("password", "")
    throttle, ip = throttle_of(request), client_ip(request)
    if throttle.blocked(ip, login):
        return _sign_in_form(request, 429, error="throttled", login=login, next_path=next_path)
    user: User | None = None
    refusal = "invalid_login"
    if login and password:
        async with runtime.sessions() as session:
            user, refusal = await _check_login(session, runtime.settings, login, password, throttle=throttle, ip=ip)
            if user is not None:
                user.last_login_at = utcnow()
                browser_key = await open_browser_session(session, user, ip=ip,
                                                         user_agent=request.headers.get("user-agent", ""))
                await session.commit()
    if user is None:
        return _sign_in_form(request, 422 if refusal == "invalid_login" else 403, error=refusal, login=login,
                             next_path=next_path)
    web.log_in(user.id, browser_key)  # a fresh session (and CSRF token): nothing from before carries over
    response = RedirectResponse(next_path, status_code=303)
    save_session(response, web, runtime.settings)
    return response


async def sign_out(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    form = await form_of(request)
    web = load_session(request, runtime.settings)
    if not web.check_csrf(form.get("csrf_token")):
        return csrf_refused(request, await signed_in(request))
    async with runtime.sessions() as session:
        await end_session_by_key(session, web.browser_key)
        await session.commit()
    web.log_out()
    response = RedirectResponse("/", status_code=303)
    save_session(response, web, runtime.settings)
    return response


async def switch_identity(request: Request) -> Response:
    """Act as another identity: the user's own account or one whose team they are an active member of."""
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    runtime: Runtime = request.app.state.runtime
    form = await form_of(request)
    if not viewer.session.check_csrf(form.get("csrf_token")):
        return csrf_refused(request, viewer)
    wanted = form.get("actor_id", "")
    actor_id = int(wanted) if wanted.isdigit() and len(wanted) <= 19 else 0
    async with runtime.sessions() as session:
        allowed = await may_act_as(session, viewer.user, actor_id)
    if not allowed:
        return page(request, "auth/refused.html", viewer, status_code=403, reason="identity")
    viewer.session.data[ACTING_KEY] = actor_id
    viewer.session.modified = True
    response = RedirectResponse(local_path(form.get("next")), status_code=303)
    save_session(response, viewer.session, runtime.settings)
    return response


routes: list[BaseRoute] = [
    Route("/auth/sign_in", sign_in_page, methods=["GET"]),
    Route("/auth/sign_in", sign_in, methods=["POST"]),
    Route("/auth/sign_out", sign_out, methods=["POST"]),
    Route("/settings/identity", switch_identity, methods=["POST"]),
]
