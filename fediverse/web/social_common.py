"""What the social pages share: reading a signed-in person's form (CSRF checked), answering with a
readable error page, and saying the outbox's refusals in the reader's language.

The outbox's messages are English (they are the Mastodon API's error texts too); the website shows
its own sentence for the ones a person can meet, and the outbox's text for anything else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from fediverse.runtime import Runtime
from fediverse.templating import translations
from fediverse.web.auth import SignedIn, csrf_refused, form_of, language_of, local_path, page, signed_in
from outbox.commands import CommandError

MAX_ID = 2**63 - 1


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def gettext_for(request: Request, viewer: SignedIn | None) -> Callable[[str], str]:
    return translations(language_of(request, viewer)).gettext


def _outbox_messages(gettext: Callable[[str], str]) -> list[tuple[str, str]]:
    return [
        ("cannot follow yourself", gettext("You cannot follow yourself.")),
        ("has blocked you", gettext("This account does not accept you as a follower.")),
        ("only public or unlisted", gettext("Only public posts can be boosted.")),
        ("only the author", gettext("Only the author of a post can change or delete it.")),
        ("no such status", gettext("This post no longer exists.")),
        ("no such account", gettext("This account no longer exists.")),
        ("no such follow request", gettext("This follow request has already been answered or withdrawn.")),
        ("needs at least one mentioned recipient", gettext("Name at least one recipient: @name or @name@server.")),
        ("cannot be attached", gettext("A photo could not be attached: send it again.")),
        ("at most", gettext("There are too many photos or mentions in this post.")),
        ("commune", gettext("This commune is not one of the territory's communes.")),
    ]


def say(request: Request, viewer: SignedIn | None, error: CommandError) -> str:
    """The outbox's refusal as the website says it."""
    text = str(error)
    return next((said for marker, said in _outbox_messages(gettext_for(request, viewer)) if marker in text), text)


def not_found(request: Request, viewer: SignedIn | None) -> Response:
    return page(request, "not_found.html", viewer, status_code=404)


def problem(request: Request, viewer: SignedIn | None, message: str, *, status_code: int = 422,
            back: str | None = None) -> Response:
    """A refused action: the reason, and a way back to where the person was."""
    return page(request, "social/problem.html", viewer, status_code=status_code, message=message,
                back=local_path(back, "/"))


def path_id(request: Request, name: str = "status_id") -> int | None:
    """An id from the path (the route's `int` converter), or None when it cannot be a row id."""
    value = request.path_params.get(name)
    return value if isinstance(value, int) and 0 < value <= MAX_ID else None


def form_id(value: str | None) -> int | None:
    """An id typed in a form or a query string, or None when it is not a plausible row id."""
    if not value or not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


async def signed_form(request: Request) -> tuple[SignedIn, dict[str, str]] | Response:
    """The signed-in person and their form's fields, or the answer to give instead: to the sign-in
    page when anonymous (then back to `next`), 403 when the CSRF token is not this session's."""
    viewer = await signed_in(request)
    fields = await form_of(request)
    if viewer is None:
        back = local_path(fields.get("next"), "/")
        return RedirectResponse(f"/auth/sign_in?next={quote(back, safe='')}", status_code=303)
    if not viewer.session.check_csrf(fields.get("csrf_token")):
        return csrf_refused(request, viewer)
    return viewer, fields


def back_to(fields: dict[str, str], default: str) -> str:
    """Where a form sends the person back to: its `next` field when it is a path on this site."""
    return local_path(fields.get("next"), default)


@dataclass(frozen=True)
class PageWindow:
    """One page of a list, newest first, older ones after `max_id` (actors.timelines.Window)."""

    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None
    limit: int = 20


def window_of(request: Request, limit: int) -> PageWindow | None:
    """The page asked for by `?max_id=`; None when the value cannot be an id (a readable 4xx then)."""
    value = request.query_params.get("max_id")
    if value is None:
        return PageWindow(limit=limit)
    max_id = form_id(value)
    return PageWindow(max_id=max_id, limit=limit) if max_id is not None else None
