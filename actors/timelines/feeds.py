"""The timelines: home, public, hashtag and list, newest first, filtered for the viewer."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.timelines.clauses import home_clause, list_clause, public_clause, tag_clause
from actors.timelines.filters import FilterSet
from actors.timelines.lists import get_list
from actors.timelines.paging import Window, paginate
from actors.timelines.relations import load_relations
from fediverse.models import ListMember, Status


async def home_timeline(session: AsyncSession, viewer_id: int, window: Window,
                        filters: FilterSet | None = None) -> list[Status]:
    rel = await load_relations(session, viewer_id)
    return await paginate(session, select(Status).where(home_clause(rel)), Status.id, window, _status_id,
                          filters.keep if filters else None, time_probe=True)


async def public_timeline(session: AsyncSession, viewer_id: int | None, window: Window, *, local: bool = False,
                          remote: bool = False, only_media: bool = False,
                          filters: FilterSet | None = None) -> list[Status]:
    rel = await load_relations(session, viewer_id) if viewer_id is not None else None
    clause = public_clause(rel, local=local, remote=remote, only_media=only_media)
    return await paginate(session, select(Status).where(clause), Status.id, window, _status_id,
                          filters.keep if filters else None)


async def tag_timeline(session: AsyncSession, viewer_id: int | None, window: Window, *, any_tags: Sequence[str],
                       all_tags: Sequence[str] = (), none_tags: Sequence[str] = (), local: bool = False,
                       remote: bool = False, only_media: bool = False,
                       filters: FilterSet | None = None) -> list[Status]:
    """Public statuses carrying any of `any_tags`, all of `all_tags` and none of `none_tags`."""
    if not any_tags:
        return []
    rel = await load_relations(session, viewer_id) if viewer_id is not None else None
    clause = and_(public_clause(rel, local=local, remote=remote, only_media=only_media, replies=True),
                  tag_clause(any_tags, all_tags, none_tags))
    return await paginate(session, select(Status).where(clause), Status.id, window, _status_id,
                          filters.keep if filters else None)


async def list_timeline(session: AsyncSession, viewer_id: int, list_id: int, window: Window,
                        filters: FilterSet | None = None) -> list[Status]:
    user_list = await get_list(session, viewer_id, list_id)
    rel = await load_relations(session, viewer_id)
    members = frozenset(await session.scalars(select(ListMember.actor_id).where(ListMember.list_id == list_id)))
    clause = list_clause(rel, members, user_list.replies_policy)
    return await paginate(session, select(Status).where(clause), Status.id, window, _status_id,
                          filters.keep if filters else None, time_probe=True)


async def in_home(session: AsyncSession, viewer_id: int, status_id: int) -> bool:
    """Whether a status belongs to the viewer's home timeline (for live updates of one new status)."""
    rel = await load_relations(session, viewer_id)
    found = await session.scalar(select(Status.id).where(Status.id == status_id, home_clause(rel)))
    return found is not None


def _status_id(status: Status) -> int:
    return status.id
