"""Statuses as a page shows them to one viewer: with their author, their attachments in order, what
they answer, whether they are an event or a petite annonce, and what the viewer already did to them
(liked, boosted, wrote them).

A page lists many statuses: everything here is loaded for the whole list in a fixed number of
queries. A boost is shown as the boosted status, with who boosted it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.models import Actor, Ad, Attachment, Event, Favourite, Mention, Status
from fediverse.sanitize import html_to_text

EXCERPT_LENGTH = 200


@dataclass
class StatusView:
    """One status for one viewer. `status` is what is shown (the original of a boost, whose booster
    is `boosted_by`); `own` when the viewer's acting account wrote it."""

    status: Status
    author: Actor
    attachments: list[Attachment] = field(default_factory=list)
    boosted_by: Actor | None = None
    replying_to: Actor | None = None
    favourited: bool = False
    reblogged: bool = False
    own: bool = False
    kind: str | None = None  # "event" or "ad": they have their own pages and forms
    title: str | None = None  # the event's or the ad's title

    @property
    def id(self) -> int:
        return self.status.id

    @property
    def published(self) -> datetime:
        return self.status.published

    @property
    def images(self) -> list[Attachment]:
        return [a for a in self.attachments if a.kind in ("image", "gifv")]

    @property
    def excerpt(self) -> str:
        """Plain text for sharing previews and lists: the content warning when there is one."""
        text = self.status.summary or html_to_text(self.status.content or "")
        text = " ".join(text.split())
        return text if len(text) <= EXCERPT_LENGTH else text[:EXCERPT_LENGTH - 1].rstrip() + "…"

    @property
    def boostable(self) -> bool:
        return self.status.visibility in ("public", "unlisted")


async def status_views(session: AsyncSession, viewer_id: int | None, statuses: Sequence[Status]) -> list[StatusView]:
    """The views of `statuses`, in order (the caller already kept only what the viewer may read);
    a status whose author row is gone is left out."""
    if not statuses:
        return []
    boosted_ids = [s.reblog_of_id for s in statuses if s.reblog_of_id]
    originals = {s.id: s for s in await session.scalars(select(Status).where(Status.id.in_(boosted_ids)))} \
        if boosted_ids else {}
    shown = [(originals.get(s.reblog_of_id), s) if s.reblog_of_id else (s, None) for s in statuses]
    subjects = [subject for subject, _ in shown if subject is not None]
    subject_ids = [s.id for s in subjects]
    actor_ids = ({s.actor_id for s in statuses} | {s.actor_id for s in subjects}
                 | {s.in_reply_to_actor_id for s in subjects if s.in_reply_to_actor_id})
    actors = {a.id: a for a in await session.scalars(select(Actor).where(Actor.id.in_(actor_ids)))}
    attachments: dict[int, list[Attachment]] = defaultdict(list)
    for item in await session.scalars(select(Attachment).where(Attachment.status_id.in_(subject_ids))
                                      .order_by(Attachment.position, Attachment.id)):
        attachments[item.status_id or 0].append(item)
    events = dict((await session.execute(select(Event.status_id, Event.title).where(
        Event.status_id.in_(subject_ids)))).all())
    ads = dict((await session.execute(select(Ad.status_id, Ad.title).where(Ad.status_id.in_(subject_ids)))).all())
    favourited: set[int] = set()
    reblogged: set[int] = set()
    if viewer_id is not None:
        favourited = set((await session.scalars(select(Favourite.status_id).where(
            Favourite.actor_id == viewer_id, Favourite.status_id.in_(subject_ids)))).all())
        reblogged = set((await session.scalars(select(Status.reblog_of_id).where(
            Status.actor_id == viewer_id, Status.reblog_of_id.in_(subject_ids)))).all())
    views = []
    for subject, boost in shown:
        if subject is None or subject.actor_id not in actors:
            continue
        kind = "event" if subject.id in events else "ad" if subject.id in ads else None
        views.append(StatusView(
            status=subject, author=actors[subject.actor_id], attachments=attachments.get(subject.id, []),
            boosted_by=actors.get(boost.actor_id) if boost is not None else None,
            replying_to=actors.get(subject.in_reply_to_actor_id) if subject.in_reply_to_actor_id else None,
            favourited=subject.id in favourited, reblogged=subject.id in reblogged,
            own=viewer_id is not None and subject.actor_id == viewer_id, kind=kind,
            title=events.get(subject.id) or ads.get(subject.id)))
    return views


async def status_view(session: AsyncSession, viewer_id: int | None, status: Status) -> StatusView | None:
    views = await status_views(session, viewer_id, [status])
    return views[0] if views else None


async def mentioned_accounts(session: AsyncSession, status_id: int) -> list[Actor]:
    """The accounts a status mentions (a reply addresses them again), in the order they were stored."""
    return list((await session.scalars(select(Actor).join(Mention, Mention.actor_id == Actor.id).where(
        Mention.status_id == status_id, Actor.deleted_at.is_(None)).order_by(Mention.id))).all())
