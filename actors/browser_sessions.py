"""Signed-in browsers, one row each, so a person can see where they are signed in and end a session.

The cookie (fediverse/web/session.py) is signed and holds a random key; only its SHA-256 is stored,
so a copy of the database does not sign anyone in. Ending a session deletes its row: that browser is
signed out at its next click. Changing the password or deleting the account ends them all.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.db import utcnow
from fediverse.models import BrowserSession, User

# last_seen_at is written at most this often: a page view is not a database write.
SEEN_EVERY = timedelta(minutes=5)
MAX_USER_AGENT = 512


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def open_browser_session(session: AsyncSession, user: User, *, user_agent: str, ip: str | None) -> str:
    """A new session row; returns the key the cookie carries (never stored as such)."""
    key = secrets.token_urlsafe(32)
    session.add(BrowserSession(user_id=user.id, key_hash=_key_hash(key), user_agent=user_agent[:MAX_USER_AGENT],
                               ip=ip))
    await session.flush()
    return key


async def find_browser_session(session: AsyncSession, user_id: int, key: object) -> BrowserSession | None:
    """The live session this cookie names (its user must match), touching last_seen_at now and then."""
    if not isinstance(key, str) or not key:
        return None
    row = await session.scalar(select(BrowserSession).where(BrowserSession.key_hash == _key_hash(key)))
    if row is None or row.user_id != user_id:
        return None
    now = utcnow()
    if now - row.last_seen_at > SEEN_EVERY:
        row.last_seen_at = now
        await session.commit()
    return row


async def browser_sessions_of(session: AsyncSession, user: User) -> list[BrowserSession]:
    rows = await session.scalars(select(BrowserSession).where(BrowserSession.user_id == user.id)
                                 .order_by(BrowserSession.last_seen_at.desc()))
    return list(rows.all())


async def end_browser_session(session: AsyncSession, user: User, session_id: int) -> bool:
    """End one of the user's sessions (never another user's); False when there was none."""
    result = await session.execute(delete(BrowserSession).where(BrowserSession.id == session_id,
                                                                BrowserSession.user_id == user.id))
    return bool(result.rowcount)


async def end_session_by_key(session: AsyncSession, key: object) -> None:
    if isinstance(key, str) and key:
        await session.execute(delete(BrowserSession).where(BrowserSession.key_hash == _key_hash(key)))


async def end_all_browser_sessions(session: AsyncSession, user: User, *, keep_id: int | None = None) -> int:
    """Sign the user out everywhere (but `keep_id`, the browser asking); returns how many were ended."""
    query = delete(BrowserSession).where(BrowserSession.user_id == user.id)
    if keep_id is not None:
        query = query.where(BrowserSession.id != keep_id)
    result = await session.execute(query)
    return int(result.rowcount or 0)
