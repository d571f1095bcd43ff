"""The page of one petite annonce: everything about it in words, its photos with their descriptions,
its author, and the forms around it (reply privately; edit, close and delete for its author).

Kept apart from the routes (fediverse/web/ad_pages.py) so that the forms (fediverse/web/ad_forms.py)
can show the page again with a problem next to the field that caused it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from actors.ad_views import AdDetail, ad_detail, public_ad
from fediverse.ad_terms import CLOSED_MARKS
from fediverse.runtime import Runtime
from fediverse.templating import translations
from fediverse.web.auth import SignedIn, language_of, page
from fediverse.web.follow_pages import profile_path

MAX_ID = 2**63
# What the page confirms after a form was sent (`?done=...`, after a 303 so a reload sends nothing).
NOTICES = ("posted", "saved", "closed", "replied")


def new_key() -> str:
    """A new idempotency key per form shown: a double click sends one message, not two."""
    return secrets.token_urlsafe(18)


@dataclass
class ReplyForm:
    """The "reply privately" form as typed, when it comes back with a problem."""

    text: str = ""
    error: str | None = None
    idempotency_key: str = field(default_factory=new_key)


async def readable_ad(runtime: Runtime, ad_id: int) -> AdDetail | None:
    """The ad anyone may read (a public status of a live account), ready for its page; None otherwise."""
    if not 0 < ad_id < MAX_ID:
        return None
    async with runtime.sessions() as session:
        found = await public_ad(session, ad_id)
        return await ad_detail(session, *found) if found is not None else None


def _absolute(runtime: Runtime, url: str) -> str:
    return f"{runtime.settings.base_url}{url}" if url.startswith("/") else url


def _opengraph(runtime: Runtime, detail: AdDetail, price: str) -> dict[str, str]:
    facts = " · ".join(part for part in (price, detail.card.commune_name or "") if part)
    description = " – ".join(part for part in (facts, " ".join(detail.description.split())) if part)
    og = {"title": detail.card.title, "description": description, "type": "article",
          "url": _absolute(runtime, detail.card.path)}
    if detail.photos:
        og["image"] = _absolute(runtime, detail.photos[0].url)
    return og


async def render_ad_page(request: Request, viewer: SignedIn | None, detail: AdDetail, *, status_code: int = 200,
                         reply: ReplyForm | None = None, close_error: str | None = None) -> Response:
    """The ad's page; the reply and close forms come back on it with their problem (422)."""
    runtime: Runtime = request.app.state.runtime
    language = language_of(request, viewer)
    card = detail.card
    price = translations(language).gettext("Free") if card.free else card.price_text(language)
    own = viewer is not None and card.local and viewer.acting.id == card.author_id
    notice = request.query_params.get("done")
    author = detail.author
    return page(request, "ads/ad.html", viewer, status_code=status_code, detail=detail, card=card, own=own,
                can_reply=viewer is not None and not own and card.state == "open", reply=reply or ReplyForm(),
                close_error=close_error, reasons=list(CLOSED_MARKS), notice=notice if notice in NOTICES else None,
                author_path=profile_path(author),
                handle=author.handle(runtime.settings.domain), og=_opengraph(runtime, detail, price),
                alternates=[("application/activity+json", detail.status.uri, None)])
