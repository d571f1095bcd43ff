"""What the profile, group, directory and search pages share: an account's path on this site, page
cursors read from the query string, and the readable 400 page a broken link gets."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from fediverse.models import Actor, Commune
from fediverse.sanitize import html_to_text
from fediverse.templating import translations
from fediverse.web.auth import SignedIn, language_of, page

MAX_ID = 2**63 - 1
PRESENTATION_LENGTH = 160


class BadLink(ValueError):
    """A query-string value no page of ours writes (a hand-edited or truncated link)."""


def wants_activitypub(request: Request) -> bool:
    """Whether the client asks for the ActivityPub document rather than the page."""
    accept = request.headers.get("accept", "")
    return "activity+json" in accept or "ld+json" in accept


def account_path(actor: Actor) -> str:
    """The page of an account on this site: `/@alice` here, `/@bob@other.example` for a known remote one."""
    return f"/@{actor.username}" if actor.domain is None else f"/@{actor.username}@{actor.domain}"


def cursor(request: Request, name: str = "max_id") -> int | None:
    """A page cursor (a row id) from the query string; None when absent, BadLink when malformed."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 19 or not 0 < int(value) <= MAX_ID:
        raise BadLink(name)
    return int(value)


def page_number(request: Request, name: str = "page") -> int:
    """A 1-based page number; BadLink for anything else."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return 1
    if not value.isdigit() or len(value) > 6 or int(value) < 1:
        raise BadLink(name)
    return int(value)


def bad_link(request: Request, viewer: SignedIn | None, message: str | None = None) -> Response:
    """400: the link is not one this site writes; a readable page with a way back to the page itself."""
    gettext = translations(language_of(request, viewer)).gettext
    return page(request, "directory/bad_link.html", viewer, status_code=400,
                message=message or gettext("This link is not valid: it may have been cut or changed."),
                back=request.url.path)


@dataclass(frozen=True)
class AccountCard:
    """One account as the directory (and search) lists it."""

    actor: Actor
    path: str
    handle: str
    commune_name: str | None
    presentation: str


def presentation_of(actor: Actor, length: int = PRESENTATION_LENGTH) -> str:
    text = " ".join(html_to_text(actor.summary or "").split())
    return text if len(text) <= length else text[:length - 1].rsplit(" ", 1)[0] + "…"


def account_cards(actors: list[Actor], communes: dict[str, Commune], local_domain: str) -> list[AccountCard]:
    return [AccountCard(actor, account_path(actor), actor.handle(local_domain),
                        communes[actor.commune_insee].name if actor.commune_insee in communes else None,
                        presentation_of(actor)) for actor in actors]
