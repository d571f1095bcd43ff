"""Searching the territory from the website: accounts, public posts and hashtags, local and known remote.

Everything runs on `LIKE` (SQLite and PostgreSQL alike), as the Mastodon API's search does: a
territory has thousands of accounts and posts, not millions. Posts are searched among public ones
only (what anyone could read on a profile page anyway), without the viewer's muted and blocked
accounts. Resolving a handle or a URL of another server is the web edge's job (it needs WebFinger
and signed fetches); this module only reads what is known.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.directory import listed
from actors.relationships import search_accounts
from actors.tags import TAG_NAME
from actors.timelines.clauses import public_clause
from actors.timelines.relations import load_relations
from fediverse.models import Actor, Status, StatusTag

MAX_WORDS = 8
MAX_QUERY = 200


@dataclass(frozen=True)
class TagUse:
    """A hashtag and how many known posts carry it."""

    name: str
    uses: int


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def words_of(q: str) -> list[str]:
    return [w.lower() for w in q.split() if w][:MAX_WORDS]


def tag_term(q: str) -> str | None:
    """The hashtag a query names (`#Brocante`, `brocante`), or None when it cannot be one."""
    text = q.strip().removeprefix("#")
    return text.lower() if TAG_NAME.fullmatch(text) else None


async def find_accounts(session: AsyncSession, q: str, viewer_id: int | None, *, local_domain: str,
                        limit: int = 20) -> list[Actor]:
    """Known accounts (local and remote) whose username or name starts with the query (the API's
    rule, exact usernames first), then listed local accounts with every word in their name."""
    found = await search_accounts(session, q, viewer_id, local_domain=local_domain, limit=limit)
    words = words_of(q.lstrip("@"))
    if len(found) < limit and words and "@" not in q.strip().lstrip("@"):
        seen = {actor.id for actor in found}
        in_name = [func.lower(Actor.display_name).like(f"%{_escape(w)}%", escape="\\") for w in words]
        more = await session.scalars(select(Actor).where(*listed(), *in_name)
                                     .order_by(Actor.followers_count.desc(), Actor.id).limit(limit))
        found += [actor for actor in more if actor.id not in seen]
    return found[:limit]


async def find_posts(session: AsyncSession, q: str, viewer_id: int | None, *, before: int | None = None,
                     limit: int = 20) -> list[Status]:
    """Public posts (local or known remote, replies included) with every word of the query, newest first."""
    words = words_of(q)
    if not words:
        return []
    rel = await load_relations(session, viewer_id) if viewer_id is not None else None
    text = [or_(func.lower(Status.content).like(f"%{_escape(w)}%", escape="\\"),
                func.lower(Status.summary).like(f"%{_escape(w)}%", escape="\\")) for w in words]
    query = select(Status).where(public_clause(rel, replies=True), *text)
    if before is not None:
        query = query.where(Status.id < before)
    return list(await session.scalars(query.order_by(Status.id.desc()).limit(limit)))


async def find_tags(session: AsyncSession, q: str, *, limit: int = 10) -> list[TagUse]:
    """Hashtags starting with the query, the exact one first, then the most used."""
    term = tag_term(q)
    if term is None:
        return []
    uses = func.count(StatusTag.id)
    rows = await session.execute(
        select(StatusTag.name, uses).join(Status, Status.id == StatusTag.status_id)
        .where(StatusTag.name.like(f"{_escape(term)}%", escape="\\"), Status.visibility == "public")
        .group_by(StatusTag.name).order_by(case((StatusTag.name == term, 0), else_=1), uses.desc(), StatusTag.name)
        .limit(limit))
    return [TagUse(name, int(count)) for name, count in rows.all()]


async def tag_post_count(session: AsyncSession, name: str) -> int:
    """How many public posts carry the hashtag (shown on its page)."""
    return int(await session.scalar(
        select(func.count()).select_from(StatusTag).join(Status, Status.id == StatusTag.status_id)
        .where(and_(StatusTag.name == name, Status.visibility == "public"))) or 0)


@dataclass(frozen=True)
class Older:
    """A timeline window (actors.timelines.paging.Window) reading back from `max_id`."""

    max_id: int | None
    limit: int = 20
    since_id: int | None = None
    min_id: int | None = None
