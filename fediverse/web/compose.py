"""Writing a post on the website, as the identity the person acts as (their own account, or an
association whose team they are an active member of): a new post, with up to four photos and their
descriptions, or a reply (`/statuses/new?in_reply_to=ID`).

The post goes through the same outbox command as the Mastodon API (`Outbox.post` with a
`StatusDraft`), so it is stored, located in its commune and delivered exactly like one from an app;
when it is written for a team, the team's action log records which member wrote it. The form is
checked here first so that its usual mistakes get a message in the reader's language; anything the
outbox still refuses is shown as it says it. Photos are stored as soon as they arrive
(fediverse/web/uploads.py): a form shown again keeps them, and a photo without a description is
questioned before it is published.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.status_views import StatusView, mentioned_accounts, status_view
from actors.teams import record_if_team_action
from actors.territory import list_communes
from actors.threads import readable_status
from fediverse.models import VISIBILITIES, Actor, Attachment, Commune
from fediverse.runtime import Runtime
from fediverse.templating import translations
from fediverse.web.auth import SignedIn, csrf_refused, language_of, page, sign_in_redirect, signed_in
from fediverse.web.social_common import form_id, gettext_for, not_found, say
from fediverse.web.uploads import PhotoInput, read_photos
from outbox.commands import MAX_MEDIA, MAX_TEXT_LENGTH, CommandError, Outbox, StatusDraft

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
    photos: PhotoInput | None = None
    in_reply_to: StatusView | None = None
    # Editing a published post (fediverse/web/status_edit_pages.py): its photos, those ticked for
    # removal, how many new ones still fit, and where "Cancel" goes.
    editing: StatusView | None = None
    attached: list[Attachment] = field(default_factory=list)
    removed: set[int] = field(default_factory=set)
    free_slots: int = MAX_MEDIA
    cancel: str = "/"
    # A new key per form shown: the outbox's idempotency answers a double-click with the same status.
    idempotency_key: str = field(default_factory=lambda: secrets.token_urlsafe(18))


async def compose_form(runtime: Runtime, viewer: SignedIn, **values: object) -> ComposeForm:
    """A blank form (the user's default visibility, the acting identity's commune), or `values` again."""
    async with runtime.sessions() as session:
        communes = await list_communes(session)
    form = ComposeForm(visibility=viewer.user.default_visibility if viewer.user.default_visibility in VISIBILITIES
                       else "public", commune=viewer.acting.commune_insee or "", communes=communes)
    for name, value in values.items():
        if value is not None:
            setattr(form, name, value)
    return form


def form_problem(language: str, form: ComposeForm) -> str | None:
    """Why the form's text cannot be posted, in the reader's language; None when it can. A post may
    be photos alone."""
    gettext = translations(language).gettext
    has_photos = bool(form.photos and form.photos.photos) or len(form.attached) > len(form.removed)
    if not form.text.strip() and not has_photos:
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


def text_field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def handle_of(actor: Actor) -> str:
    """How a post mentions an account: @name here, @name@server elsewhere."""
    return f"@{actor.username}" if actor.domain is None else f"@{actor.username}@{actor.domain}"


def _stricter(visibility: str, other: str) -> str:
    """The more private of two visibilities (a reply is never more public than what it answers)."""
    return max(visibility, other, key=lambda v: VISIBILITIES.index(v) if v in VISIBILITIES else 0)


async def reply_target(runtime: Runtime, viewer: SignedIn, status_id: int | None) -> StatusView | None:
    """The post answered, if the acting identity may read it (the original, for a boost's id)."""
    if status_id is None:
        return None
    async with runtime.sessions() as session:
        status = await readable_status(session, viewer.acting.id, status_id)
        if status is not None and status.reblog_of_id is not None:
            status = await readable_status(session, viewer.acting.id, status.reblog_of_id)
        return await status_view(session, viewer.acting.id, status) if status is not None else None


async def _reply_defaults(runtime: Runtime, viewer: SignedIn, parent: StatusView) -> dict[str, object]:
    """A reply starts with the handles of the people in the conversation (its author and whoever it
    mentions, not oneself), as private as what it answers, with its content warning."""
    async with runtime.sessions() as session:
        others = await mentioned_accounts(session, parent.id)
    people = [account for account in [parent.author, *others] if account.id != viewer.acting.id]
    handles = list(dict.fromkeys(handle_of(account) for account in people))
    default = viewer.user.default_visibility if viewer.user.default_visibility in VISIBILITIES else "public"
    return {"text": " ".join(handles) + " " if handles else "", "spoiler_text": parent.status.summary or "",
            "visibility": _stricter(default, parent.status.visibility), "in_reply_to": parent}


async def new_status_page(request: Request) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    runtime: Runtime = request.app.state.runtime
    posted = request.query_params.get("posted")
    values: dict[str, object] = {"posted": posted if posted in VISIBILITIES else None}
    if "in_reply_to" in request.query_params:
        parent = await reply_target(runtime, viewer, form_id(request.query_params.get("in_reply_to")))
        if parent is None:
            return not_found(request, viewer)
        values.update(await _reply_defaults(runtime, viewer, parent))
    form = await compose_form(runtime, viewer, **values)
    return page(request, "compose.html", viewer, compose=form)


async def create_status(request: Request) -> Response:
    """Post the form as the acting identity, then show the new status (303, so a reload does not post
    again); the form comes back (422) with everything typed and every photo sent when it cannot be."""
    viewer = await signed_in(request)
    if viewer is None:
        return RedirectResponse("/auth/sign_in?next=%2Fstatuses%2Fnew", status_code=303)
    runtime: Runtime = request.app.state.runtime
    fields = await request.form()
    if not viewer.session.check_csrf(text_field(fields, "csrf_token")):
        return csrf_refused(request, viewer)
    gettext = gettext_for(request, viewer)
    form = await compose_form(runtime, viewer, text=text_field(fields, "status"),
                              spoiler_text=text_field(fields, "spoiler_text").strip(),
                              visibility=text_field(fields, "visibility") or None,
                              commune=text_field(fields, "commune").strip())
    form.idempotency_key = text_field(fields, "idempotency_key")[:64] or form.idempotency_key
    form.photos = await read_photos(runtime, viewer.acting.id, fields)
    reply_id = form_id(text_field(fields, "in_reply_to_id"))
    if text_field(fields, "in_reply_to_id"):
        form.in_reply_to = await reply_target(runtime, viewer, reply_id)
        if form.in_reply_to is None:
            form.error = gettext("The post you are answering is no longer available.")
    form.error = form.error or form_problem(language_of(request, viewer), form)
    if form.error is None and text_field(fields, "acting_id") != str(viewer.acting.id):
        # The form was written as another identity (switched in another tab, or removed from that team
        # since): never publish under a name the writer did not see on the form.
        form.error = gettext("You now post as %(name)s. Check the post, then publish it again.") % {
            "name": viewer.acting.display_name or viewer.acting.username}
    if form.error is None and form.photos.ready:
        draft = StatusDraft(text=form.text, spoiler_text=form.spoiler_text, visibility=form.visibility,
                            sensitive=bool(form.spoiler_text) or viewer.user.default_sensitive,
                            language=viewer.user.default_language or None, commune=form.commune or None,
                            in_reply_to_id=form.in_reply_to.id if form.in_reply_to else None,
                            media_ids=form.photos.ids)
        try:
            status = await Outbox(runtime).post(viewer.acting.id, draft, idempotency_key=form.idempotency_key)
        except CommandError as exc:
            form.error = say(request, viewer, exc)
        else:
            await record_if_team_action(runtime, viewer, "status.create", status.uri)
            if status.visibility in PUBLIC_VISIBILITIES or form.in_reply_to is not None:
                return RedirectResponse(f"/@{viewer.acting.username}/{status.id}", status_code=303)
            return RedirectResponse(f"/statuses/new?posted={status.visibility}", status_code=303)
    return page(request, "compose.html", viewer, status_code=422, compose=form)


routes: list[BaseRoute] = [
    Route("/statuses/new", new_status_page, methods=["GET"]),
    Route("/statuses", create_status, methods=["POST"]),
]
