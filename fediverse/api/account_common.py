"""What the account endpoints share: finding the account a path names, rendering accounts (with
their `moved` target) and relationships, and pages of accounts linked to the viewer.

Kept apart from the route modules (accounts, account_relations, account_collections, credentials)
so that each of them reads the same rules for which accounts exist: an account that is suspended,
deleted or still awaiting approval is a 404 everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse

from actors.relationships import Relationship, relationship
from fediverse.api.errors import not_found
from fediverse.api.pagination import Page, link_header
from fediverse.api.serializers.accounts import account_to_api
from fediverse.config import Settings
from fediverse.models import Actor, User
from fediverse.runtime import Runtime

MAX_BATCH_IDS = 40


def relationship_to_api(rel: Relationship) -> dict[str, Any]:
    return {
        "id": str(rel.target_id),
        "following": rel.following,
        "showing_reblogs": rel.showing_reblogs,
        "notifying": rel.notifying,
        "languages": rel.languages,
        "followed_by": rel.followed_by,
        "blocking": rel.blocking,
        "blocked_by": rel.blocked_by,
        "muting": rel.muting,
        "muting_notifications": rel.muting_notifications,
        "requested": rel.requested,
        "requested_by": rel.requested_by,
        "domain_blocking": False,
        "endorsed": rel.endorsed,
        "note": rel.note,
    }


async def render_accounts(session: AsyncSession, settings: Settings, actors: Sequence[Actor]) -> list[dict[str, Any]]:
    """Accounts with their `moved` target rendered too, in one extra query for the whole list."""
    moved_uris = {a.moved_to_uri for a in actors if a.moved_to_uri}
    moved: dict[str, dict[str, Any]] = {}
    if moved_uris:
        for target in await session.scalars(select(Actor).where(Actor.uri.in_(moved_uris))):
            moved[target.uri] = account_to_api(target, settings)
    return [account_to_api(a, settings, moved=moved.get(a.moved_to_uri or "")) for a in actors]


def visible(actor: Actor | None) -> bool:
    return actor is not None and actor.suspended_at is None and actor.deleted_at is None


async def find_account(session: AsyncSession, actor_id: int) -> Actor:
    """The account behind a path id; 404 when unknown, suspended, deleted or awaiting approval."""
    actor = await session.get(Actor, actor_id)
    if not visible(actor):
        raise not_found()
    assert actor is not None
    if actor.domain is None:
        approved = await session.scalar(select(User.approved).where(User.actor_id == actor.id))
        if approved is False:
            raise not_found()
    return actor


async def relationship_response(runtime: Runtime, viewer_id: int, target_id: int) -> JSONResponse:
    """What every relationship-changing endpoint answers: the relationship as it now stands."""
    async with runtime.sessions() as session:
        return JSONResponse(relationship_to_api(await relationship(session, viewer_id, target_id)))


async def account_page(request: Request, runtime: Runtime, page: Page, stmt: Select[Any], column: Any,
                       extra: Callable[[Any], dict[str, Any]] | None = None) -> JSONResponse:
    """A page of accounts paginated on the id of the row that links them to the viewer (row[0] the id,
    row[1] the account); `extra` adds fields from the rest of the row."""
    async with runtime.sessions() as session:
        rows = page.order((await session.execute(page.apply(stmt, column))).all())
        docs = await render_accounts(session, runtime.settings, [row[1] for row in rows])
    if extra is not None:
        for doc, row in zip(docs, rows, strict=True):
            doc.update(extra(row))
    return JSONResponse(docs, headers=link_header(request, [row[0] for row in rows]))
