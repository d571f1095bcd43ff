"""Interest groups (FEP-1b12): a local `Group` actor that members join by following it.

A group (parents of a class, a neighbourhood committee, a club's members) is a shared account like
an association: nobody logs in as it, its moderators are the active members of its team
(`TeamMember`, see actors/teams.py). Both team roles moderate (accept members, remove posts and
members from any Mastodon app authorized for the group); `admin` also manages the team. The creator
is its first admin.

Members are the accounts whose Follow of the group is accepted (moderators count as members too).
`group_visibility` is "public" (its re-shares are public) or "members" (re-shares reach members only);
`manually_approves_followers` means moderators approve each member.

This module holds the rows and queries; federating what a group does is outbox/groups.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.accounts import RESERVED_USERNAMES, find_local_actor, local_actor_row
from actors.teams import add_member, user_named
from actors.territory import find_commune
from fediverse.models import Actor, Follow, TeamMember, User
from fediverse.uris import USERNAME_RE, Uris

GROUP_KIND = "group"
VISIBILITIES = ("public", "members")
MAX_DISPLAY_NAME = 100


class GroupError(ValueError):
    """Why a group cannot be created or changed; the message is shown as is (CLI, API)."""


@dataclass(frozen=True)
class GroupMember:
    """One row of a group's member listing: `role` is admin, editor (moderators), member or pending."""

    actor: Actor
    role: str


def is_group(actor: Actor | None) -> bool:
    return actor is not None and actor.domain is None and actor.kind == GROUP_KIND and actor.deleted_at is None


def members_only(group: Actor) -> bool:
    return group.group_visibility == "members"


def moderators_url(group: Actor) -> str:
    """The OrderedCollection of moderator URIs that the group's `attributedTo` points to (FEP-1b12)."""
    return f"{group.uri}/moderators"


async def create_group(session: AsyncSession, uris: Uris, name: str, *, owner: str, members_only: bool = False,
                       approval: bool = False, display_name: str = "", commune_insee: str | None = None) -> Actor:
    """Create the Group actor (with its key pair) and make `owner` (a local username) its first admin."""
    if not USERNAME_RE.match(name):
        raise GroupError("group name: letters, digits, _ . - only (1 to 64 characters)")
    if name.lower() in RESERVED_USERNAMES:
        raise GroupError(f"name {name!r} is reserved")
    if len(display_name) > MAX_DISPLAY_NAME:
        raise GroupError(f"display name: at most {MAX_DISPLAY_NAME} characters")
    if await find_local_actor(session, name):
        raise GroupError(f"name {name!r} is already taken")
    try:
        owner_user = await user_named(session, owner.lstrip("@"))
    except ValueError as exc:
        raise GroupError(f"owner: {exc}") from None
    if commune_insee is not None and await find_commune(session, commune_insee) is None:
        raise GroupError(f"commune {commune_insee!r} is not a commune of this territory")
    group = await asyncio.to_thread(local_actor_row, uris, name, kind=GROUP_KIND, display_name=display_name.strip())
    group.group_visibility = "members" if members_only else "public"
    group.manually_approves_followers = approval
    group.commune_insee = commune_insee
    # A members-only group is not listed in directories or searches.
    group.discoverable = not members_only
    session.add(group)
    await session.flush()
    await add_member(session, group, owner_user, "admin", active=True)
    return group


async def find_group(session: AsyncSession, name: str) -> Actor:
    actor = await find_local_actor(session, name.lstrip("@"))
    if not is_group(actor):
        raise GroupError(f"no local group {name!r}")
    assert actor is not None
    return actor


async def list_groups(session: AsyncSession) -> list[tuple[Actor, int]]:
    """Local groups by name, with their number of accepted members."""
    members = (select(func.count()).select_from(Follow)
               .where(Follow.followee_id == Actor.id, Follow.state == "accepted").scalar_subquery())
    rows = await session.execute(select(Actor, members).where(
        Actor.domain_key == "", Actor.kind == GROUP_KIND, Actor.deleted_at.is_(None)).order_by(Actor.username_lower))
    return [(actor, int(count or 0)) for actor, count in rows]


async def moderators(session: AsyncSession, group: Actor) -> list[tuple[Actor, str]]:
    """The moderators' own actors with their team role (admins first), by username."""
    rows = await session.execute(
        select(Actor, TeamMember.role).join(User, User.actor_id == Actor.id)
        .join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.actor_id == group.id, TeamMember.state == "active", Actor.deleted_at.is_(None))
        .order_by(TeamMember.role, Actor.username_lower))
    return [(actor, role) for actor, role in rows]


async def is_moderator(session: AsyncSession, group: Actor, actor_id: int) -> bool:
    return await session.scalar(
        select(TeamMember.id).join(User, User.id == TeamMember.user_id)
        .where(TeamMember.actor_id == group.id, TeamMember.state == "active", User.actor_id == actor_id)) is not None


async def is_member(session: AsyncSession, group: Actor, actor_id: int) -> bool:
    """An accepted follower, or a moderator (who runs the group without having to follow it)."""
    followed = await session.scalar(select(Follow.id).where(
        Follow.follower_id == actor_id, Follow.followee_id == group.id, Follow.state == "accepted"))
    return followed is not None or await is_moderator(session, group, actor_id)


async def list_members(session: AsyncSession, group: Actor) -> list[GroupMember]:
    """Moderators first, then accepted members, then pending requests (by handle within each)."""
    listed = [GroupMember(actor, role) for actor, role in await moderators(session, group)]
    seen = {m.actor.id for m in listed}
    rows = await session.execute(
        select(Actor, Follow.state).join(Follow, Follow.follower_id == Actor.id)
        .where(Follow.followee_id == group.id).order_by(Follow.state, Actor.domain_key, Actor.username_lower))
    followers = [GroupMember(actor, "member" if state == "accepted" else "pending")
                 for actor, state in rows if actor.id not in seen]
    return listed + sorted(followers, key=lambda m: m.role != "member")


async def find_member(session: AsyncSession, group: Actor, handle: str, local_domain: str) -> Actor:
    """The follower (or applicant) of `group` known as `handle` (user@domain, or a local username)."""
    username, _, domain = handle.lstrip("@").partition("@")
    domain = domain.lower()
    domain_key = "" if not domain or domain == local_domain else domain
    actor = await session.scalar(select(Actor).where(Actor.username_lower == username.lower(),
                                                     Actor.domain_key == domain_key))
    if actor is None or await session.scalar(select(Follow.id).where(
            Follow.follower_id == actor.id, Follow.followee_id == group.id)) is None:
        raise GroupError(f"{handle} is not a member of {group.username}")
    return actor
