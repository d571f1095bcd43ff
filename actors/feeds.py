"""RSS 2.0 and Atom feeds of the agenda (upcoming events) and of the petites annonces (open ads),
for feed readers, newsletters and the town's own website, built with feedgen.

Feeds are deterministic for the same data (the feed's `updated` is its newest entry's, never the time
of the request) so the HTTP edge can answer a refresh with a 304. Entries carry plain text only: a
reader shows the date, the place and the description, and links to the page on the instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from babel.core import UnknownLocaleError
from babel.numbers import format_currency
from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.ads import AdFilter, find_ads
from actors.calendar import AgendaItem, clean_text, description_of
from actors.events import summary_line
from fediverse.models import Actor, Ad, Attachment, Status
from fediverse.sanitize import html_to_text

MAX_FEED_ADS = 50
MAX_FEED_EVENTS = 100
MAX_SUMMARY = 2_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LABELS = {
    "fr": {"CANCELLED": "Annulé", "TENTATIVE": "À confirmer", "free": "gratuit", "offer": "offre",
           "request": "demande"},
    "en": {"CANCELLED": "Cancelled", "TENTATIVE": "Tentative", "free": "free", "offer": "offer",
           "request": "request"},
}


@dataclass(frozen=True)
class FeedInfo:
    """What the feed says about itself: its title, its own URL and the HTML page it mirrors."""

    title: str
    self_url: str
    page_url: str
    language: str
    subtitle: str


@dataclass(frozen=True)
class AdItem:
    """One open ad with its Note status, its author and its first photo."""

    ad: Ad
    status: Status
    author: Actor
    image: Attachment | None

    @property
    def modified(self) -> datetime:
        times = [self.ad.updated_at, self.ad.created_at, self.status.updated, self.status.published]
        return max(moment for moment in times if moment is not None)


def _label(language: str, key: str) -> str:
    return _LABELS.get(language[:2], _LABELS["en"]).get(key, key)


def _locale(language: str) -> str:
    return language if language[:2] in _LABELS else "fr"


class _Entry(FeedEntry):  # type: ignore[misc]
    """feedgen 1.0.0 drops every attribute but href of an Atom entry's links (python-feedgen#135), which
    would turn the photo's rel="enclosure" link into a second alternate link: put them back."""

    def atom_entry(self, extensions: bool = True) -> object:
        entry = super().atom_entry(extensions)
        # feedgen's Atom elements carry no namespace of their own (the feed's default one applies).
        for element, link in zip(entry.findall("link"), self.link() or [], strict=False):
            for name in ("rel", "type", "length", "title", "hreflang"):
                if link.get(name):
                    element.attrib[name] = str(link[name])
        return entry


def new_feed(info: FeedInfo, updated: datetime) -> FeedGenerator:
    feed = FeedGenerator()
    feed.load_extension("dc")
    feed.load_extension("media")
    feed.id(info.self_url)
    feed.title(clean_text(info.title, 300))
    feed.subtitle(clean_text(info.subtitle, 1000) or clean_text(info.title, 300))
    feed.link(href=info.self_url, rel="self")
    feed.link(href=info.page_url, rel="alternate")  # last: RSS's <link> is feedgen's last link
    feed.language(info.language)
    feed.updated(updated)
    feed.generator("fediverse-territoire")
    return feed


def add_entry(feed: FeedGenerator, *, uri: str, title: str, url: str, summary: str, updated: datetime,
               published: datetime, author: Actor, categories: Sequence[str], image: Attachment | None) -> None:
    entry = feed.add_entry(_Entry(), order="append")
    entry.id(uri)
    entry.guid(uri, permalink=False)
    entry.title(clean_text(title, 300) or "…")
    entry.link(href=url, rel="alternate", type="text/html")
    entry.summary(clean_text(summary, MAX_SUMMARY))
    entry.updated(updated)
    entry.published(published)
    name = clean_text(author.display_name, 200) or author.username
    entry.author(name=name, uri=author.url or author.uri)
    entry.dc.dc_creator(name)  # RSS's <author> needs an e-mail address; readers show dc:creator instead
    for term in categories:
        entry.category(term=clean_text(term, 64))
    if image is not None:
        media_type = image.media_type or "image/jpeg"
        entry.enclosure(image.url, "0", media_type)
        entry.media.content({"url": image.url, "medium": "image", "type": media_type})


