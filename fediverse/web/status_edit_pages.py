"""Editing one's own post (`/statuses/ID/edit`): its text, content warning, commune and photos
(describe them, remove some, add new ones up to four). Who can see the post stays as published,
like on Mastodon.

The change goes through `Outbox.edit`, so the previous version is kept in the post's history and an
Update is delivered to the servers that have the post; a poll is kept as it is. Events and petites
annonces are edited from their own pages.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.status_media import attached_media, describe_attached
from actors.status_views import StatusView
from actors.teams import record_if_team_action
from fediverse.media.errors import MediaError
from fediverse.runtime import Runtime
from fediverse.sanitize import html_to_text
from fediverse.web.auth import SignedIn, csrf_refused, language_of, page, sign_in_redirect, signed_in
from fediverse.web.compose import ComposeForm, compose_form, form_problem, text_field
from fediverse.web.interaction_pages import own_status, status_path
from fediverse.web.social_common import form_id, gettext_for, not_found, say
from fediverse.web.uploads import read_photos
from outbox.commands import KEEP, MAX_MEDIA, CommandError, Outbox


async def _edit_form(runtime: Runtime, viewer: SignedIn, view: StatusView, **values: object) -> ComposeForm:
    async with runtime.sessions() as session:
        attached = await attached_media(session, view.id)
    status = view.status
    text = status.source_text if status.source_text is not None else html_to_text(status.content or "")
    defaults: dict[str, object] = {
        "text": text, "spoiler_text": status.summary or "", "visibility": status.visibility,
        "commune": status.commune_insee or "", "editing": view, "attached": attached,
        "free_slots": max(0, MAX_MEDIA - len(attached)), "cancel": status_path(status)}
    return await compose_form(runtime, viewer, **{**defaults, **values})


async def _editable(request: Request, viewer: SignedIn) -> StatusView | Response:
    """The acting identity's own plain post, or the answer to give instead."""
    view = await own_status(request, viewer)
    if view is None:
        return not_found(request, viewer)
    if view.kind is not None:  # an event or an ad: its own page has its own form
        return RedirectResponse(status_path(view.status), status_code=303)
    return view


async def edit_page(request: Request) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    view = await _editable(request, viewer)
    if isinstance(view, Response):
        return view
    form = await _edit_form(request.app.state.runtime, viewer, view)
    return page(request, "compose.html", viewer, compose=form)


async def save_edit(request: Request) -> Response:
    """Save the edited post and show it; the form comes back (422) with what was typed when it cannot be."""
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    runtime: Runtime = request.app.state.runtime
    fields = await request.form()
    if not viewer.session.check_csrf(text_field(fields, "csrf_token")):
        return csrf_refused(request, viewer)
    view = await _editable(request, viewer)
    if isinstance(view, Response):
        return view
    gettext = gettext_for(request, viewer)
    form = await _edit_form(runtime, viewer, view, text=text_field(fields, "status"),
                            spoiler_text=text_field(fields, "spoiler_text").strip(),
                            commune=text_field(fields, "commune").strip())
    current = {item.id for item in form.attached}
    form.removed = {i for i in (form_id(v) for v in fields.getlist("remove_media") if isinstance(v, str))
                    if i in current}
    descriptions = {item.id: text_field(fields, f"attached_{item.id}_alt") for item in form.attached
                    if f"attached_{item.id}_alt" in fields}
    for item in form.attached:  # shown again as typed, whatever happens next
        if item.id in descriptions:
            item.description = descriptions[item.id].strip() or None
    kept = [item.id for item in form.attached if item.id not in form.removed]
    form.free_slots = max(0, MAX_MEDIA - len(kept))
    form.photos = await read_photos(runtime, viewer.acting.id, fields)
    form.error = form_problem(language_of(request, viewer), form)
    if form.error is None and len(kept) + len(form.photos.photos) > MAX_MEDIA:
        form.error = gettext("A post has at most %(count)s photos: remove some first.") % {"count": MAX_MEDIA}
    if form.error is None and form.photos.ready:
        outbox = Outbox(runtime)
        try:
            async with runtime.transaction() as session:
                await describe_attached(session, viewer.acting.id, view.id, descriptions)
            content, mentions, tags = await outbox.compose(form.text)
            sensitive = bool(form.spoiler_text) or viewer.user.default_sensitive
            await outbox.edit(viewer.acting.id, view.id, content, summary=form.spoiler_text, source_text=form.text,
                              sensitive=sensitive, mentions=mentions, tags=tags, media_ids=kept + form.photos.ids,
                              poll=KEEP, commune=form.commune or None)
        except MediaError as exc:
            form.error = str(exc)
        except CommandError as exc:
            form.error = say(request, viewer, exc)
        else:
            await record_if_team_action(runtime, viewer, "status.update", view.status.uri)
            return RedirectResponse(status_path(view.status), status_code=303)
    return page(request, "compose.html", viewer, status_code=422, compose=form)


routes: list[BaseRoute] = [
    Route("/statuses/{status_id:int}/edit", edit_page, methods=["GET"]),
    Route("/statuses/{status_id:int}/edit", save_edit, methods=["POST"]),
]
