"""Invitation links (`/invite/<code>`): how people join an instance whose registration is by invitation,
and how they skip the moderators' review when registration needs approval (as on Mastodon).

Any signed-in person may make links while the mode uses them; a link is limited in uses and in time
(Mastodon's choices), and its maker can revoke it, which ends it at once but keeps it (the accounts
that joined through it still name it). A use is counted by one conditional UPDATE, so two people
racing for the last use of a link cannot both get it.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.config import Settings
from fediverse.db import utcnow
from fediverse.models import Invite, User

# The choices of Mastodon's invitation form: (minutes, None = never) and (uses, None = unlimited).
EXPIRY_CHOICES: tuple[int | None, ...] = (30, 60, 6 * 60, 12 * 60, 24 * 60, 7 * 24 * 60, None)
MAX_USES_CHOICES: tuple[int | None, ...] = (None, 1, 5, 10, 25, 50, 100)
MAX_CODE_CHARS = 64
LIVE_INVITES_PER_USER = 50  # enough for a town hall's workshops, not a spam cannon


class InviteError(ValueError):
    """`reason`: "disabled" (the mode uses no invitations), "unknown", "expired" (revoked, out of time or
    used up), "choice" (an expiry or use count not offered) or "too_many"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def invites_enabled(settings: Settings) -> bool:
    """Invitations are used when registration is by invitation, and to skip review under approval."""
    return settings.registration in ("invite", "approval")


def invite_is_live(invite: Invite) -> bool:
    now = utcnow()
    return (invite.expires_at is None or invite.expires_at > now) and (
        invite.max_uses is None or invite.uses < invite.max_uses)


async def create_invite(session: AsyncSession, settings: Settings, user: User, *, max_uses: int | None,
                        expires_in_minutes: int | None) -> Invite:
    """A new link made by `user`; the caller commits."""
    if not invites_enabled(settings):
        raise InviteError("disabled")
    if max_uses not in MAX_USES_CHOICES or expires_in_minutes not in EXPIRY_CHOICES:
        raise InviteError("choice")
    if len([invite for invite in await invites_of(session, user) if invite_is_live(invite)]) >= LIVE_INVITES_PER_USER:
        raise InviteError("too_many")
    expires_at = utcnow() + timedelta(minutes=expires_in_minutes) if expires_in_minutes is not None else None
    invite = Invite(code=secrets.token_urlsafe(12), created_by_user_id=user.id, max_uses=max_uses, uses=0,
                    expires_at=expires_at)
    session.add(invite)
    await session.flush()
    return invite


async def invites_of(session: AsyncSession, user: User) -> list[Invite]:
    """The links `user` made, newest first."""
    rows = await session.scalars(select(Invite).where(Invite.created_by_user_id == user.id)
                                 .order_by(Invite.created_at.desc(), Invite.id.desc()))
    return list(rows.all())


async def revoke_invite(session: AsyncSession, user: User, invite_id: int) -> Invite:
    """End one of `user`'s links now (never someone else's)."""
    invite = await session.get(Invite, invite_id)
    if invite is None or invite.created_by_user_id != user.id:
        raise InviteError("unknown")
    now = utcnow()
    if invite.expires_at is None or invite.expires_at > now:
        invite.expires_at = now
    await session.flush()
    return invite


async def find_live_invite(session: AsyncSession, code: object) -> Invite:
    """The invitation a code names while it can still be used; InviteError("unknown"/"expired") else."""
    if not isinstance(code, str) or not code.strip() or len(code) > MAX_CODE_CHARS:
        raise InviteError("unknown")
    invite = await session.scalar(select(Invite).where(Invite.code == code.strip()))
    if invite is None:
        raise InviteError("unknown")
    if not invite_is_live(invite):
        raise InviteError("expired")
    return invite


async def use_invite(session: AsyncSession, invite: Invite) -> None:
    """Count one use, only if the link is still live at this instant (concurrent sign-ups included)."""
    now = utcnow()
    result = await session.execute(
        update(Invite).where(Invite.id == invite.id,
                             or_(Invite.max_uses.is_(None), Invite.uses < Invite.max_uses),
                             or_(Invite.expires_at.is_(None), Invite.expires_at > now))
        .values(uses=Invite.uses + 1).execution_options(synchronize_session=False))
    if not result.rowcount:
        raise InviteError("expired")
    await session.refresh(invite)
