"""The viewer's lists of followed accounts and their members."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.timelines.errors import Missing, TimelineError
from actors.timelines.paging import Window, paginate
from fediverse.db import insert_ignoring_conflicts
from fediverse.ids import new_id
from fediverse.models import Actor, Follow, ListMember, UserList

REPLIES_POLICIES = ("followed", "list", "none")


MAX_LISTS = 50


async def lists_of(session: AsyncSession, viewer_id: int) -> list[UserList]:
    return list(await session.scalars(select(UserList).where(UserList.actor_id == viewer_id).order_by(UserList.id)))


async def lists_containing(session: AsyncSession, viewer_id: int, account_id: int) -> list[UserList]:
    return list(await session.scalars(select(UserList).join(ListMember, ListMember.list_id == UserList.id).where(
        UserList.actor_id == viewer_id, ListMember.actor_id == account_id).order_by(UserList.id)))


async def get_list(session: AsyncSession, viewer_id: int, list_id: int) -> UserList:
    row = await session.get(UserList, list_id)
    if row is None or row.actor_id != viewer_id:
        raise Missing("Record not found")
    return row


def _check_list_fields(title: str | None, replies_policy: str | None) -> None:
    if title is not None and not title.strip():
        raise TimelineError("Title can't be blank")
    if replies_policy is not None and replies_policy not in REPLIES_POLICIES:
        raise TimelineError(f"Replies policy {replies_policy} is not included in the list")


async def create_list(session: AsyncSession, viewer_id: int, title: str, replies_policy: str | None = None,
                      exclusive: bool = False) -> UserList:
    _check_list_fields(title, replies_policy)
    count = await session.scalar(select(func.count()).select_from(UserList).where(UserList.actor_id == viewer_id))
    if (count or 0) >= MAX_LISTS:
        raise TimelineError(f"You cannot have more than {MAX_LISTS} lists")
    row = UserList(actor_id=viewer_id, title=title.strip()[:255], replies_policy=replies_policy or "list",
                   exclusive=exclusive)
    session.add(row)
    await session.flush()
    return row


async def update_list(session: AsyncSession, viewer_id: int, list_id: int, *, title: str | None = None,
                      replies_policy: str | None = None, exclusive: bool | None = None) -> UserList:
    row = await get_list(session, viewer_id, list_id)
    _check_list_fields(title, replies_policy)
    if title is not None:
        row.title = title.strip()[:255]
    if replies_policy is not None:
        row.replies_policy = replies_policy
    if exclusive is not None:
        row.exclusive = exclusive
    await session.flush()
    return row


async def delete_list(session: AsyncSession, viewer_id: int, list_id: int) -> None:
    await session.delete(await get_list(session, viewer_id, list_id))


async def list_accounts(session: AsyncSession, viewer_id: int, list_id: int, window: Window | None) -> list[Actor]:
    """Members of a list, by account id like Mastodon; `window` None returns them all."""
    await get_list(session, viewer_id, list_id)
    query = (select(Actor).join(ListMember, ListMember.actor_id == Actor.id)
             .where(ListMember.list_id == list_id, Actor.suspended_at.is_(None), Actor.deleted_at.is_(None)))
    if window is None:
        return list(await session.scalars(query.order_by(Actor.id.desc())))
    return await paginate(session, query, Actor.id, window, lambda a: a.id)


async def add_list_accounts(session: AsyncSession, viewer_id: int, list_id: int, account_ids: list[int]) -> None:
    """Only accounts the viewer follows (or asked to follow) can be in a list, as on Mastodon."""
    await get_list(session, viewer_id, list_id)
    ids = list(dict.fromkeys(account_ids))
    if not ids:
        return
    known = set(await session.scalars(select(Actor.id).where(Actor.id.in_(ids), Actor.deleted_at.is_(None))))
    if len(known) != len(ids):
        raise Missing("Record not found")
    followed = set(await session.scalars(select(Follow.followee_id).where(
        Follow.follower_id == viewer_id, Follow.followee_id.in_(ids))))
    if followed != known:
        raise TimelineError("Follow must exist: you can only add accounts you follow")
    rows = [{"id": new_id(), "list_id": list_id, "actor_id": actor_id} for actor_id in ids]
    await session.execute(insert_ignoring_conflicts(session, ListMember.__table__, rows, "list_id", "actor_id"))


async def remove_list_accounts(session: AsyncSession, viewer_id: int, list_id: int, account_ids: list[int]) -> None:
    await get_list(session, viewer_id, list_id)
    if account_ids:
        await session.execute(delete(ListMember).where(ListMember.list_id == list_id,
                                                       ListMember.actor_id.in_(account_ids)))
