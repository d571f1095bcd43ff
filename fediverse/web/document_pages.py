"""Publishing a PDF document (minutes of the council, a club's programme) as a post, from the account's
documents page (`/@alice/documents`), by whoever acts as that account.

The file goes through the media pipeline like any upload (fediverse/media/documents.py recognises
a PDF by its bytes), its title becomes the attachment's description (the document's accessible
name, and its name in other servers' apps), and the post is published with `Outbox.post`, so it
federates exactly like a post with a file written in a Mastodon app. A team member's publication is
logged in the team's action log. The form lives under `/statuses/` so it gets the upload size cap of
the website's file forms.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.teams import record_if_team_action
from fediverse.media.attachments import create_attachment, delete_attachment
from fediverse.media.documents import PDF_TYPE
from fediverse.media.errors import MediaError
from fediverse.runtime import Runtime
from fediverse.templating import translations
from fediverse.web.auth import SignedIn, csrf_refused, language_of, signed_in
from fediverse.web.profile_pages import gallery
from outbox.commands import MAX_TEXT_LENGTH, CommandError, Outbox, StatusDraft

MAX_TITLE = 200
PUBLISH_PATH = "/statuses/documents"


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


async def _refuse(request: Request, viewer: SignedIn, message: str, *, title: str, text: str) -> Response:
    """The documents page again, with the reason and what was typed (422)."""
    return await gallery(request, viewer, viewer.acting, "documents", status_code=422, error=message, title=title,
                         text=text)


def _media_problem(gettext: Callable[[str], str], error: MediaError) -> str:
    """The media pipeline's refusal (English, as the API says it) in the reader's language."""
    text = str(error)
    said = [("too large", gettext("The file is too large: documents up to 16 MB.")),
            ("incomplete", gettext("This PDF document is incomplete: was the upload interrupted?")),
            ("damaged", gettext("This PDF document cannot be read: its beginning is damaged.")),
            ("not supported", gettext("This file is not a PDF document."))]
    return next((words for marker, words in said if marker in text),
                gettext("This file cannot be published: %(reason)s") % {"reason": text})


async def publish_document(request: Request) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return RedirectResponse("/auth/sign_in", status_code=303)
    form = await request.form()
    if not viewer.session.check_csrf(_text(form.get("csrf_token"))):
        return csrf_refused(request, viewer)
    gettext = translations(language_of(request, viewer)).gettext
    title, text = _text(form.get("title")), _text(form.get("text"))
    upload = form.get("document")
    if not isinstance(upload, UploadFile) or not upload.filename:
        upload = None
    data = await upload.read() if upload is not None else b""
    problem = None
    if _text(form.get("acting_id")) != str(viewer.acting.id):
        problem = gettext("You now act as %(name)s: check the form, then publish again.") % {
            "name": viewer.acting.display_name or viewer.acting.username}
    elif upload is None or not data:
        problem = gettext("Choose the PDF file to publish.")
    elif not title:
        problem = gettext("Give the document a title: it is how everyone, screen readers included, will find it.")
    elif len(title) > MAX_TITLE:
        problem = gettext("The title is too long: at most %(max)d characters.") % {"max": MAX_TITLE}
    elif len(text) > MAX_TEXT_LENGTH - MAX_TITLE:
        problem = gettext("The text is too long: at most %(max)d characters.") % {"max": MAX_TEXT_LENGTH - MAX_TITLE}
    if problem is not None:
        return await _refuse(request, viewer, problem, title=title, text=text)
    runtime: Runtime = request.app.state.runtime
    assert upload is not None
    try:
        row = await create_attachment(runtime, viewer.acting.id, data, filename=upload.filename,
                                      declared_type=upload.content_type, description=title)
    except MediaError as exc:
        return await _refuse(request, viewer, _media_problem(gettext, exc), title=title, text=text)
    if row.media_type != PDF_TYPE:
        await delete_attachment(runtime, viewer.acting.id, row.id)
        reason = gettext("Only PDF documents can be published here; photos go with a post.")
        return await _refuse(request, viewer, reason, title=title, text=text)
    draft = StatusDraft(text=f"{title}\n\n{text}" if text else title, media_ids=[row.id],
                        language=viewer.user.default_language or None)
    try:
        key = _text(form.get("idempotency_key"))[:64] or None
        status = await Outbox(runtime).post(viewer.acting.id, draft, idempotency_key=key)
    except CommandError as exc:
        await delete_attachment(runtime, viewer.acting.id, row.id)
        return await _refuse(request, viewer, str(exc), title=title, text=text)
    await record_if_team_action(runtime, viewer, "status.create", status.uri)
    return RedirectResponse(f"/@{viewer.acting.username}/documents?published=1", status_code=303)


routes: list[BaseRoute] = [Route(PUBLISH_PATH, publish_document, methods=["POST"])]
