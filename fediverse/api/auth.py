"""Bearer tokens -> the identity an app acts as, and the scopes it may use."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from starlette.requests import Request

from fediverse.api.errors import ApiError
from fediverse.api.scopes import allows
from fediverse.db import utcnow
from fediverse.models import Actor, OAuthToken, User
from fediverse.runtime import Runtime


def hash_secret(value: str) -> str:
    """Tokens are random 256-bit strings, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(value.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Identity:
    token_id: int
    scopes: frozenset[str]
    app_id: int | None
    user: User | None
    actor: Actor | None

    def require(self, scope: str) -> None:
        if not allows(self.scopes, scope):
            raise ApiError(403, "This action is outside the authorized scopes")

    @property
    def actor_id(self) -> int:
        if self.actor is None:
            raise ApiError(422, "This method requires an authenticated user")
        return self.actor.id


def viewer_of(identity: Identity | None) -> int | None:
    """The reading account's id: None for anonymous requests and app-only tokens."""
    return identity.actor.id if identity is not None and identity.actor is not None else None


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.query_params.get("access_token")


async def identify(request: Request) -> Identity | None:
    """The identity behind the request's token, None without a token; 401 for a bad token."""
    token = bearer_token(request)
    if token is None:
        return None
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session:
        row = await session.scalar(select(OAuthToken).where(OAuthToken.token_hash == hash_secret(token)))
        if row is None or row.revoked_at is not None:
            raise ApiError(401, "The access token is invalid")
        user = await session.get(User, row.user_id) if row.user_id else None
        actor = await session.get(Actor, row.actor_id) if row.actor_id else None
        if actor is not None and (actor.suspended_at is not None or actor.deleted_at is not None):
            raise ApiError(401, "Your login is currently disabled")
        if user is not None and user.email_confirmed_at is None:
            raise ApiError(403, "Your login is missing a confirmed e-mail address")
        if user is not None and not user.approved:
            raise ApiError(403, "Your login is currently pending approval")
        now = utcnow()
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 300:
            await session.execute(update(OAuthToken).where(OAuthToken.id == row.id).values(last_used_at=now))
            await session.commit()
    return Identity(row.id, frozenset(row.scopes.split()), row.app_id, user, actor)


async def authenticate(request: Request, scope: str | None = None, *, user: bool = True) -> Identity:
    """Require a token (401), a user behind it when `user` (422), and `scope` (403)."""
    identity = await identify(request)
    if identity is None:
        raise ApiError(401, "The access token is invalid")
    if user and identity.actor is None:
        raise ApiError(422, "This method requires an authenticated user")
    if scope is not None:
        identity.require(scope)
    return identity


async def optional_identity(request: Request, scope: str | None = None) -> Identity | None:
    """Public endpoints: anonymous is fine, but a token that is sent must be valid."""
    identity = await identify(request)
    if identity is not None and scope is not None and identity.actor is not None:
        identity.require(scope)
    return identity
