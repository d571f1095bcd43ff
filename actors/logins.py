"""Logins, whichever edge takes them (the OAuth pages, the password grant, the website): who a login
names, whether the password is right, whether the user may still log in, and which accounts they may
act as (their own, and the local accounts whose team they are an active member of).

The HTTP edges pass in the throttle and the client's address; nothing here knows about requests.
"""

from __future__ import annotations

import asyncio
import secrets
from functools import lru_cache

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.accounts import check_password, find_local_actor, hash_password
from actors.teams import ROLES as TEAM_ROLES
from fediverse.config import Settings
from fediverse.login_throttle import LoginThrottle
from fediverse.models import Actor, TeamMember, User

__all__ = ["TEAM_ROLES", "active", "find_user", "identities_of", "may_act_as", "password_matches", "verify_login"]


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


async def find_user(session: AsyncSession, settings: Settings, login: str) -> User | None:
    """The user behind an email address, a username, @username or username@our-domain."""
    login = login.strip().lstrip("@")
    if not login:
        return None
    if "@" in login:
        user = await session.scalar(select(User).where(func.lower(User.email) == login.lower()))
        if user is not None:
            return user
        login, _, domain = login.partition("@")
        if domain.lower() != settings.domain:
            return None
    actor = await find_local_actor(session, login)
    if actor is None or actor.kind == "instance":
        return None
    return await session.scalar(select(User).where(User.actor_id == actor.id))


async def active(session: AsyncSession, user: User | None) -> bool:
    """A user may log in when approved, with a confirmed email address, and their own actor is neither
    suspended nor deleted."""
    if user is None or not user.approved or user.email_confirmed_at is None:
        return False
    actor = await session.get(Actor, user.actor_id)
    return actor is not None and actor.suspended_at is None and actor.deleted_at is None


async def password_matches(user: User | None, password: str) -> bool:
    """Argon2 runs in a thread (it takes tens of milliseconds of CPU). An unknown login costs a hash
    check too, so response times do not tell which accounts exist."""
    stored = user.password_hash if user is not None else None
    ok = await asyncio.to_thread(lambda: check_password(stored or _dummy_hash(), password))
    return ok and user is not None


async def verify_login(session: AsyncSession, settings: Settings, login: str, password: str, *,
                       throttle: LoginThrottle, ip: str) -> User | None:
    """The user when the password is right and they may log in; every failure feeds the throttle
    (the caller asks `throttle.blocked` first, so a blocked client costs no hash)."""
    user = await find_user(session, settings, login)
    if not await password_matches(user, password) or not await active(session, user):
        throttle.failed(ip, login)
        return None
    return user


async def identities_of(session: AsyncSession, user: User) -> list[Actor]:
    """Who this user may act as: their own actor first, then the live local accounts whose team they are an
    active member of (a pending invitation gives no access until it is accepted)."""
    own = await session.get(Actor, user.actor_id)
    team = (await session.scalars(
        select(Actor).join(TeamMember, TeamMember.actor_id == Actor.id)
        .where(TeamMember.user_id == user.id, TeamMember.role.in_(TEAM_ROLES), TeamMember.state == "active",
               Actor.domain_key == "",
               Actor.suspended_at.is_(None), Actor.deleted_at.is_(None))
        .order_by(Actor.username_lower))).all()
    return [actor for actor in [own, *team] if actor is not None and (actor is own or actor.id != user.actor_id)]


async def may_act_as(session: AsyncSession, user: User, actor_id: int) -> bool:
    return any(actor.id == actor_id for actor in await identities_of(session, user))
