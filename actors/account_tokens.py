"""The links mailed to a person: confirm an address, reset a password.

They are stateless: `<user id>-<expiry>-<HMAC>`, signed with a key derived from the instance's secret
key, so no token table grows with sign-ups and nothing in the database signs anyone in. The HMAC
covers what the link is about, so a link dies by itself when that changes:

- confirmation: the address it was sent to (a changed address needs a new link);
- password reset: the address and the current password hash, so the link works once (the new
  password changes the hash) and an older link dies when the password changes by other means.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.config import Settings
from fediverse.db import utcnow
from fediverse.models import User

CONFIRM_EMAIL = "confirm-email"
RESET_PASSWORD = "reset-password"
# Mastodon's (Devise's) defaults: two days to confirm, six hours to reset a password.
VALIDITY = {CONFIRM_EMAIL: timedelta(days=2), RESET_PASSWORD: timedelta(hours=6)}
MAX_TOKEN_CHARS = 120


class TokenError(ValueError):
    """`reason` is "invalid" (tampered, for another address, or already used) or "expired"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TokenCheck:
    user: User
    expires_at: datetime


def _key(settings: Settings) -> bytes:
    """A key for mailed links only: the secret key itself is never used as an HMAC key."""
    return hashlib.sha256(f"mailed-links|{settings.secret_key}".encode()).digest()


def _binding(purpose: str, user: User) -> str:
    """What the link is about: it stops working when this changes."""
    email = user.email.strip().lower()
    return email if purpose == CONFIRM_EMAIL else f"{email}\n{user.password_hash}"


def _signature(settings: Settings, purpose: str, user_id: int, expires: int, binding: str) -> str:
    message = f"{purpose}\n{user_id}\n{expires}\n{binding}".encode()
    digest = hmac.new(_key(settings), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_token(settings: Settings, purpose: str, user: User, *, now: datetime | None = None) -> str:
    """A link token for `user`, valid for VALIDITY[purpose] from `now`."""
    expires = int(((now or utcnow()) + VALIDITY[purpose]).timestamp())
    return f"{user.id}-{expires}-{_signature(settings, purpose, user.id, expires, _binding(purpose, user))}"


async def check_token(session: AsyncSession, settings: Settings, purpose: str, token: object, *,
                      now: datetime | None = None) -> TokenCheck:
    """The user a token was made for, while it is valid; TokenError otherwise. The signature is
    checked before the expiry, so "expired" is only said of a link we really sent."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenError("invalid")
    user_part, _, rest = token.partition("-")
    expires_part, _, signature = rest.partition("-")
    if not (user_part.isdigit() and expires_part.isdigit() and len(user_part) <= 19 and len(expires_part) <= 12):
        raise TokenError("invalid")
    user = await session.get(User, int(user_part))
    if user is None:
        raise TokenError("invalid")
    expected = _signature(settings, purpose, user.id, int(expires_part), _binding(purpose, user))
    if not secrets.compare_digest(expected.encode(), signature.encode()):
        raise TokenError("invalid")
    expires_at = datetime.fromtimestamp(int(expires_part), tz=UTC)
    if (now or utcnow()) >= expires_at:
        raise TokenError("expired")
    return TokenCheck(user=user, expires_at=expires_at)
