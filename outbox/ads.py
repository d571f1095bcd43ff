"""Petites annonces (issue 5): a local ad is a public `Note` plus its `Ad` row, both written by
`prepare_ad` inside the transaction that publishes or edits the status, just before it is
serialized, so the Create/Update that federates already carries the FEP-0837 terms, the
#PetiteAnnonce and category hashtags, the price and the expiry.

Two ways in:

* the ads API (`outbox.ad_commands`): the structured fields travel to the hook through `_PENDING`
  (a context variable set around `Outbox.publish`/`edit` for this one call);
* a Mastodon app: a public, top-level status by a resident, association or shop whose hashtags
  include `#annonce` (or `#PetiteAnnonce`) and a category (`#don`, `#covoiturage`...) becomes an
  ad; `#demande`/`#recherche` make it a request; "12 €" or "gratuit" in the text sets the price.

The status's plain text (`source_text`) is the ad: its first line is the title, the rest the
description. The HTML is rebuilt from it at every write: the title in bold on the first line
(preceded by a mark such as `[Donné]` once closed or `[Expirée]` once expired), the description,
one line of facts (price, commune, end date) and the hashtags the text did not already carry.
"""

from __future__ import annotations

import html
import json
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.ads import ad_of_status
from fediverse.ad_terms import (
    AD_HASHTAG,
    CATEGORY_TAGS,
    DEFAULT_EXPIRY,
    WIRE_KEYS,
    AdFields,
    category_from_tags,
    category_tag,
    clean_title,
    format_price_fr,
    is_ad_request,
    mark_of,
    price_in_text,
    purpose_from_tags,
    split_text,
    wire_terms,
)
from fediverse.db import utcnow
from fediverse.models import Actor, Ad, Mention, Status, StatusTag
from fediverse.sanitize import html_to_text
from outbox.compose import extract, render
from outbox.errors import CommandError

if TYPE_CHECKING:
    from outbox.command_base import CommandBase

# Accounts whose posts may be ads: people and the associations and shops of the territory.
AD_AUTHOR_KINDS = frozenset({"resident", "association", "shop"})
PARIS = ZoneInfo("Europe/Paris")


@dataclass
class AdSpec:
    """An ad as the API received it, validated by `outbox.ad_commands.check_spec`."""

    title: str
    description: str
    category: str
    purpose: str
    price_cents: int | None
    free: bool
    expires_at: datetime | None
    commune: str | None = None
    media_ids: list[int] | None = None

    def text(self) -> str:
        return f"{self.title}\n\n{self.description}".strip() if self.description else self.title


@dataclass(frozen=True)
class PendingAd:
    """What an ad command asks of the hook for one status write."""

    author_id: int
    status_id: int | None  # None while publishing
    spec: AdSpec | None = None
    close_reason: str | None = None
    expire: bool = False


_PENDING: ContextVar[PendingAd | None] = ContextVar("pending_ad", default=None)


def pending_for(author: Actor, status: Status) -> PendingAd | None:
    pending = _PENDING.get()
    if pending is None or pending.author_id != author.id:
        return None
    return pending if pending.status_id in (None, status.id) else None


def may_be_ad(status: Status, author: Actor) -> bool:
    """Only public top-level Notes by residents, associations and shops can be ads."""
    return (status.object_type == "Note" and status.visibility == "public" and status.in_reply_to_uri is None
            and status.reblog_of_id is None and author.kind in AD_AUTHOR_KINDS)


async def prepare_ad(cmd: CommandBase, session: AsyncSession, author: Actor, status: Status) -> None:
    """Make `status` an ad (or refresh the ad it is): Ad row, tags, rebuilt content and wire terms."""
    pending = pending_for(author, status)
    ad = await ad_of_status(session, status.id)
    tags = list((await session.scalars(select(StatusTag.name).where(StatusTag.status_id == status.id))).all())
    if ad is None and (pending is None or pending.spec is None):
        if not (is_ad_request(tags) and may_be_ad(status, author)):
            return
    elif not may_be_ad(status, author):
        if pending is not None:
            raise CommandError("ads are public posts by residents, associations and shops")
        return
    text = status.source_text if status.source_text is not None else html_to_text(status.content)
    first_line, description = split_text(text)
    spec = pending.spec if pending is not None else None
    title = spec.title if spec is not None else (clean_title(first_line) or (ad.title if ad else ""))
    if not title:
        return
    if ad is None:
        ad = Ad(status_id=status.id, actor_id=author.id, local=True, title=title, category="don",
                expires_at=utcnow() + DEFAULT_EXPIRY)
        session.add(ad)
    previous_category = ad.category
    _apply_fields(ad, spec, tags, text, title)
    if pending is not None and pending.close_reason:
        ad.state, ad.closed_reason = "closed", pending.close_reason
    if pending is not None and pending.expire:
        ad.expired_at = utcnow()
    ad.commune_insee, ad.latitude, ad.longitude = status.commune_insee, status.latitude, status.longitude
    await session.flush()
    await _ensure_tags(session, status.id, tags, ad.category, previous_category)
    body = description if spec is None else spec.description
    status.source_text = f"{title}\n\n{body}".strip() if body else title
    status.content = await _content(cmd, session, status, ad, title, body)
    extra = {k: v for k, v in json.loads(status.extra_json or "{}").items() if k not in WIRE_KEYS}
    extra.update(wire_terms(status.uri, cmd.uris.base, AdFields(ad.category, ad.purpose, ad.price_cents, ad.free,
                                                                 ad.expires_at, ad.currency)))
    status.extra_json = json.dumps(extra)
    await session.flush()


