"""`/settings/delete`: a person deletes their own account, after typing their password.

The page says what will happen first. The deletion itself is the domain's
(outbox/account_deletion.py): a `Delete` of the actor is queued for the servers that know the account,
the posts and everything private go, the login, app tokens and browser sessions go, and the username
can never be taken again. This browser is signed out and shown a last page. The password is checked
under the sign-in throttle, so this form cannot be used to guess it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from actors.logins import password_matches
from fediverse.login_throttle import client_ip, throttle_of
from fediverse.models import User
from fediverse.runtime import Runtime
from fediverse.web.auth import SignedIn, page, sign_in_redirect, signed_in
from fediverse.web.settings_common import posted_form, text
from outbox.account_deletion import AccountDeletion, AccountDeletionError, TeamName, teams_needing_an_admin

PATH = "/settings/delete"


async def _teams_to_hand_over(runtime: Runtime, viewer: SignedIn) -> list[TeamName]:
    async with runtime.sessions() as session:
        return [TeamName(team.username, team.display_name)
                for team in await teams_needing_an_admin(session, viewer.user.id)]


async def _show(request: Request, viewer: SignedIn, *, status_code: int = 200, error: str | None = None,
                blocking: list[TeamName] | None = None) -> Response:
    runtime: Runtime = request.app.state.runtime
    blocking = blocking if blocking is not None else await _teams_to_hand_over(runtime, viewer)
    return page(request, "settings/delete.html", viewer, status_code=status_code, error=error, blocking=blocking,
                account=viewer.person, handle=viewer.person.handle(runtime.settings.domain))


async def delete_page(request: Request) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    return await _show(request, viewer)


async def delete_account(request: Request) -> Response:
    viewer, form, refusal = await posted_form(request, back_to=PATH)
    if refusal is not None or viewer is None:
        return refusal or sign_in_redirect(request)
    runtime: Runtime = request.app.state.runtime
    throttle, ip, login = throttle_of(request), client_ip(request), viewer.person.username
    if throttle.blocked(ip, login):
        return await _show(request, viewer, status_code=429, error="throttled")
    async with runtime.sessions() as session:
        user = await session.get(User, viewer.user.id)
    if not await password_matches(user, text(form, "password")):
        throttle.failed(ip, login)
        return await _show(request, viewer, status_code=422, error="password")
    try:
        await AccountDeletion(runtime).delete_account(viewer.user.id)
    except AccountDeletionError as exc:
        return await _show(request, viewer, status_code=409, error="teams", blocking=exc.teams)
    viewer.session.log_out()
    return page(request, "settings/deleted.html", None, web=viewer.session, username=viewer.person.username)


routes: list[BaseRoute] = [
    Route(PATH, delete_page, methods=["GET"]),
    Route(PATH, delete_account, methods=["POST"]),
]
