"""Creating and changing content filters, their keywords and their filtered statuses."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.timelines.errors import Missing, TimelineError
from actors.timelines.filters import FilterRules, get_filter
from fediverse.db import utcnow
from fediverse.models import Filter, FilterKeyword, FilterStatus, Status

FILTER_CONTEXTS = ("home", "notifications", "public", "thread", "account")
FILTER_ACTIONS = ("warn", "hide", "blur")


@dataclass(frozen=True)
class KeywordChange:
    """One entry of `keywords_attributes`: a new keyword (no id), a change, or a removal."""

    id: int | None = None
    keyword: str | None = None
    whole_word: bool | None = None
    destroy: bool = False


def _check_filter_fields(title: str | None, context: list[str] | None, action: str | None) -> None:
    if title is not None and not title.strip():
        raise TimelineError("Title can't be blank")
    if context is not None:
        if not context:
            raise TimelineError("Context can't be blank")
        unknown = [c for c in context if c not in FILTER_CONTEXTS]
        if unknown:
            raise TimelineError(f"Context {unknown[0]} is not a valid context")
    if action is not None and action not in FILTER_ACTIONS:
        raise TimelineError(f"Filter action {action} is not a valid action")


def _expiry(expires_in: int | None) -> datetime | None:
    if expires_in is None:
        return None
    if expires_in <= 0:
        raise TimelineError("Expires in must be a positive number of seconds")
    return utcnow() + timedelta(seconds=expires_in)


async def save_filter(session: AsyncSession, viewer_id: int, filter_id: int | None, *, title: str | None = None,
                      context: list[str] | None = None, action: str | None = None, set_expiry: bool = False,
                      expires_in: int | None = None, keywords: Sequence[KeywordChange] = ()) -> FilterRules:
    """Create (filter_id None) or change a filter; with `set_expiry`, `expires_in` seconds (None: never)."""
    _check_filter_fields(title, context, action)
    if filter_id is None:
        if title is None or context is None:
            raise TimelineError("Title and context are required")
        row = Filter(actor_id=viewer_id, title=title.strip()[:255],
                     context_json=json.dumps(list(dict.fromkeys(context))), action=action or "warn")
        session.add(row)
        await session.flush()
    else:
        row = (await get_filter(session, viewer_id, filter_id)).row
        if title is not None:
            row.title = title.strip()[:255]
        if context is not None:
            row.context_json = json.dumps(list(dict.fromkeys(context)))
        if action is not None:
            row.action = action
    if set_expiry:
        row.expires_at = _expiry(expires_in)
    for change in keywords:
        await _apply_keyword_change(session, row.id, change)
    await session.flush()
    return await get_filter(session, viewer_id, row.id)


async def _apply_keyword_change(session: AsyncSession, filter_id: int, change: KeywordChange) -> None:
    if change.id is None:
        if change.destroy:
            return
        if not (change.keyword or "").strip():
            raise TimelineError("Keyword can't be blank")
        session.add(FilterKeyword(filter_id=filter_id, keyword=change.keyword.strip()[:255],
                                  whole_word=True if change.whole_word is None else change.whole_word))
        return
    keyword = await session.scalar(select(FilterKeyword).where(FilterKeyword.id == change.id,
                                                               FilterKeyword.filter_id == filter_id))
    if keyword is None:
        raise Missing("Record not found")
    if change.destroy:
        await session.delete(keyword)
        return
    if change.keyword is not None:
        if not change.keyword.strip():
            raise TimelineError("Keyword can't be blank")
        keyword.keyword = change.keyword.strip()[:255]
    if change.whole_word is not None:
        keyword.whole_word = change.whole_word


async def delete_filter(session: AsyncSession, viewer_id: int, filter_id: int) -> None:
    row = (await get_filter(session, viewer_id, filter_id)).row
    await session.delete(row)


async def get_keyword(session: AsyncSession, viewer_id: int, keyword_id: int) -> tuple[FilterKeyword, Filter]:
    found = (await session.execute(select(FilterKeyword, Filter).join(Filter, Filter.id == FilterKeyword.filter_id)
                                   .where(FilterKeyword.id == keyword_id, Filter.actor_id == viewer_id))).first()
    if found is None:
        raise Missing("Record not found")
    return found[0], found[1]


async def add_keyword(session: AsyncSession, viewer_id: int, filter_id: int, keyword: str,
                      whole_word: bool) -> FilterKeyword:
    await get_filter(session, viewer_id, filter_id)
    if not keyword.strip():
        raise TimelineError("Keyword can't be blank")
    row = FilterKeyword(filter_id=filter_id, keyword=keyword.strip()[:255], whole_word=whole_word)
    session.add(row)
    await session.flush()
    return row


async def update_keyword(session: AsyncSession, viewer_id: int, keyword_id: int, keyword: str | None,
                         whole_word: bool | None) -> FilterKeyword:
    row, _ = await get_keyword(session, viewer_id, keyword_id)
    await _apply_keyword_change(session, row.filter_id, KeywordChange(row.id, keyword, whole_word))
    await session.flush()
    return row


async def delete_keyword(session: AsyncSession, viewer_id: int, keyword_id: int, *, drop_empty_filter: bool = False
                         ) -> None:
    """Remove a keyword; the v1 API also removes the filter it leaves empty (v1 filters are one keyword)."""
    row, owner = await get_keyword(session, viewer_id, keyword_id)
    await session.delete(row)
    await session.flush()
    if drop_empty_filter:
        rules = await get_filter(session, viewer_id, owner.id)
        if not rules.keywords and not rules.statuses:
            await session.delete(owner)


async def get_filter_status(session: AsyncSession, viewer_id: int, item_id: int) -> FilterStatus:
    found = await session.scalar(select(FilterStatus).join(Filter, Filter.id == FilterStatus.filter_id)
                                 .where(FilterStatus.id == item_id, Filter.actor_id == viewer_id))
    if found is None:
        raise Missing("Record not found")
    return found


async def delete_filter_status(session: AsyncSession, viewer_id: int, item_id: int) -> None:
    await session.delete(await get_filter_status(session, viewer_id, item_id))


async def add_filter_status(session: AsyncSession, viewer_id: int, filter_id: int, status_id: int) -> FilterStatus:
    await get_filter(session, viewer_id, filter_id)
    if await session.get(Status, status_id) is None:
        raise Missing("Record not found")
    existing = await session.scalar(select(FilterStatus).where(FilterStatus.filter_id == filter_id,
                                                               FilterStatus.status_id == status_id))
    if existing is not None:
        raise TimelineError("Status has already been taken")
    row = FilterStatus(filter_id=filter_id, status_id=status_id)
    session.add(row)
    await session.flush()
    return row
