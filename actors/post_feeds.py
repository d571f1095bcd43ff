"""RSS and Atom feeds of posts: an account's public posts (`/@alice.rss`, as Mastodon has) and a
hashtag's (`/tags/brocante.rss`), built with the agenda's and ads' feed helpers (actors/feeds.py).

A post has no title: its entry is titled with the start of its text (or its content warning, never
the hidden text behind one), and carries the text as plain text and its first picture as an
enclosure, as Mastodon's feeds do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.feeds import EPOCH, FeedInfo, add_entry, html_to_plain, new_feed, render_feed
from fediverse.models import Actor, Attachment, Status, StatusTag

MAX_FEED_POSTS = 40
TITLE_LENGTH = 80


@dataclass(frozen=True)
class PostItem:
    status: Status
    author: Actor
    image: Attachment | None
    tags: list[str]


def post_title(status: Status) -> str:
    """The start of the text, cut at a word; a content warning stands in for hidden text."""
    if status.summary:
        return status.summary[:TITLE_LENGTH]
    text = " ".join(html_to_plain(status.content).split())
    if len(text) <= TITLE_LENGTH:
        return text
    return text[:TITLE_LENGTH].rsplit(" ", 1)[0] + "…"


async def post_items(session: AsyncSession, statuses: Sequence[Status]) -> list[PostItem]:
    """The posts with their authors, first pictures and hashtags (a fixed number of queries)."""
    ids = [status.id for status in statuses]
    if not ids:
        return []
    authors = {a.id: a for a in await session.scalars(
        select(Actor).where(Actor.id.in_({status.actor_id for status in statuses})))}
    images: dict[int, Attachment] = {}
    for attachment in await session.scalars(select(Attachment).where(
            Attachment.status_id.in_(ids), Attachment.kind == "image").order_by(Attachment.position, Attachment.id)):
        if attachment.status_id is not None:
            images.setdefault(attachment.status_id, attachment)
    tags: dict[int, list[str]] = {}
    for status_id, name in (await session.execute(
            select(StatusTag.status_id, StatusTag.name).where(StatusTag.status_id.in_(ids)))).all():
        tags.setdefault(status_id, []).append(name)
    return [PostItem(status, authors[status.actor_id], images.get(status.id), sorted(tags.get(status.id, [])))
            for status in statuses if status.actor_id in authors]


def posts_feed(items: Sequence[PostItem], info: FeedInfo, kind: str) -> bytes:
    """The posts as `kind` ("atom" or "rss"), newest first; the text behind a content warning stays out."""
    updated = max((item.status.updated or item.status.published for item in items), default=EPOCH)
    feed = new_feed(info, updated)
    for item in items:
        status = item.status
        summary = status.summary if status.summary else html_to_plain(status.content)
        add_entry(feed, uri=status.uri, title=post_title(status), url=status.url or status.uri, summary=summary,
                   updated=status.updated or status.published, published=status.published, author=item.author,
                   categories=item.tags, image=item.image if not status.sensitive else None)
    return render_feed(feed, kind)
