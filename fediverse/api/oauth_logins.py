"""The OAuth edge's door to the domain's login check (actors/logins.py): it adds what only a request
knows, the app-wide throttle and the client's address. The rules themselves live in the domain, so the
website's sign-in form applies exactly the same ones."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from actors import logins
from fediverse.login_throttle import client_ip, throttle_of
from fediverse.models import User
from fediverse.runtime import Runtime


async def verify_login(request: Request, session: AsyncSession, login: str, password: str) -> User | None:
    """The user when the password is right (argon2 runs in a thread); failures feed the throttle."""
    runtime: Runtime = request.app.state.runtime
    return await logins.verify_login(session, runtime.settings, login, password,
                                     throttle=throttle_of(request), ip=client_ip(request))
