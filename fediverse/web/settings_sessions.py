"""`/settings/sessions`: the browsers signed in to the person's account (actors/browser_sessions.py),
each with its browser and system in words, its IP address, when it signed in and was last seen; the
person ends any of them, or all but this one. An ended browser is signed out at its next click."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.browser_sessions import browser_sessions_of, end_all_browser_sessions, end_browser_session
from fediverse.models import BrowserSession
from fediverse.runtime import Runtime
from fediverse.web.auth import page, sign_in_redirect, signed_in
from fediverse.web.session import save_session
from fediverse.web.settings_common import done, done_notice, id_field, posted_form

PATH = "/settings/sessions"
NOTICES = ("ended", "ended_others")
# Tokens of a User-Agent header, most specific first: Edge and Opera also say "Chrome", Chrome also says
# "Safari", Android also says "Linux", iOS also says "Mac OS X".
BROWSERS = (("Edg", "Edge"), ("OPR/", "Opera"), ("SamsungBrowser/", "Samsung Internet"), ("Firefox/", "Firefox"),
            ("FxiOS/", "Firefox"), ("CriOS/", "Chrome"), ("Chromium/", "Chromium"), ("Chrome/", "Chrome"),
            ("Safari/", "Safari"))
SYSTEMS = (("iPhone", "iOS"), ("iPad", "iPadOS"), ("Android", "Android"), ("CrOS", "ChromeOS"),
           ("Windows", "Windows"), ("Macintosh", "macOS"), ("Mac OS X", "macOS"), ("Linux", "Linux"))


@dataclass
class BrowserRow:
    """A session as the page lists it."""

    session: BrowserSession
    browser: str | None
    system: str | None
    current: bool


def summarise_user_agent(user_agent: str) -> tuple[str | None, str | None]:
    """(browser, system) named in a User-Agent header, None for what it does not say plainly."""
    browser = next((name for token, name in BROWSERS if token in user_agent), None)
    system = next((name for token, name in SYSTEMS if token in user_agent), None)
    return browser, system


async def sessions_page(request: Request) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session:
        rows = await browser_sessions_of(session, viewer.user)
    listed = [BrowserRow(row, *summarise_user_agent(row.user_agent), current=row.id == viewer.browser_session_id)
              for row in rows]
    listed.sort(key=lambda row: not row.current)  # this browser first, then by last seen
    return page(request, "settings/sessions.html", viewer, rows=listed, notice=done_notice(request, NOTICES))


async def end_one(request: Request) -> Response:
    """End one session; ending this browser's own is signing out."""
    viewer, form, refusal = await posted_form(request, back_to=PATH)
    if refusal is not None or viewer is None:
        return refusal or sign_in_redirect(request)
    runtime: Runtime = request.app.state.runtime
    session_id = id_field(form, "session_id")
    async with runtime.transaction() as session:
        await end_browser_session(session, viewer.user, session_id)
    if session_id == viewer.browser_session_id:
        viewer.session.log_out()
        response = RedirectResponse("/", status_code=303)
        save_session(response, viewer.session, runtime.settings)
        return response
    return done(PATH, "ended")


async def end_others(request: Request) -> Response:
    viewer, _form, refusal = await posted_form(request, back_to=PATH)
    if refusal is not None or viewer is None:
        return refusal or sign_in_redirect(request)
    runtime: Runtime = request.app.state.runtime
    async with runtime.transaction() as session:
        await end_all_browser_sessions(session, viewer.user, keep_id=viewer.browser_session_id)
    return done(PATH, "ended_others")


routes: list[BaseRoute] = [
    Route(PATH, sessions_page, methods=["GET"]),
    Route(f"{PATH}/end", end_one, methods=["POST"]),
    Route(f"{PATH}/end_others", end_others, methods=["POST"]),
]