def render_feed(feed: FeedGenerator, kind: str) -> bytes:
    return feed.atom_str(pretty=True) if kind == "atom" else feed.rss_str(pretty=True)


# ---------------------------------------------------------------------------------------------
# The agenda
# ---------------------------------------------------------------------------------------------


def events_feed(items: Sequence[AgendaItem], info: FeedInfo, kind: str) -> bytes:
    """Upcoming events as `kind` ("atom" or "rss"), in the order given (soonest first)."""
    feed = new_feed(info, max((item.modified for item in items), default=EPOCH))
    for item in items:
        title = clean_text(item.event.title, 300)
        status = (item.event.event_status or "").upper()
        if status in ("CANCELLED", "TENTATIVE"):
            title = f"{_label(info.language, status)} : {title}"
        # The line Mastodon shows under an event ("sam. 14 juin, 20 h – Salle des fêtes, Maen Roch"), then the text.
        summary = "\n\n".join(part for part in (summary_line(item.event), description_of(item)) if part)
        add_entry(feed, uri=item.status.uri, title=title, url=item.page_url, summary=summary,
                   updated=item.modified, published=item.status.published, author=item.group or item.organiser,
                   categories=[item.event.category] if item.event.category else [], image=item.image)
    return render_feed(feed, kind)


# ---------------------------------------------------------------------------------------------
# The petites annonces
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FirstPage:
    """The first page of a Mastodon-style list (actors.timelines.paging.Window)."""

    limit: int
    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None


async def open_ads(session: AsyncSession, *, commune_insee: str | None = None,
                   limit: int = MAX_FEED_ADS) -> list[AdItem]:
    """The ads GET /api/v1/ads lists by default (public, open and not expired, live accounts), newest
    first: closed (donné, trouvé, pourvu) and expired ads leave the feed."""
    rows = await find_ads(session, AdFilter(commune=commune_insee), _FirstPage(limit))
    if not rows:
        return []
    status_ids = [status.id for _, status in rows]
    authors = {actor.id: actor for actor in await session.scalars(
        select(Actor).where(Actor.id.in_({status.actor_id for _, status in rows})))}
    images: dict[int, Attachment] = {}
    for attachment in await session.scalars(
            select(Attachment).where(Attachment.status_id.in_(status_ids), Attachment.kind == "image")
            .order_by(Attachment.position, Attachment.id)):
        if attachment.status_id is not None:
            images.setdefault(attachment.status_id, attachment)
    return [AdItem(ad, status, authors[status.actor_id], images.get(status.id)) for ad, status in rows
            if status.actor_id in authors]


def price_text(ad: Ad, language: str) -> str:
    """"gratuit", "12,50 €" or "" when no price was given."""
    if ad.free:
        return _label(language, "free")
    if ad.price_cents is None:
        return ""
    try:
        return format_currency(ad.price_cents / 100, ad.currency or "EUR", locale=_locale(language))
    except (UnknownLocaleError, ValueError):
        return f"{ad.price_cents / 100:.2f} {ad.currency}"


def ads_feed(items: Sequence[AdItem], info: FeedInfo, kind: str) -> bytes:
    """Open ads as `kind` ("atom" or "rss"), newest first; the price follows the title."""
    feed = new_feed(info, max((item.modified for item in items), default=EPOCH))
    for item in items:
        price = price_text(item.ad, info.language)
        title = clean_text(item.ad.title, 200)
        add_entry(feed, uri=item.status.uri, title=f"{title} – {price}" if price else title,
                   url=item.status.url or item.status.uri, summary=html_to_plain(item.status.content),
                   updated=item.modified, published=item.status.published, author=item.author,
                   categories=[item.ad.category, _label(info.language, item.ad.purpose)], image=item.image)
    return render_feed(feed, kind)


def html_to_plain(content: str | None) -> str:
    return clean_text(html_to_text(content), MAX_SUMMARY)
