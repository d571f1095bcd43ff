"""Petites annonces as the website shows them: cards for lists (the ads page, the home page) and the
whole ad for its page, read in a fixed number of queries whatever the number of ads.

Everything here is language-neutral data (cents, codes, dates): the templates put it into words in
the reader's language. Local and federated ads are alike; only their page differs: a local ad's page
is its status permalink (`/@username/ID`), a federated one's is `/annonces/{ad id}` on this site (its
own server's page is linked from there).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from babel.core import Locale, UnknownLocaleError
from babel.numbers import format_currency
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.ads import AdFilter, ad_with_status, find_ads
from actors.neighbourhood import known_communes
from fediverse.ad_terms import clean_title, split_text
from fediverse.db import utcnow
from fediverse.models import Actor, Ad, Attachment, Status
from fediverse.runtime import Runtime
from fediverse.sanitize import html_to_text


@dataclass(frozen=True)
class AdWindow:
    """A page of the ads list (actors.timelines.paging.Window): older than `max_id`."""

    limit: int
    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None


@dataclass(frozen=True)
class AdPhoto:
    """A picture of an ad, with its description (alt text; empty when the author gave none)."""

    id: int
    url: str
    preview_url: str
    description: str
    width: int | None
    height: int | None


@dataclass(frozen=True)
class AdCard:
    """One ad in a list: what a card shows, and where its page is on this site."""

    id: int
    status_id: int
    path: str
    title: str
    category: str
    purpose: str
    price_cents: int | None
    currency: str
    free: bool
    commune_insee: str | None
    commune_name: str | None
    published: datetime
    expires_at: datetime
    state: str  # open, closed or expired
    closed_reason: str | None
    local: bool
    author_id: int
    author_name: str
    thumbnail: AdPhoto | None

    def price_text(self, language: str) -> str:
        """The amount for the reader's language ("12,50 €", "€12.50"); "" when free or no price."""
        if self.free or self.price_cents is None:
            return ""
        return money(self.price_cents, self.currency, language)


@dataclass(frozen=True)
class AdDetail:
    """Everything the ad's page shows."""

    card: AdCard
    ad: Ad
    status: Status
    author: Actor
    description: str
    photos: list[AdPhoto]


def money(cents: int, currency: str, language: str) -> str:
    """An amount in the reader's language, without decimals when it is whole ("12 €", "12,50 €")."""
    try:
        if cents % 100:
            return format_currency(cents / 100, currency or "EUR", locale=language)
        pattern = Locale.parse(language).currency_formats["standard"].pattern.replace(".00", "")
        return format_currency(cents // 100, currency or "EUR", format=pattern, locale=language,
                               currency_digits=False)
    except (UnknownLocaleError, ValueError):
        return f"{cents / 100:.2f} {currency}"


def state_of(ad: Ad, now: datetime | None = None) -> str:
    """open, closed (donné, trouvé, pourvu) or expired: what the reader is told in words."""
    if ad.state == "closed":
        return "closed"
    if ad.expired_at is not None or ad.expires_at <= (now or utcnow()):
        return "expired"
    return "open"


def ad_path(ad: Ad, status: Status, author: Actor) -> str:
    """The ad's page on this site: the permalink of a local ad, `/annonces/ID` for a federated one."""
    if ad.local and author.domain is None:
        return f"/@{author.username}/{status.id}"
    return f"/annonces/{ad.id}"


def description_of(ad: Ad, status: Status) -> str:
    """The description as plain text: what follows the title line (a remote Proposal's title is its
    `name`, so its whole content is the description). The Mastodon API's ads edge could use it too."""
    text = status.source_text if status.source_text is not None else html_to_text(status.content)
    first, rest = split_text(text)
    return rest if clean_title(first) == ad.title else text.strip()


def _photo(row: Attachment) -> AdPhoto:
    return AdPhoto(id=row.id, url=row.url, preview_url=row.preview_url or row.url,
                   description=(row.description or "").strip(), width=row.width, height=row.height)


