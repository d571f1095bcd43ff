"""Teams that run a shared account (an association, a shop, the town hall).

Several residents act as one account without sharing its password: each is a `TeamMember` with a
role, `admin` (manages the team and the profile) or `editor` (posts, answers). Members are invited by
username and act as the account only once they have accepted (state "active"); they then authorize
their own Mastodon app for that identity on the OAuth consent page.

Rules kept here, whoever calls (CLI, API, web):
- only an active admin of the team, or an instance admin, invites, removes members and changes roles;
- the team always keeps at least one active admin;
- a member who leaves or is removed loses every token that acts as the account, at once.

Every action a member takes as the account is recorded in `TeamAction`, so the team can see who did
what; the log is never federated nor shown to the public.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from actors.accounts import find_local_actor
from fediverse.db import utcnow
from fediverse.models import Actor, OAuthToken, TeamAction, TeamMember, User
from fediverse.runtime import Runtime

ROLES = ("admin", "editor")
# Kinds of accounts a team may run; a resident's account is personal.
TEAM_KINDS = ("association", "shop", "official", "collectivity", "group")


class TeamError(ValueError):
    """Why a team change cannot be made; the message is shown as is (CLI, API)."""


class TeamPermissionError(TeamError):
    """The acting user may not manage this team."""


@dataclass(frozen=True)
class Member:
    """One row of a team listing."""

    membership: TeamMember
    user: User
    actor: Actor


class ActingIdentity(Protocol):
    """What the API's Identity offers: the login behind a token and the account it acts as."""

    @property
    def user(self) -> User | None: ...

    @property
    def actor(self) -> Actor | None: ...


# -- lookups --------------------------------------------------------------------------------------

async def team_account(session: AsyncSession, username: str) -> Actor:
    """The local shared account named `username` (an association, shop, official or collectivity)."""
    actor = await find_local_actor(session, username)
    if actor is None or actor.deleted_at is not None or actor.kind == "instance":
        raise TeamError(f"no local account {username!r}")
    if actor.kind not in TEAM_KINDS:
        raise TeamError(f"{actor.username} is a {actor.kind} account: only {', '.join(TEAM_KINDS)} accounts "
                        "have a team")
    return actor


async def user_named(session: AsyncSession, username: str) -> User:
    """The login of the local account `username`."""
    actor = await find_local_actor(session, username)
    user = await session.scalar(select(User).where(User.actor_id == actor.id)) if actor is not None else None
    if actor is None or user is None or actor.deleted_at is not None:
        raise TeamError(f"no local user {username!r}")
    return user


async def membership(session: AsyncSession, actor_id: int, user_id: int) -> TeamMember | None:
    return await session.scalar(
        select(TeamMember).where(TeamMember.actor_id == actor_id, TeamMember.user_id == user_id))


async def list_members(session: AsyncSession, team: Actor) -> list[Member]:
    """Active members first (admins before editors), then pending invitations, by username."""
    rows = await session.execute(
        select(TeamMember, User, Actor).join(User, User.id == TeamMember.user_id)
        .join(Actor, Actor.id == User.actor_id).where(TeamMember.actor_id == team.id)
        .order_by(TeamMember.state, TeamMember.role, Actor.username_lower))
    return [Member(m, u, a) for m, u, a in rows]


async def teams_of(session: AsyncSession, user: User) -> list[tuple[TeamMember, Actor]]:
    """The shared accounts this user belongs to (active or invited), by username."""
    rows = await session.execute(
        select(TeamMember, Actor).join(Actor, Actor.id == TeamMember.actor_id)
        .where(TeamMember.user_id == user.id, Actor.deleted_at.is_(None)).order_by(Actor.username_lower))
    return [(m, a) for m, a in rows]


async def is_active_member(session: AsyncSession, actor_id: int, user_id: int) -> bool:
    row = await membership(session, actor_id, user_id)
    return row is not None and row.state == "active"


# -- rules ----------------------------------------------------------------------------------------

async def _require_manager(session: AsyncSession, team: Actor, by: User | None) -> None:
    """`by` None is the instance's operator (the CLI); otherwise an instance admin or an active team admin."""
    if by is None or by.is_admin:
        return
    row = await membership(session, team.id, by.id)
    if row is None or row.state != "active" or row.role != "admin":
        raise TeamPermissionError(f"only an admin of {team.username}'s team can manage it")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise TeamError(f"role must be one of {', '.join(ROLES)}")


async def _active_admins(session: AsyncSession, actor_id: int) -> int:
    return int(await session.scalar(select(func.count()).select_from(TeamMember).where(
        TeamMember.actor_id == actor_id, TeamMember.state == "active", TeamMember.role == "admin")) or 0)


async def _refuse_losing_last_admin(session: AsyncSession, team: Actor, row: TeamMember) -> None:
    if row.state == "active" and row.role == "admin" and await _active_admins(session, team.id) <= 1:
        raise TeamError(f"{team.username}'s team must keep at least one admin: name another admin first")


