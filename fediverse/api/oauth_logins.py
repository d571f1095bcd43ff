"""Logins shared by the OAuth login form and the password grant: who a login names, whether the
password is right (with a throttle against guessing), and which accounts the user may act as
(their own, and the local accounts their team manages)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict, deque
from functools import lru_cache

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from actors.accounts import check_password, find_local_actor, hash_password
from fediverse.config import Settings
from fediverse.models import Actor, TeamMember, User
from fediverse.runtime import Runtime

TEAM_ROLES = ("admin", "editor")


class LoginThrottle:
    """Failed logins per client IP and per login name over a sliding window (per process): enough to
    make password guessing slow without any table."""

    def __init__(self, per_login: int = 10, per_ip: int = 50, window: float = 900.0, max_keys: int = 50_000) -> None:
        self.limits = {"login": per_login, "ip": per_ip}
        self.window = window
        self.max_keys = max_keys
        self.failures: OrderedDict[str, deque[float]] = OrderedDict()

    @staticmethod
    def keys(ip: str, login: str) -> list[tuple[str, str]]:
        return [("ip", f"ip:{ip}"), ("login", f"login:{login.strip().lower()}")]

    def blocked(self, ip: str, login: str) -> bool:
        now = time.monotonic()
        for kind, key in self.keys(ip, login):
            times = self.failures.get(key)
            while times and times[0] < now - self.window:
                times.popleft()
            if times and len(times) >= self.limits[kind]:
                return True
        return False

    def failed(self, ip: str, login: str) -> None:
        now = time.monotonic()
        for _kind, key in self.keys(ip, login):
            self.failures.setdefault(key, deque(maxlen=100)).append(now)
            self.failures.move_to_end(key)
        while len(self.failures) > self.max_keys:
            self.failures.popitem(last=False)


def throttle_of(request: Request) -> LoginThrottle:
    throttle = getattr(request.app.state, "login_throttle", None)
    if throttle is None:
        throttle = request.app.state.login_throttle = LoginThrottle()
    return throttle


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "?"


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
    """A user may log in when approved and their own actor is neither suspended nor deleted."""
    if user is None or not user.approved:
        return False
    actor = await session.get(Actor, user.actor_id)
    return actor is not None and actor.suspended_at is None and actor.deleted_at is None


async def verify_login(request: Request, session: AsyncSession, login: str, password: str) -> User | None:
    """The user when the password is right (argon2 runs in a thread); failures feed the throttle."""
    runtime: Runtime = request.app.state.runtime
    user = await find_user(session, runtime.settings, login)
    stored = user.password_hash if user is not None else None
    # An unknown login costs a hash check too, so response times do not tell which accounts exist.
    ok = await asyncio.to_thread(lambda: check_password(stored or _dummy_hash(), password)) and user is not None
    if not ok or not await active(session, user):
        throttle_of(request).failed(client_ip(request), login)
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
