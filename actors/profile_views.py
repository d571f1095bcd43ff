"""What an account's public page shows: the account behind a handle, its posts ("news"), the photos
and documents it posted, its team, and a group's discussions.

The rules are the API's: a post shows to whoever may read it (`statuses_visible_clause`: anyone for
public and unlisted posts, accepted followers for followers-only ones), direct messages never show
on a page, and neither do replies to other people (Mastodon's "Posts" tab). Photos and documents
are the attachments of those same posts, so a photo sent to followers only is never in the public
gallery. Pages go backwards by id (`before`), newest first, one more row than asked telling whether
there is an older page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.agenda_views import EventCard, event_cards, upcoming_events
from actors.events import AgendaFilter
from actors.groups import GroupMember, is_member
from actors.groups import list_members as group_members
from actors.relationships import statuses_visible_clause
from actors.teams import TEAM_KINDS, list_members
from fediverse.media.documents import PDF_TYPE
from fediverse.models import Actor, Attachment, Event, Status
from fediverse.sanitize import sanitize_html

MAX_FIELDS = 16
T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """Rows of one page, newest first, and the cursor of the next (older) page, if any."""

    rows: list[T]
    older: int | None


@dataclass(frozen=True)
class ProfileField:
    """A "name: value" line of a profile; `value_html` is sanitized, `verified` a checked link (rel=me)."""

    name: str
    value_html: str
    verified: bool


@dataclass(frozen=True)
class MediaItem:
    """A photo or a document of a post, with the post (its date and page) and the file's size."""

    attachment: Attachment
    status: Status

    @property
    def size(self) -> int | None:
        try:
            meta = json.loads(self.attachment.meta_json or "{}")
        except ValueError:
            return None
        size = meta.get("size") if isinstance(meta, dict) else None
        return size if isinstance(size, int) and size >= 0 else None


def live(actor: Actor | None) -> bool:
    return actor is not None and actor.deleted_at is None and actor.suspended_at is None


async def find_profile(session: AsyncSession, handle: str, local_domain: str) -> Actor | None:
    """The account behind `alice` or `alice@domain` (our own domain means local); None for unknown,
    deleted or suspended accounts and for our instance actor (it has no page)."""
    username, _, domain = handle.strip().lstrip("@").partition("@")
    if not username or len(username) > 255 or len(domain) > 255:
        return None
    domain = domain.lower()
    domain_key = "" if not domain or domain == local_domain.lower() else domain
    actor = await session.scalar(select(Actor).where(Actor.username_lower == username.lower(),
                                                     Actor.domain_key == domain_key))
    if not live(actor) or (actor is not None and actor.domain is None and actor.kind == "instance"):
        return None
    return actor


def profile_fields(actor: Actor) -> list[ProfileField]:
    """The account's fields, values sanitized whoever wrote them (local ones are linkified HTML)."""
    try:
        stored = json.loads(actor.fields_json or "[]")
    except ValueError:
        return []
    fields = []
    for item in stored if isinstance(stored, list) else []:
        if isinstance(item, dict) and str(item.get("name") or "").strip():
            fields.append(ProfileField(str(item.get("name"))[:255], sanitize_html(str(item.get("value") or "")),
                                       bool(item.get("verified_at"))))
    return fields[:MAX_FIELDS]


async def organises(session: AsyncSession, actor: Actor) -> bool:
    """Whether the account ever posted or organised an event (its calendar feed then has something)."""
    found = await session.scalar(select(Event.id).where(
        or_(Event.actor_id == actor.id, Event.attributed_to_id == actor.id)).limit(1))
    return found is not None


async def upcoming_cards(session: AsyncSession, actor: Actor, local_domain: str, limit: int) -> list[EventCard]:
    """The next events the account organises (posted, or attributed to it: a group's), soonest first."""
    events = await upcoming_events(session, AgendaFilter(organizer_id=actor.id), limit=limit)
    return await event_cards(session, events, local_domain)


def _before(column: Any, before: int | None) -> list[ColumnElement[bool]]:
    return [column < before] if before is not None else []


