"""Remote petites annonces: an Ad row for a stored (or edited) remote status that is an ad.

What counts: FEP-0837 terms (`purpose` and a `publishes` Intent, as our neighbours and Mitra send
them), any FEP-0837 `Proposal`, or a `#PetiteAnnonce` hashtag (a Mastodon user's ad). Only public,
top-level objects are listed. Everything is read defensively from untrusted JSON: the title is one
bounded line of plain text (a Proposal's `name`, else the first line of the content), the category
comes from our category hashtags or the Intent's `resourceConformsTo` (else a guess from the
action and price), the price from the `reciprocal` Intent (or "12 €" in the text of a hashtag-only
ad), the expiry from `endTime` (absurd dates fall back to 30 days after publication), the place from
the status's already validated `location`. A first line starting with `[Donné]`/`[Trouvé]`/
`[Pourvu]` closes the ad and `[Expirée]` ends it: that is how our own servers mark them. An update
that stops being an ad removes the row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.ads import ad_of_status
from fediverse.ad_terms import (
    AD_HASHTAG,
    DEFAULT_EXPIRY,
    category_from_intent,
    category_from_tags,
    clean_title,
    fold,
    has_wire_terms,
    price_from_reciprocal,
    price_in_text,
    purpose_from_tags,
    purpose_of,
    read_mark,
    remote_expiry,
    split_text,
)
from fediverse.as2 import first, text_of, type_of
from fediverse.db import utcnow
from fediverse.models import Ad, Status, StatusTag
from fediverse.sanitize import html_to_text
from inbox.context import InboxContext


def _title(obj: dict[str, Any], first_line: str) -> str:
    name = clean_title(text_of(obj.get("name"), 1000)) if type_of(obj) == "Proposal" else ""
    return name or clean_title(first_line)


def _guess_category(obj: dict[str, Any], purpose: str, priced: bool) -> str:
    """For servers that name no category of ours: a request is a `recherche`, a service a `service`,
    something priced a `vente`, anything else given away a `don`."""
    if purpose == "request":
        return "recherche"
    intent = first(obj.get("publishes"))
    if isinstance(intent, dict) and intent.get("action") == "deliverService":
        return "service"
    return "vente" if priced else "don"


async def recognise_ad(ctx: InboxContext, session: AsyncSession, status: Status, obj: dict[str, Any]) -> None:
    tags = list((await session.scalars(select(StatusTag.name).where(StatusTag.status_id == status.id))).all())
    existing = await ad_of_status(session, status.id)
    wire = has_wire_terms(obj)
    is_ad = (wire or fold(AD_HASHTAG) in {fold(t) for t in tags}) and status.visibility == "public" \
        and status.in_reply_to_uri is None and status.reblog_of_id is None
    text = html_to_text(status.content)
    first_line, _ = split_text(text)
    title = _title(obj, first_line) if is_ad else ""
    if not title:
        if existing is not None:
            await session.delete(existing)
        return
    cents, currency = price_from_reciprocal(obj) if wire else (None, "EUR")
    free = False
    if cents is None and not wire:
        cents, free = price_in_text(text)
    category = category_from_tags(tags) or category_from_intent(obj)
    purpose = purpose_of(obj) or purpose_from_tags(tags, category)
    category = category or _guess_category(obj, purpose, cents is not None)
    free = free or (cents is None and category == "don")
    mark = read_mark(first_line)
    ad = existing or Ad(status_id=status.id, actor_id=status.actor_id, local=False,
                        expires_at=utcnow() + DEFAULT_EXPIRY)
    ad.title, ad.category, ad.purpose = title, category, purpose
    ad.price_cents, ad.currency, ad.free = (None if free else cents), currency, free
    ad.commune_insee, ad.latitude, ad.longitude = status.commune_insee, status.latitude, status.longitude
    ad.expires_at = remote_expiry(obj, status.published)
    ad.state, ad.closed_reason = ("closed", mark) if mark not in (None, "expired") else ("open", None)
    if mark == "expired" and ad.expired_at is None:
        ad.expired_at = utcnow()
    elif mark != "expired" and ad.expires_at > utcnow():
        ad.expired_at = None  # renewed by its author
    if existing is None:
        session.add(ad)
    await session.flush()
