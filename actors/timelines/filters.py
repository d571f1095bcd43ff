"""Content filters applied to statuses as they are read: the viewer's filters with their keywords
and statuses, and `FilterSet`, which drops or marks the statuses they match."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.timelines.errors import Missing
from fediverse.db import utcnow
from fediverse.models import Attachment, Filter, FilterKeyword, FilterStatus, Poll, Status
from fediverse.sanitize import html_to_text


@dataclass
class FilterRules:
    """One filter with its keywords and filtered statuses."""

    row: Filter
    keywords: list[FilterKeyword] = field(default_factory=list)
    statuses: list[FilterStatus] = field(default_factory=list)

    @property
    def context(self) -> list[str]:
        try:
            value = json.loads(self.row.context_json or "[]")
        except ValueError:
            return []
        return [c for c in value if isinstance(c, str)] if isinstance(value, list) else []


@dataclass(frozen=True)
class FilterMatch:
    """Why a status matched a filter (Mastodon's FilterResult)."""

    rules: FilterRules
    keyword_matches: list[str] | None
    status_matches: list[str] | None


def keyword_pattern(keyword: str, whole_word: bool) -> re.Pattern[str]:
    """Case-insensitive; a whole word needs word boundaries where the keyword starts/ends with a letter."""
    body = re.escape(keyword)
    if whole_word:
        body = ("\\b" if re.match(r"\w", keyword) else "") + body + ("\\b" if re.search(r"\w$", keyword) else "")
    return re.compile(body, re.IGNORECASE)


def _active(row: Filter, now: datetime) -> bool:
    return row.expires_at is None or row.expires_at > now


class FilterSet:
    """The viewer's active filters for one context, applied to statuses in batches.

    `keep` is the page callback: it drops statuses a `hide` filter matches and remembers the
    matches of the others, which `matches` then gives to the renderer (`filtered`).
    """

    def __init__(self, session: AsyncSession, rules: list[FilterRules]) -> None:
        self.session = session
        self.rules = rules
        self.patterns = {r.row.id: [(k, keyword_pattern(k.keyword, k.whole_word)) for k in r.keywords]
                         for r in rules}
        self.status_ids = {r.row.id: {s.status_id for s in r.statuses} for r in rules}
        self.results: dict[int, list[FilterMatch]] = {}

    @classmethod
    async def load(cls, session: AsyncSession, viewer_id: int | None, context: str) -> FilterSet:
        if viewer_id is None:
            return cls(session, [])
        now = utcnow()
        rules = [r for r in await filters_of(session, viewer_id) if context in r.context and _active(r.row, now)]
        return cls(session, rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    async def keep(self, statuses: list[Status]) -> list[Status]:
        """Statuses not hidden by a filter; boosts are judged by the boosted status."""
        if not self.rules or not statuses:
            return statuses
        originals = await self._originals(statuses)
        proper = [originals.get(s.reblog_of_id, s) if s.reblog_of_id else s for s in statuses]
        texts = await self._texts(proper) if any(self.patterns.values()) else {}
        kept = []
        for status, target in zip(statuses, proper, strict=True):
            found = self._match(target, texts.get(target.id, ""))
            self.results[target.id] = found
            if not any(m.rules.row.action == "hide" for m in found):
                kept.append(status)
        return kept

    def matches(self, status_id: int) -> list[FilterMatch]:
        return self.results.get(status_id, [])

    def _match(self, status: Status, text: str) -> list[FilterMatch]:
        found = []
        for rules in self.rules:
            words = []
            for _keyword, pattern in self.patterns[rules.row.id]:
                hit = pattern.search(text)
                if hit:
                    words.append(hit.group(0))
            status_hits = [str(status.id)] if status.id in self.status_ids[rules.row.id] else []
            if words or status_hits:
                found.append(FilterMatch(rules, list(dict.fromkeys(words)) or None, status_hits or None))
        return found

    async def _originals(self, statuses: list[Status]) -> dict[int, Status]:
        ids = {s.reblog_of_id for s in statuses if s.reblog_of_id}
        if not ids:
            return {}
        return {s.id: s for s in await self.session.scalars(select(Status).where(Status.id.in_(ids)))}

    async def _texts(self, statuses: list[Status]) -> dict[int, str]:
        """Mastodon's searchable text: content warning, text, poll options and media descriptions."""
        ids = [s.id for s in statuses]
        extra: dict[int, list[str]] = defaultdict(list)
        for status_id, options in (await self.session.execute(
                select(Poll.status_id, Poll.options_json).where(Poll.status_id.in_(ids)))).all():
            try:
                extra[status_id].extend(str(o.get("title", "")) for o in json.loads(options) if isinstance(o, dict))
            except ValueError:
                pass
        for status_id, description in (await self.session.execute(
                select(Attachment.status_id, Attachment.description).where(
                    Attachment.status_id.in_(ids), Attachment.description.is_not(None)))).all():
            extra[status_id or 0].append(description)
        return {s.id: "\n\n".join([s.summary or "", s.name or "", html_to_text(s.content), *extra.get(s.id, [])])
                for s in statuses}


async def filters_of(session: AsyncSession, viewer_id: int, filter_id: int | None = None) -> list[FilterRules]:
    """The viewer's filters (or one of them) with keywords and statuses, in three queries."""
    query = select(Filter).where(Filter.actor_id == viewer_id)
    if filter_id is not None:
        query = query.where(Filter.id == filter_id)
    rows = {f.id: FilterRules(f) for f in await session.scalars(query.order_by(Filter.id))}
    if not rows:
        return []
    for keyword in await session.scalars(select(FilterKeyword).where(FilterKeyword.filter_id.in_(list(rows)))
                                         .order_by(FilterKeyword.id)):
        rows[keyword.filter_id].keywords.append(keyword)
    for item in await session.scalars(select(FilterStatus).where(FilterStatus.filter_id.in_(list(rows)))
                                      .order_by(FilterStatus.id)):
        rows[item.filter_id].statuses.append(item)
    return list(rows.values())


async def get_filter(session: AsyncSession, viewer_id: int, filter_id: int) -> FilterRules:
    found = await filters_of(session, viewer_id, filter_id)
    if not found:
        raise Missing("Record not found")
    return found[0]
