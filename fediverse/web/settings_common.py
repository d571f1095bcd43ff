"""What the settings pages share: who may see them, checking a posted form, and the notice a
successful form leaves on the page it redirects to (`?done=`)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from fediverse.templating import translations
from fediverse.web.auth import SignedIn, csrf_refused, language_of, signed_in


def gettext_of(request: Request, viewer: SignedIn | None) -> Callable[[str], str]:
    """gettext in the reader's language, for messages built in Python."""
    return translations(language_of(request, viewer)).gettext


def done(path: str, what: str) -> Response:
    """303 back to a settings page, which shows what was done once (so a reload does not post again)."""
    return RedirectResponse(f"{path}?done={quote(what)}", status_code=303)


def done_notice(request: Request, allowed: tuple[str, ...]) -> str | None:
    value = request.query_params.get("done")
    return value if value in allowed else None


async def posted_form(request: Request, *, back_to: str) -> tuple[SignedIn | None, FormData, Response | None]:
    """The signed-in person and their posted form (text fields and files), or the answer to give
    instead: to the sign-in page (then back to `back_to`), or 403 when the CSRF token is not this
    session's."""
    viewer = await signed_in(request)
    form = await request.form()
    if viewer is None:
        return None, form, RedirectResponse(f"/auth/sign_in?next={quote(back_to, safe='')}", status_code=303)
    token = form.get("csrf_token")
    if not viewer.session.check_csrf(token if isinstance(token, str) else None):
        return viewer, form, csrf_refused(request, viewer)
    return viewer, form, None


def text(form: FormData, name: str) -> str:
    """A text field of a posted form ('' when absent, or when a file was sent in its place)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def id_field(form: FormData, name: str) -> int:
    """A row id from a form; 0 when it is not one."""
    value = text(form, name)
    return int(value) if value.isdigit() and len(value) <= 19 else 0
