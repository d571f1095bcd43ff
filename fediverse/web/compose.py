"""Writing a post on the website, as the identity the person acts as (their own account, or an
association whose team they are an active member of).

The post goes through the same outbox command as the Mastodon API (`Outbox.post` with a
`StatusDraft`), so it is stored, located in its commune and delivered exactly like one from an app;
when it is written for a team, the team's action log records which member wrote it. The form is
checked here first so that its usual mistakes get a message in the reader's language; anything the
outbox still refuses is shown as it says it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.teams import record_if_team_action
from actors.territory import list_communes
from fediverse.models import VISIBILITIES, Commune
from fediverse.runtime import Runtime
from fediverse.web.auth import SignedIn, csrf_refused, form_of, language_of, page, sign_in_redirect, signed_in
from fediverse.web.templating import translations
from outbox.commands import MAX_TEXT_LENGTH, CommandError, Outbox, StatusDraft

MAX_CONTENT_WARNING = 500
# Posts readable without an account get a permalink page; the others are confirmed on the form itself.
PUBLIC_VISIBILITIES = ("public", "unlisted")


@dataclass
class ComposeForm:
    """What the compose form shows: the values typed so far, the choices, and what was wrong."""

    text: str = ""
    spoiler_text: str = ""
    visibility: str = "public"
    commune: str = ""
    communes: list[Commune] = field(default_factory=list)
    error: str | None = None
    posted: str | None = None
    max_chars: int = MAX_TEXT_LENGTH
    visibilities: tuple[str, ...] = VISIBILITIES
    # A new key per form shown: the outbox's idempotency answers a double-click with the same status.
    idempotency_key: str = field(default_factory=lambda: secrets.token_urlsafe(18))


async def compose_form(runtime: Runtime, viewer: SignedIn, **values: str | None) -> ComposeForm:
    """A blank form (the user's default visibility, the acting identity's commune), or `values` again."""
    async with runtime.sessions() as session:
        communes = await list_communes(session)
    form = ComposeForm(visibility=viewer.user.default_visibility if viewer.user.default_visibility in VISIBILITIES
                       else "public", commune=viewer.acting.commune_insee or "", communes=communes)
    for name, value in values.items():
        if value is not None:
            setattr(form, name, value)
    return form


def _problem(language: str, form: ComposeForm) -> str | None:
    """Why the form cannot be posted, in the reader's language; None when it can."""
    gettext = translations(language).gettext
    if not form.text.strip():
        return gettext("Write something before publishing.")
    if len(form.text) + len(form.spoiler_text) > MAX_TEXT_LENGTH:
        return gettext("Your post is too long: at most %(max)d characters, content warning included.") % {
            "max": MAX_TEXT_LENGTH}
    if len(form.spoiler_text) > MAX_CONTENT_WARNING:
        return gettext("The content warning is too long.")
    if form.visibility not in VISIBILITIES:
        return gettext("Choose who can see the post.")
    if form.commune and form.commune not in {commune.insee for commune in form.communes}:
        return gettext("This commune is not one of the territory's communes.")
    return None


async def new_status_page(request: Request) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    runtime: Runtime = request.app.state.runtime
    posted = request.query_params.get("posted")
    form = await compose_form(runtime, viewer, posted=posted if posted in VISIBILITIES else None)
    return page(request, "compose.html", viewer, compose=form)


async def create_status(request: Request) -> Response:
    """Post the form as the acting identity, then show the new status (303, so a reload does not post again)."""
    viewer = await signed_in(request)
    if viewer is None:
        return RedirectResponse("/auth/sign_in?next=%2Fstatuses%2Fnew", status_code=303)
    runtime: Runtime = request.app.state.runtime
    fields = await form_of(request)
    if not viewer.session.check_csrf(fields.get("csrf_token")):
        return csrf_refused(request, viewer)
    form = await compose_form(runtime, viewer, text=fields.get("status", ""),
                              spoiler_text=fields.get("spoiler_text", "").strip(),
                              visibility=fields.get("visibility") or None, commune=fields.get("commune", "").strip())
    form.error = _problem(language_of(request, viewer), form)
    if form.error is None and fields.get("acting_id") != str(viewer.acting.id):
        # The form was written as another identity (switched in another tab, or removed from that team
        # since): never publish under a name the writer did not see on the form.
        form.error = translations(language_of(request, viewer)).gettext(
            "You now post as %(name)s. Check the post, then publish it again.") % {
            "name": viewer.acting.display_name or viewer.acting.username}
    if form.error is None:
        draft = StatusDraft(text=form.text, spoiler_text=form.spoiler_text, visibility=form.visibility,
                            sensitive=bool(form.spoiler_text) or viewer.user.default_sensitive,
                            language=viewer.user.default_language or None, commune=form.commune or None)
        key = fields.get("idempotency_key", "")[:64] or None
        try:
            status = await Outbox(runtime).post(viewer.acting.id, draft, idempotency_key=key)
        except CommandError as exc:
            form.error = str(exc)
        else:
            await record_if_team_action(runtime, viewer, "status.create", status.uri)
            if status.visibility in PUBLIC_VISIBILITIES:
                return RedirectResponse(f"/@{viewer.acting.username}/{status.id}", status_code=303)
            return RedirectResponse(f"/statuses/new?posted={status.visibility}", status_code=303)
    form.idempotency_key = fields.get("idempotency_key", "")[:64] or form.idempotency_key
    return page(request, "compose.html", viewer, status_code=422, compose=form)


routes: list[BaseRoute] = [
    Route("/statuses/new", new_status_page, methods=["GET"]),
    Route("/statuses", create_status, methods=["POST"]),
]
