"""Who is signed in on the website, and as whom they act.

The signed session cookie (fediverse/web/session.py) holds the user id and, once they switch
identity, the id of the account they act as (their own, or an association/shop/group whose team
they are an active member of). Membership is checked again on every request: a member removed
from a team loses the identity at their next click, exactly as their app tokens are revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from actors.browser_sessions import find_browser_session
from actors.logins import active, identities_of
from fediverse.models import Actor, User
from fediverse.runtime import Runtime
from fediverse.templating import LANGUAGES, pick_language, render
from fediverse.web.session import CSRF_FIELD, WebSession, load_session, save_session

ACTING_KEY = "act"


@dataclass
class SignedIn:
    """The signed-in user, their own account, the account they act as now, and every identity they may take."""

    user: User
    person: Actor
    acting: Actor
    identities: list[Actor]
    session: WebSession
    browser_session_id: int

    @property
    def actor(self) -> Actor:
        """The account actions are taken as: with `user`, what actors.teams.record_if_team_action reads."""
        return self.acting

    @property
    def acts_for_team(self) -> bool:
        return self.acting.id != self.person.id


async def signed_in(request: Request) -> SignedIn | None:
    """The signed-in user of this request, or None (no cookie, a tampered one, or an account that may
    no longer log in). An acting identity they lost falls back to their own account."""
    runtime: Runtime = request.app.state.runtime
    web_session = load_session(request, runtime.settings)
    if web_session.user_id is None:
        return None
    async with runtime.sessions() as session:
        browser = await find_browser_session(session, web_session.user_id, web_session.browser_key)
        if browser is None:  # signed out from another browser, or a cookie from before sessions were kept
            return None
        user = await session.get(User, web_session.user_id)
        if user is None or not await active(session, user):
            return None
        identities = await identities_of(session, user)
    person = identities[0]
    wanted = web_session.data.get(ACTING_KEY)
    acting = next((actor for actor in identities if actor.id == wanted), person)
    return SignedIn(user=user, person=person, acting=acting, identities=identities, session=web_session,
                    browser_session_id=browser.id)


def sign_in_redirect(request: Request) -> RedirectResponse:
    """Send an anonymous visitor to the sign-in page, and back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/auth/sign_in?next={quote(target, safe='')}", status_code=303)


# -- pages of signed-in (or signing-in) visitors ----------------------------------------------------

# Pages carry the session's CSRF token in their forms: never cached. The Content-Security-Policy and
# the no-framing headers are added to every HTML response by fediverse/web/security.py.
PRIVATE_HEADERS = {"Cache-Control": "no-store"}
LANGUAGE_COOKIE = "lang"


def language_of(request: Request, viewer: SignedIn | None) -> str:
    """The user's own interface language when signed in, else the one a visitor chose (cookie), else the
    browser's (Accept-Language), else the instance's."""
    if viewer is not None and viewer.user.locale in LANGUAGES:
        return viewer.user.locale
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    runtime: Runtime = request.app.state.runtime
    return pick_language(request.headers.get("accept-language"), runtime.settings.language)


def local_path(value: object, default: str = "/") -> str:
    """`value` when it is a path on this site; anything else (another host, //host, a scheme, control
    characters) becomes `default`, so `next=` can never send a visitor elsewhere after signing in."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if len(value) > 2000 or any(ord(c) < 0x20 or c == "\\" for c in value):
        return default
    return value


def current_path(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def page(request: Request, template: str, viewer: SignedIn | None, *, web: WebSession | None = None,
         status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page whose header shows who is signed in and as whom they act (`viewer`), with the session's
    CSRF token for its forms; the session cookie is written when it changed."""
    runtime: Runtime = request.app.state.runtime
    web = web if web is not None else (viewer.session if viewer is not None else load_session(request,
                                                                                              runtime.settings))
    context.setdefault("current_path", current_path(request))
    html = render(language_of(request, viewer), template, settings=runtime.settings, viewer=viewer,
                  csrf_field=CSRF_FIELD, csrf_token=web.csrf_token, **context)
    response = HTMLResponse(html, status_code=status_code, headers=PRIVATE_HEADERS)
    save_session(response, web, runtime.settings)
    return response


def csrf_refused(request: Request, viewer: SignedIn | None) -> Response:
    """A form without this session's token (forged, or sent after the session changed): 403 with a way back."""
    return page(request, "auth/refused.html", viewer, status_code=403, reason="csrf")


async def form_of(request: Request) -> dict[str, str]:
    """The submitted fields (text only; the body size is capped by the app's middleware)."""
    return {key: value for key, value in (await request.form()).items() if isinstance(value, str)}