async def news(session: AsyncSession, actor: Actor, viewer_id: int | None, *, before: int | None = None,
               limit: int = 20) -> Page[Status]:
    """The account's own posts the viewer may read (no boosts, no direct messages, no replies to others)."""
    visible = await statuses_visible_clause(session, actor.id, viewer_id)
    query = (select(Status).where(visible, Status.reblog_of_id.is_(None), Status.visibility != "direct",
                                  or_(Status.in_reply_to_uri.is_(None), Status.in_reply_to_actor_id == actor.id),
                                  *_before(Status.id, before))
             .order_by(Status.id.desc()).limit(limit + 1))
    rows = list(await session.scalars(query))
    return Page(rows[:limit], rows[limit - 1].id if len(rows) > limit else None)


def _documents() -> ColumnElement[bool]:
    return Attachment.media_type == PDF_TYPE


def _photos() -> ColumnElement[bool]:
    return and_(Attachment.kind == "image", Attachment.media_type != PDF_TYPE)


async def _attachments(session: AsyncSession, actor: Actor, viewer_id: int | None, which: ColumnElement[bool], *,
                       before: int | None, limit: int) -> Page[MediaItem]:
    visible = await statuses_visible_clause(session, actor.id, viewer_id)
    query = (select(Attachment, Status).join(Status, Status.id == Attachment.status_id)
             .where(visible, which, Status.reblog_of_id.is_(None), Status.visibility != "direct",
                    *_before(Attachment.id, before))
             .order_by(Attachment.id.desc()).limit(limit + 1))
    rows = [MediaItem(attachment, status) for attachment, status in (await session.execute(query)).all()]
    return Page(rows[:limit], rows[limit - 1].attachment.id if len(rows) > limit else None)


async def photos(session: AsyncSession, actor: Actor, viewer_id: int | None, *, before: int | None = None,
                 limit: int = 24) -> Page[MediaItem]:
    """The pictures of the account's readable posts, newest first, each with its post."""
    return await _attachments(session, actor, viewer_id, _photos(), before=before, limit=limit)


async def documents(session: AsyncSession, actor: Actor, viewer_id: int | None, *, before: int | None = None,
                    limit: int = 20) -> Page[MediaItem]:
    """The PDF documents of the account's readable posts, newest first, each with its post."""
    return await _attachments(session, actor, viewer_id, _documents(), before=before, limit=limit)


async def team(session: AsyncSession, actor: Actor) -> list[Actor]:
    """The public accounts of the active members of a shared account's team (none for a resident,
    and never an invited member who has not accepted)."""
    if actor.domain is not None or actor.kind not in TEAM_KINDS:
        return []
    return [member.actor for member in await list_members(session, actor)
            if member.membership.state == "active" and live(member.actor)]


async def group_shares(session: AsyncSession, group: Actor, viewer_id: int | None, *,
                       before: int | None = None, limit: int = 20) -> Page[Status]:
    """The group's re-shares (its boost rows: actors.status_views shows each as the shared post), newest
    first: anyone reads a public group's, only members a members-only group's (they are followers-only)."""
    readable: tuple[str, ...] = ("public", "unlisted")
    if viewer_id is not None and await is_member(session, group, viewer_id):
        readable = ("public", "unlisted", "private")
    live_original = select(Status.id).join(Actor, Actor.id == Status.actor_id).where(
        Actor.deleted_at.is_(None), Actor.suspended_at.is_(None))
    query = (select(Status).where(Status.actor_id == group.id, Status.reblog_of_id.in_(live_original),
                                  Status.visibility.in_(readable), *_before(Status.id, before))
             .order_by(Status.id.desc()).limit(limit + 1))
    rows = list(await session.scalars(query))
    return Page(rows[:limit], rows[limit - 1].id if len(rows) > limit else None)


async def group_membership(session: AsyncSession, group: Actor) -> list[GroupMember]:
    """The group's moderators and accepted members (pending requests are nobody's business)."""
    return [member for member in await group_members(session, group)
            if member.role != "pending" and live(member.actor)]
