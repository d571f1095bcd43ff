"""Steps shared by the federation tests: accounts, lookups and actions on live instances."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from actors.accounts import create_account
from actors.remote import ActorResolver
from fediverse.models import Actor
from outbox.commands import Outbox
from outbox.compose import render
from tests.live import LiveInstance
from webfinger.client import resolve_handle


async def make_account(instance: LiveInstance, username: str, **kwargs: Any) -> Actor:
    async with instance.runtime.sessions() as session, session.begin():
        actor, _ = await create_account(session, instance.runtime.uris, username,
                                        email=f"{username}@{instance.domain}", password="correct horse battery",
                                        **kwargs)
    return actor


async def remote_actor(instance: LiveInstance, handle: str) -> Actor:
    """Resolve user@domain the way a user typing it would: WebFinger, then a signed actor fetch."""
    uri = await resolve_handle(instance.runtime, handle)
    return await ActorResolver(instance.runtime).get(uri)


def outbox(instance: LiveInstance) -> Outbox:
    return Outbox(instance.runtime)


def html(instance: LiveInstance, text: str, mentions: list[Actor] | None = None) -> str:
    urls = {a.handle(instance.domain).lower(): (a.url or a.uri) for a in mentions or []}
    return render(text, instance.runtime.uris, urls)


async def count(instance: LiveInstance, model: Any, *where: Any) -> int:
    async with instance.runtime.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def first(instance: LiveInstance, query: Any) -> Any:
    async with instance.runtime.sessions() as session:
        return await session.scalar(query)