def _place_name(status: Status) -> str | None:
    try:
        place = json.loads(status.location_json) if status.location_json else None
    except ValueError:
        return None
    name = place.get("name") if isinstance(place, dict) else None
    return name.strip()[:200] or None if isinstance(name, str) else None


async def _photos(session: AsyncSession, status_ids: Sequence[int]) -> dict[int, list[AdPhoto]]:
    photos: dict[int, list[AdPhoto]] = {}
    if not status_ids:
        return photos
    for row in await session.scalars(select(Attachment).where(
            Attachment.status_id.in_(list(status_ids)), Attachment.kind == "image")
            .order_by(Attachment.position, Attachment.id)):
        photos.setdefault(row.status_id or 0, []).append(_photo(row))
    return photos


def _card(ad: Ad, status: Status, author: Actor, names: dict[str, str], thumbnail: AdPhoto | None,
          now: datetime) -> AdCard:
    commune_name = names.get(ad.commune_insee or "") or _place_name(status)
    return AdCard(
        id=ad.id, status_id=status.id, path=ad_path(ad, status, author), title=ad.title, category=ad.category,
        purpose=ad.purpose, price_cents=ad.price_cents, currency=ad.currency or "EUR", free=ad.free,
        commune_insee=ad.commune_insee, commune_name=commune_name, published=status.published,
        expires_at=ad.expires_at, state=state_of(ad, now), closed_reason=ad.closed_reason, local=ad.local,
        author_id=author.id, author_name=author.display_name or author.username, thumbnail=thumbnail)


async def commune_names(session: AsyncSession) -> dict[str, str]:
    """INSEE code -> name, ours and the neighbour instances' communes."""
    return {code: commune.name for code, commune in (await known_communes(session)).items()}


async def ad_cards(session: AsyncSession, rows: Sequence[tuple[Ad, Status]]) -> list[AdCard]:
    """Cards for `rows` (in their order): authors, communes and first photos read once for all."""
    if not rows:
        return []
    authors = {a.id: a for a in await session.scalars(select(Actor).where(
        Actor.id.in_(list({status.actor_id for _, status in rows}))))}
    photos = await _photos(session, [status.id for _, status in rows])
    names = await commune_names(session)
    now = utcnow()
    return [_card(ad, status, authors[status.actor_id], names, (photos.get(status.id) or [None])[0], now)
            for ad, status in rows if status.actor_id in authors]


async def list_ad_cards(session: AsyncSession, flt: AdFilter, window: AdWindow,
                        viewer_id: int | None = None) -> list[AdCard]:
    """One page of the filtered list (open ads by default, newest first) as cards; AdQueryError when a
    filter cannot be applied."""
    return await ad_cards(session, await find_ads(session, flt, window, viewer_id))


async def latest_ad_cards(runtime: Runtime, limit: int) -> list[AdCard]:
    """The newest open ads, local and federated (for the home page)."""
    async with runtime.sessions() as session:
        return await list_ad_cards(session, AdFilter(), AdWindow(limit=max(1, min(limit, 40))))


async def ad_detail(session: AsyncSession, ad: Ad, status: Status, author: Actor) -> AdDetail:
    photos = (await _photos(session, [status.id])).get(status.id, [])
    card = _card(ad, status, author, await commune_names(session), photos[0] if photos else None, utcnow())
    return AdDetail(card=card, ad=ad, status=status, author=author, description=description_of(ad, status),
                    photos=photos)


async def public_ad(session: AsyncSession, ad_id: int) -> tuple[Ad, Status, Actor] | None:
    """An ad anyone may read: a public status of a live account (closed and expired ones included)."""
    found = await ad_with_status(session, ad_id)
    if found is None:
        return None
    ad, status = found
    author = await session.get(Actor, status.actor_id)
    if author is None or author.deleted_at is not None or author.suspended_at is not None \
            or status.visibility not in ("public", "unlisted"):
        return None
    return ad, status, author
