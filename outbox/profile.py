"""Outbox commands on the account itself: profile changes, moving away, and pinned statuses."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, func, select

from actors.serializers import actor_to_as
from fediverse.db import utcnow
from fediverse.models import Actor, Commune, FeaturedStatus
from fediverse.sanitize import sanitize_html
from fediverse.uris import PUBLIC
from outbox.audience import follower_inboxes
from outbox.command_base import CommandBase
from outbox.errors import CommandError
from outbox.limits import MAX_PINNED
from outbox.serializers import wrap


class ProfileCommands(CommandBase):
    """Profile updates, Move and featured (pinned) statuses, sent to the followers."""

    async def update_profile(self, actor_id: int, **changes: Any) -> Actor:
        allowed = {"display_name", "summary", "icon_url", "icon_static_url", "image_url", "image_static_url",
                   "manually_approves_followers", "discoverable", "also_known_as", "bot", "fields_json", "source_note"}
        unknown = set(changes) - allowed
        if unknown:
            raise CommandError(f"cannot change {', '.join(sorted(unknown))}")
        async with self._transaction() as session:
            actor = await self._actor(session, actor_id, local=True)
            if "summary" in changes:
                changes["summary"] = sanitize_html(changes["summary"] or "")
            if "also_known_as" in changes:
                aliases = [a for a in changes["also_known_as"] if isinstance(a, str) and a.startswith("https://")]
                changes["also_known_as"] = json.dumps(aliases[:10])
            for key, value in changes.items():
                setattr(actor, key, value)
            actor.updated = utcnow()
            await session.flush()
            commune = await session.get(Commune, actor.commune_insee) if actor.commune_insee else None
            doc = actor_to_as(actor, self.uris, commune)
            _, activity_uri = self._activity_uri(actor)
            body = wrap("Update", activity_uri, actor.uri, doc, to=[PUBLIC], cc=[actor.followers_url or ""])
            await self._emit(session, actor, body, await follower_inboxes(session, actor.id), object_uri=actor.uri)
            return actor

    async def move(self, actor_id: int, target: Actor) -> None:
        """Announce that this account moved to `target`, which must list us in alsoKnownAs."""
        async with self._transaction() as session:
            actor = await self._actor(session, actor_id, local=True)
            if actor.uri not in json.loads(target.also_known_as or "[]"):
                raise CommandError("the new account must first list this one as an alias (alsoKnownAs)")
            actor.moved_to_uri = target.uri
            actor.updated = utcnow()
            _, activity_uri = self._activity_uri(actor)
            body = wrap("Move", activity_uri, actor.uri, actor.uri, to=[actor.followers_url or ""])
            body["target"] = target.uri
            await self._emit(session, actor, body, await follower_inboxes(session, actor.id), object_uri=actor.uri)

    async def pin(self, actor_id: int, status_id: int, *, pinned: bool = True) -> None:
        async with self._transaction() as session:
            actor = await self._actor(session, actor_id, local=True)
            status = await self._status(session, status_id)
            # Public and unlisted only: the featured collection is served to anyone (actors.routes).
            if status.actor_id != actor.id or status.reblog_of_id is not None \
                    or status.visibility not in ("public", "unlisted"):
                raise CommandError("only your own public statuses can be pinned")
            existing = await session.scalar(select(FeaturedStatus).where(
                FeaturedStatus.actor_id == actor.id, FeaturedStatus.status_id == status.id))
            if pinned == (existing is not None):
                return
            if pinned and (await session.scalar(select(func.count()).select_from(FeaturedStatus).where(
                    FeaturedStatus.actor_id == actor.id)) or 0) >= MAX_PINNED:
                raise CommandError(f"at most {MAX_PINNED} statuses can be pinned")
            if pinned:
                session.add(FeaturedStatus(actor_id=actor.id, status_id=status.id))
            else:
                await session.execute(delete(FeaturedStatus).where(FeaturedStatus.id == existing.id))
            _, activity_uri = self._activity_uri(actor)
            body = wrap("Add" if pinned else "Remove", activity_uri, actor.uri, status.uri, to=[PUBLIC])
            body["target"] = actor.featured_url
            await self._emit(session, actor, body, await follower_inboxes(session, actor.id), object_uri=status.uri)
