"""The territory's directory ("annuaire"): the local accounts people look up by kind, commune, theme
and name, a page at a time.

Only discoverable accounts are listed (Mastodon's profile directory rule); a members-only group
is never discoverable (actors/groups.py). Without a kind, the directory shows the organisations
of the territory (the town hall, elected officials, associations, shops and public groups):
residents appear only when asked for, so the first page of a town's directory is not a list of
neighbours. Accounts are sorted as a printed directory is: institutions first, then by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.accounts import DIRECTORY_THEMES
from fediverse.models import Actor, Commune

# In the order the directory lists them (and offers them in its kind filter).
DIRECTORY_KINDS = ("collectivity", "official", "association", "shop", "group", "resident")
ORGANISATION_KINDS = DIRECTORY_KINDS[:-1]
MAX_QUERY = 100
MAX_PAGE = 10_000


class DirectoryError(ValueError):
    """A filter value the directory does not know (the page answers 400 with the reason)."""


@dataclass(frozen=True)
class DirectoryFilter:
    kind: str | None = None
    commune: str | None = None
    theme: str | None = None
    q: str = ""

    def check(self) -> DirectoryFilter:
        if self.kind is not None and self.kind not in DIRECTORY_KINDS:
            raise DirectoryError("kind")
        if self.theme is not None and self.theme not in DIRECTORY_THEMES:
            raise DirectoryError("theme")
        if len(self.q) > MAX_QUERY:
            raise DirectoryError("q")
        return self


@dataclass(frozen=True)
class DirectoryPage:
    actors: list[Actor]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def listed() -> list[ColumnElement[bool]]:
    """Local, live, discoverable accounts (never the instance actor)."""
    return [Actor.domain_key == "", Actor.discoverable.is_(True), Actor.deleted_at.is_(None),
            Actor.suspended_at.is_(None), Actor.kind.in_(DIRECTORY_KINDS)]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _matching(q: str) -> ColumnElement[bool] | None:
    """Every word of `q` in the name, the username or the presentation (case-insensitive)."""
    words = [w for w in q.lower().split() if w][:8]
    if not words:
        return None
    clauses = []
    for word in words:
        pattern = f"%{_escape(word)}%"
        clauses.append(or_(func.lower(Actor.display_name).like(pattern, escape="\\"),
                           Actor.username_lower.like(pattern, escape="\\"),
                           func.lower(Actor.summary).like(pattern, escape="\\")))
    return and_(*clauses)


def _conditions(flt: DirectoryFilter) -> list[ColumnElement[bool]]:
    conditions = listed()
    conditions.append(Actor.kind == flt.kind if flt.kind else Actor.kind.in_(ORGANISATION_KINDS))
    if flt.commune:
        conditions.append(Actor.commune_insee == flt.commune)
    if flt.theme:
        conditions.append(Actor.theme == flt.theme)
    text = _matching(flt.q)
    if text is not None:
        conditions.append(text)
    return conditions


def _kind_rank() -> ColumnElement[int]:
    return case({kind: rank for rank, kind in enumerate(DIRECTORY_KINDS)}, value=Actor.kind, else_=len(DIRECTORY_KINDS))


async def directory_page(session: AsyncSession, flt: DirectoryFilter, *, page: int = 1,
                         per_page: int = 24) -> DirectoryPage:
    """One page of the directory (1-based) and how many accounts match in all."""
    flt.check()
    page = max(1, min(page, MAX_PAGE))
    conditions = _conditions(flt)
    total = int(await session.scalar(select(func.count()).select_from(Actor).where(*conditions)) or 0)
    name = func.lower(func.coalesce(func.nullif(Actor.display_name, ""), Actor.username))
    rows = await session.scalars(select(Actor).where(*conditions)
                                 .order_by(_kind_rank(), name, Actor.id)
                                 .offset((page - 1) * per_page).limit(per_page))
    return DirectoryPage(list(rows), total, page, per_page)


async def newest_of_kind(session: AsyncSession, kind: str, limit: int) -> list[Actor]:
    """The latest listed accounts of one kind (the home page's "new associations")."""
    rows = await session.scalars(select(Actor).where(*listed(), Actor.kind == kind)
                                 .order_by(Actor.published.desc(), Actor.id.desc()).limit(limit))
    return list(rows)


async def communes_by_code(session: AsyncSession) -> dict[str, Commune]:
    """The territory's communes (for the filter and to name an account's commune)."""
    rows = await session.scalars(select(Commune).order_by(Commune.name))
    return {row.insee: row for row in rows}


async def themes_in_use(session: AsyncSession) -> list[str]:
    """The themes some listed account has, in DIRECTORY_THEMES order (the theme filter offers those)."""
    used = set(await session.scalars(select(Actor.theme).where(*listed(), Actor.theme.is_not(None)).distinct()))
    return [theme for theme in DIRECTORY_THEMES if theme in used]