def _apply_fields(ad: Ad, spec: AdSpec | None, tags: list[str], text: str, title: str) -> None:
    ad.title = title
    if spec is not None:
        ad.category, ad.purpose = spec.category, spec.purpose
        ad.price_cents, ad.free = (None, True) if spec.free else (spec.price_cents, False)
        if spec.expires_at is not None:
            ad.expires_at = spec.expires_at
            if spec.expires_at > utcnow():
                ad.expired_at = None
        return
    category = category_from_tags(tags)
    if category is not None:
        ad.category, ad.purpose = category, purpose_from_tags(tags, category)
    cents, free = price_in_text(text)
    if cents is not None or free:
        ad.price_cents, ad.free = cents, free and cents is None
    elif ad.category == "don":
        ad.free = True


async def _ensure_tags(session: AsyncSession, status_id: int, tags: list[str], category: str,
                       previous: str | None) -> None:
    """#PetiteAnnonce and the category tag as StatusTag rows (the Note's `tag`, hashtag timelines);
    a category changed through the API loses its old tag."""
    wanted = [AD_HASHTAG.lower(), category_tag(category).lower()]
    if previous and previous != category:
        old = CATEGORY_TAGS.get(previous, "").lower()
        if old and old in tags and old not in wanted:
            await session.execute(delete(StatusTag).where(StatusTag.status_id == status_id, StatusTag.name == old))
    for name in wanted:
        if name not in tags:
            session.add(StatusTag(status_id=status_id, name=name))
    await session.flush()


async def _content(cmd: CommandBase, session: AsyncSession, status: Status, ad: Ad, title: str,
                   description: str) -> str:
    mark = mark_of(ad.state, ad.closed_reason, ad.expired_at is not None)
    head = f"[{mark}] {title}" if mark else title
    parts = [f"<p><strong>{html.escape(head)}</strong></p>"]
    if description:
        mentioned = (await session.scalars(select(Actor).join(Mention, Mention.actor_id == Actor.id)
                                           .where(Mention.status_id == status.id))).all()
        domain = cmd.runtime.settings.domain
        urls = {a.handle(domain).lower(): a.url or a.uri for a in mentioned}
        parts.append(render(description, cmd.uris, urls))
    facts = ["Demande" if ad.purpose == "request" else ""]
    facts.append("Gratuit" if ad.free else format_price_fr(ad.price_cents, ad.currency)
                 if ad.price_cents is not None else "")
    place = json.loads(status.location_json) if status.location_json else None
    facts.append(str(place.get("name") or "") if isinstance(place, dict) else "")
    facts.append(f"jusqu’au {ad.expires_at.astimezone(PARIS):%d/%m/%Y}")
    parts.append("<p>" + html.escape(" · ".join(f for f in facts if f)) + "</p>")
    _, written = extract(description, cmd.runtime.settings.domain)
    written_lower = {t.lower() for t in written} | {t.lower() for t in extract(title, "x")[1]}
    missing = [t for t in (AD_HASHTAG, category_tag(ad.category)) if t.lower() not in written_lower]
    if missing:
        parts.append("<p>" + " ".join(
            f'<a href="{cmd.uris.base}/tags/{t.lower()}" class="mention hashtag" rel="tag">#<span>{t}</span></a>'
            for t in missing) + "</p>")
    return "".join(parts)


def pending_ad(pending: PendingAd) -> Token[PendingAd | None]:
    """Set what the next status write of `pending.author_id` must do (undo with `reset_pending`)."""
    return _PENDING.set(pending)


def reset_pending(token: Token[PendingAd | None]) -> None:
    _PENDING.reset(token)
