"""Verification of accounts by an instance admin.

Officials, associations, shops and the collectivity speak with some authority on the territory, so an
admin checks who they are and marks them verified: apps show it as the verified tick on the account's
"Type de compte" profile field and the web shows a badge. Residents have nothing to verify, and nobody
verifies themselves: the only way in is this function (the `fediverse accounts verify` command); the
client API never writes `kind` or `verified_at`.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from actors.accounts import find_local_actor
from fediverse.db import utcnow
from fediverse.models import Actor

VERIFIABLE_KINDS = ("official", "association", "shop", "collectivity")


class VerificationError(ValueError):
    """Why an account cannot be (un)verified; the message is shown to the admin as is."""


async def verify_account(session: AsyncSession, username: str, verified: bool = True) -> Actor:
    """Mark a local account verified (keeping the first verification date) or clear it; the caller commits."""
    actor = await find_local_actor(session, username)
    if actor is None or actor.deleted_at is not None or actor.kind == "instance":
        raise VerificationError(f"no local account {username!r}")
    if actor.kind not in VERIFIABLE_KINDS:
        raise VerificationError(
            f"{actor.username} is a {actor.kind} account: only {', '.join(VERIFIABLE_KINDS)} accounts are verified")
    if verified:
        actor.verified_at = actor.verified_at or utcnow()
    else:
        actor.verified_at = None
    # Remote servers refresh the profile from `updated`; the local caches key on it too.
    actor.updated = utcnow()
    await session.flush()
    return actor
