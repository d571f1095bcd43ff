"""`/settings/applications`: the apps a person let into their account (Mastodon's "Authorized apps"),
with the permissions they hold, when they were let in and last used, and as whom they act; revoking
one ends every token it holds for the person at once (its next API call gets 401). The rules are the
domain's (actors/app_authorizations.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from actors.app_authorizations import authorizations_of, revoke_app
from fediverse.runtime import Runtime
from fediverse.web.auth import page, sign_in_redirect, signed_in
from fediverse.web.settings_common import done, done_notice, id_field, posted_form

PATH = "/settings/applications"


async def applications_page(request: Request) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session:
        apps = await authorizations_of(session, viewer.user.id)
    return page(request, "settings/applications.html", viewer, apps=apps, notice=done_notice(request, ("revoked",)),
                domain=runtime.settings.domain)


async def revoke(request: Request) -> Response:
    viewer, form, refusal = await posted_form(request, back_to=PATH)
    if refusal is not None or viewer is None:
        return refusal or sign_in_redirect(request)
    runtime: Runtime = request.app.state.runtime
    async with runtime.transaction() as session:
        await revoke_app(session, viewer.user.id, id_field(form, "app_id"))
    # Revoked already (another tab) or never authorized: the page shows the apps as they are now.
    return done(PATH, "revoked")


routes: list[BaseRoute] = [
    Route(PATH, applications_page, methods=["GET"]),
    Route(f"{PATH}/revoke", revoke, methods=["POST"]),
]
