"""`/settings/invites`: a signed-in person's invitation links (Mastodon's "Invite people"): make one,
limited in uses and in time, copy it, see how often it was used, revoke it. Offered while the
registration mode uses invitations (invite, approval); the rules are in actors/invites.py."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.invites import (
    EXPIRY_CHOICES,
    MAX_USES_CHOICES,
    InviteError,
    create_invite,
    invite_is_live,
    invites_enabled,
    invites_of,
    revoke_invite,
)
from fediverse.runtime import Runtime
from fediverse.web.auth import SignedIn, csrf_refused, form_of, page, sign_in_redirect, signed_in

NOTICES = ("created", "revoked")


def _choice(value: str, choices: tuple[int | None, ...]) -> int | None | str:
    """The offered choice a form value names ("" = none/never); the string itself when not offered."""
    if value == "":
        return None
    return int(value) if value.isdigit() and len(value) <= 9 and int(value) in choices else value


async def _show(request: Request, viewer: SignedIn, *, status_code: int = 200, error: str | None = None) -> Response:
    runtime: Runtime = request.app.state.runtime
    enabled = invites_enabled(runtime.settings)
    async with runtime.sessions() as session:
        invites = await invites_of(session, viewer.user) if enabled else []
    done = request.query_params.get("done")
    return page(request, "auth/invites.html", viewer, status_code=status_code if enabled else 403, enabled=enabled,
                invites=[(invite, invite_is_live(invite)) for invite in invites], error=error,
                notice=done if done in NOTICES else None, expiry_choices=EXPIRY_CHOICES,
                max_uses_choices=MAX_USES_CHOICES, base_url=runtime.settings.base_url)


async def invites_page(request: Request) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    return await _show(request, viewer)


async def _posted(request: Request) -> tuple[SignedIn | None, dict[str, str], Response | None]:
    viewer = await signed_in(request)
    if viewer is None:
        return None, {}, RedirectResponse("/auth/sign_in?next=%2Fsettings%2Finvites", status_code=303)
    fields = await form_of(request)
    if not viewer.session.check_csrf(fields.get("csrf_token")):
        return viewer, fields, csrf_refused(request, viewer)
    return viewer, fields, None


async def create(request: Request) -> Response:
    viewer, fields, refusal = await _posted(request)
    if refusal is not None or viewer is None:
        return refusal or sign_in_redirect(request)
    runtime: Runtime = request.app.state.runtime
    max_uses = _choice(fields.get("max_uses", ""), MAX_USES_CHOICES)
    expires_in = _choice(fields.get("expires_in", ""), EXPIRY_CHOICES)
    try:
        if isinstance(max_uses, str) or isinstance(expires_in, str):
            raise InviteError("choice")
        async with runtime.transaction() as session:
            await create_invite(session, runtime.settings, viewer.user, max_uses=max_uses,
                                expires_in_minutes=expires_in)
    except InviteError as exc:
        return await _show(request, viewer, status_code=422, error=exc.reason)
    return RedirectResponse("/settings/invites?done=created", status_code=303)


async def revoke(request: Request) -> Response:
    viewer, fields, refusal = await _posted(request)
    if refusal is not None or viewer is None:
        return refusal or sign_in_redirect(request)
    runtime: Runtime = request.app.state.runtime
    wanted = fields.get("invite_id", "")
    try:
        async with runtime.transaction() as session:
            await revoke_invite(session, viewer.user, int(wanted) if wanted.isdigit() and len(wanted) <= 19 else 0)
    except InviteError as exc:
        return await _show(request, viewer, status_code=404, error=exc.reason)
    return RedirectResponse("/settings/invites?done=revoked", status_code=303)


routes: list[BaseRoute] = [
    Route("/settings/invites", invites_page, methods=["GET"]),
    Route("/settings/invites", create, methods=["POST"]),
    Route("/settings/invites/revoke", revoke, methods=["POST"]),
]
