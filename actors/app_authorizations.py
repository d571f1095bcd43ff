"""The apps a person has let into their account (Mastodon's "Authorized apps"), and taking that back.

An authorization is what the live OAuth tokens of one app for one user add up to: the scopes they
carry, when the app was first let in, when it last called the API, and which identities it acts as
(the person, or a team account they chose on the consent page). Revoking an app revokes every token it
holds for the user, and the codes it has not exchanged yet: its next API call gets 401.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.db import utcnow
from fediverse.models import Actor, OAuthApp, OAuthGrant, OAuthToken


@dataclass
class AppAuthorization:
    """One app as the person sees it on their settings page."""

    app: OAuthApp
    scopes: list[str] = field(default_factory=list)
    authorized_at: datetime | None = None
    last_used_at: datetime | None = None
    identities: list[Actor] = field(default_factory=list)


async def authorizations_of(session: AsyncSession, user_id: int) -> list[AppAuthorization]:
    """The apps holding live tokens of this user, most recently authorized first. App-only tokens (no
    user, client_credentials) are not the person's and are never listed."""
    rows = await session.execute(
        select(OAuthToken, OAuthApp, Actor).join(OAuthApp, OAuthApp.id == OAuthToken.app_id)
        .outerjoin(Actor, Actor.id == OAuthToken.actor_id)
        .where(OAuthToken.user_id == user_id, OAuthToken.revoked_at.is_(None)).order_by(OAuthToken.created_at))
    apps: dict[int, AppAuthorization] = {}
    for token, app, actor in rows:
        entry = apps.setdefault(app.id, AppAuthorization(app=app, authorized_at=token.created_at))
        entry.scopes += [scope for scope in token.scopes.split() if scope not in entry.scopes]
        if token.last_used_at is not None and (entry.last_used_at is None or token.last_used_at > entry.last_used_at):
            entry.last_used_at = token.last_used_at
        if actor is not None and all(known.id != actor.id for known in entry.identities):
            entry.identities.append(actor)
    return sorted(apps.values(), key=lambda entry: entry.authorized_at or utcnow(), reverse=True)


async def revoke_app(session: AsyncSession, user_id: int, app_id: int) -> int:
    """Revoke every live token `app_id` holds for the user and drop its unused codes; how many tokens
    were revoked (0: the app held none, e.g. already revoked from another tab). The caller commits."""
    result = await session.execute(
        update(OAuthToken).where(OAuthToken.user_id == user_id, OAuthToken.app_id == app_id,
                                 OAuthToken.revoked_at.is_(None)).values(revoked_at=utcnow()))
    await session.execute(delete(OAuthGrant).where(OAuthGrant.user_id == user_id, OAuthGrant.app_id == app_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