async def revoke_tokens(session: AsyncSession, actor_id: int, user_id: int) -> int:
    """Revoke every live token of `user_id` that acts as `actor_id`; the number revoked."""
    result = await session.execute(
        update(OAuthToken).where(OAuthToken.user_id == user_id, OAuthToken.actor_id == actor_id,
                                 OAuthToken.revoked_at.is_(None)).values(revoked_at=utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# -- commands (the caller commits) ----------------------------------------------------------------

async def add_member(session: AsyncSession, team: Actor, user: User, role: str = "editor", *,
                     by: User | None = None, active: bool = False) -> TeamMember:
    """Invite `user` (state "invited"), or with `active` (the instance-admin path) make them a member now.

    Inviting someone already invited changes nothing but the role; an active member is refused."""
    _check_role(role)
    await _require_manager(session, team, by)
    if user.actor_id == team.id:
        raise TeamError(f"{team.username} cannot be a member of its own team")
    row = await membership(session, team.id, user.id)
    if row is not None and row.state == "active":
        raise TeamError(f"already a member of {team.username}'s team ({row.role})")
    if row is None:
        row = TeamMember(actor_id=team.id, user_id=user.id, role=role, state="invited",
                         invited_by_user_id=by.id if by is not None else None)
        session.add(row)
    row.role = role
    if active:
        row.state = "active"
    await session.flush()
    return row


async def accept_invitation(session: AsyncSession, team: Actor, user: User) -> TeamMember:
    row = await membership(session, team.id, user.id)
    if row is None:
        raise TeamError(f"no invitation to {team.username}'s team")
    row.state = "active"
    await session.flush()
    return row


async def leave_team(session: AsyncSession, team: Actor, user: User) -> None:
    """Leave (or decline an invitation); the last admin cannot leave."""
    row = await membership(session, team.id, user.id)
    if row is None:
        raise TeamError(f"not a member of {team.username}'s team")
    await _refuse_losing_last_admin(session, team, row)
    await revoke_tokens(session, team.id, user.id)
    await session.delete(row)
    await session.flush()


async def remove_member(session: AsyncSession, team: Actor, user: User, *, by: User | None = None) -> int:
    """Remove a member (or withdraw an invitation) and revoke their tokens for the account; how many."""
    await _require_manager(session, team, by)
    row = await membership(session, team.id, user.id)
    if row is None:
        raise TeamError(f"not a member of {team.username}'s team")
    await _refuse_losing_last_admin(session, team, row)
    revoked = await revoke_tokens(session, team.id, user.id)
    await session.delete(row)
    await session.flush()
    return revoked


async def change_role(session: AsyncSession, team: Actor, user: User, role: str, *,
                      by: User | None = None) -> TeamMember:
    _check_role(role)
    await _require_manager(session, team, by)
    row = await membership(session, team.id, user.id)
    if row is None:
        raise TeamError(f"not a member of {team.username}'s team")
    if role != "admin":
        await _refuse_losing_last_admin(session, team, row)
    row.role = role
    await session.flush()
    return row


# -- the action log -------------------------------------------------------------------------------

async def record_team_action(session: AsyncSession, actor_id: int, user_id: int | None, action: str,
                             object_uri: str | None = None) -> TeamAction:
    row = TeamAction(actor_id=actor_id, user_id=user_id, action=action[:64], object_uri=object_uri)
    session.add(row)
    await session.flush()
    return row


def acts_for_team(identity: ActingIdentity | None) -> bool:
    """Whether a token acts as a shared account rather than as its user's own actor."""
    return (identity is not None and identity.user is not None and identity.actor is not None
            and identity.actor.id != identity.user.actor_id)


async def record_if_team_action(runtime: Runtime, identity: ActingIdentity | None, action: str,
                                object_uri: str | None) -> None:
    """Called by the client API after an action: logs it when the token acts as a shared account."""
    if not acts_for_team(identity):
        return
    assert identity is not None and identity.actor is not None and identity.user is not None
    async with runtime.transaction() as session:
        await record_team_action(session, identity.actor.id, identity.user.id, action, object_uri)


async def team_actions(session: AsyncSession, actor_id: int, *, max_id: int | None = None,
                       limit: int = 40) -> Sequence[tuple[TeamAction, Actor | None]]:
    """Newest first, with the member's own actor (None when the member's login is gone)."""
    query = (select(TeamAction, Actor).outerjoin(User, User.id == TeamAction.user_id)
             .outerjoin(Actor, Actor.id == User.actor_id).where(TeamAction.actor_id == actor_id))
    if max_id is not None:
        query = query.where(TeamAction.id < max_id)
    rows = await session.execute(query.order_by(TeamAction.id.desc()).limit(limit))
    return [(a, m) for a, m in rows]
