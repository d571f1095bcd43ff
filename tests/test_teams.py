"""Kinds of accounts with verification, and the teams that run an association: the domain rules, then
the `fediverse accounts verify` / `fediverse teams` commands as an administrator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from actors.accounts import create_account
from actors.teams import (
    TeamError,
    TeamPermissionError,
    accept_invitation,
    add_member,
    change_role,
    leave_team,
    list_members,
    record_if_team_action,
    remove_member,
    team_account,
    user_named,
)
from actors.verification import VerificationError, verify_account
from fediverse.api.auth import Identity
from fediverse.models import Actor, OAuthToken, TeamAction, User
from fediverse.runtime import Runtime


async def _account(runtime: Runtime, username: str, kind: str = "resident", admin: bool = False) -> tuple[Actor, User]:
    async with runtime.sessions() as session, session.begin():
        return await create_account(session, runtime.uris, username, email=f"{username}@example.test",
                                    password="correct horse battery", kind=kind, is_admin=admin)


async def _token(runtime: Runtime, user: User, actor: Actor) -> int:
    async with runtime.sessions() as session, session.begin():
        row = OAuthToken(token_hash=f"hash-{user.id}-{actor.id}", user_id=user.id, actor_id=actor.id, scopes="read")
        session.add(row)
        await session.flush()
        return row.id


# -- verification ---------------------------------------------------------------------------------

async def test_verification_marks_and_clears_an_association_but_refuses_a_resident(runtime: Runtime) -> None:
    await _account(runtime, "club", "association")
    await _account(runtime, "alice")
    async with runtime.sessions() as session, session.begin():
        club = await verify_account(session, "club")
        first_date = club.verified_at
        assert first_date is not None
        again = await verify_account(session, "CLUB")
        assert again.verified_at == first_date  # verifying twice keeps the first date
        with pytest.raises(VerificationError, match="resident"):
            await verify_account(session, "alice")
        with pytest.raises(VerificationError, match="no local account"):
            await verify_account(session, "nobody")
        assert (await verify_account(session, "club", verified=False)).verified_at is None


# -- teams ----------------------------------------------------------------------------------------

async def test_invited_member_acts_only_after_accepting_and_the_last_admin_stays(runtime: Runtime) -> None:
    club, _ = await _account(runtime, "club", "association")
    _, alice = await _account(runtime, "alice")
    _, bob = await _account(runtime, "bob")
    _, carol = await _account(runtime, "carol")
    async with runtime.sessions() as session, session.begin():
        team = await team_account(session, "club")
        await add_member(session, team, alice, "admin", active=True)
        # An editor invited by the admin waits for acceptance.
        invited = await add_member(session, team, bob, "editor", by=alice)
        assert (invited.state, invited.invited_by_user_id) == ("invited", alice.id)
        with pytest.raises(TeamPermissionError):
            await add_member(session, team, carol, "editor", by=bob)  # not an admin (not even active)
        await accept_invitation(session, team, bob)
        with pytest.raises(TeamPermissionError):
            await add_member(session, team, carol, "editor", by=bob)  # an active editor is not an admin either
        with pytest.raises(TeamError, match="already a member"):
            await add_member(session, team, bob, "editor", by=alice)
        with pytest.raises(TeamError, match="at least one admin"):
            await change_role(session, team, alice, "editor", by=alice)
        with pytest.raises(TeamError, match="at least one admin"):
            await leave_team(session, team, alice)
        with pytest.raises(TeamError, match="at least one admin"):
            await remove_member(session, team, alice)
        with pytest.raises(TeamError, match="role must be"):
            await change_role(session, team, bob, "owner", by=alice)
        await change_role(session, team, bob, "admin", by=alice)
        await leave_team(session, team, alice)  # bob is admin now, so alice may go
        members = [(m.actor.username, m.membership.role, m.membership.state) for m in await list_members(session, team)]
        assert members == [("bob", "admin", "active")]
        assert club.id == team.id


async def test_residents_have_no_team_and_an_account_is_not_its_own_member(runtime: Runtime) -> None:
    club, club_user = await _account(runtime, "club", "association")
    await _account(runtime, "alice")
    async with runtime.sessions() as session, session.begin():
        with pytest.raises(TeamError, match="resident"):
            await team_account(session, "alice")
        with pytest.raises(TeamError, match="no local user"):
            await user_named(session, "ghost")
        with pytest.raises(TeamError, match="own team"):
            await add_member(session, await team_account(session, "club"), club_user, "admin", active=True)


async def test_removing_or_leaving_revokes_only_that_members_tokens_for_the_account(runtime: Runtime) -> None:
    club, _ = await _account(runtime, "club", "association")
    alice_actor, alice = await _account(runtime, "alice")
    _, bob = await _account(runtime, "bob")
    async with runtime.sessions() as session, session.begin():
        team = await team_account(session, "club")
        await add_member(session, team, alice, "admin", active=True)
        await add_member(session, team, bob, "editor", active=True)
    bob_as_club = await _token(runtime, bob, club)
    alice_as_club = await _token(runtime, alice, club)
    alice_own = await _token(runtime, alice, alice_actor)
    async with runtime.sessions() as session, session.begin():
        team = await team_account(session, "club")
        assert await remove_member(session, team, bob, by=alice) == 1
        await change_role(session, team, alice, "admin")
    async with runtime.sessions() as session:
        revoked = {row.id: row.revoked_at is not None for row in await session.scalars(select(OAuthToken))}
    assert revoked == {bob_as_club: True, alice_as_club: False, alice_own: False}


async def test_actions_through_a_shared_account_are_logged_with_the_member(runtime: Runtime) -> None:
    club, _ = await _account(runtime, "club", "association")
    alice_actor, alice = await _account(runtime, "alice")
    await record_if_team_action(runtime, Identity(1, frozenset(), None, alice, club), "status.create", "https://x/1")
    await record_if_team_action(runtime, Identity(2, frozenset(), None, alice, alice_actor), "status.create", "https://x/2")
    async with runtime.sessions() as session:
        rows = [(r.actor_id, r.user_id, r.action, r.object_uri) for r in await session.scalars(select(TeamAction))]
    assert rows == [(club.id, alice.id, "status.create", "https://x/1")]


# -- the commands ---------------------------------------------------------------------------------

def _run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDIVERSE_")}
    env.update({"FEDIVERSE_DATA_DIR": str(data_dir), "FEDIVERSE_DOMAIN": "localhost:8000"})
    return subprocess.run([sys.executable, "-m", "fediverse", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def _ok(data_dir: Path, *args: str) -> str:
    done = _run(data_dir, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cli_verifies_accounts_and_manages_a_team(tmp_path: Path) -> None:
    for username, kind in (("club", "association"), ("alice", "resident"), ("bob", "resident")):
        _ok(tmp_path, "accounts", "create", username, "--email", f"{username}@example.test", "--kind", kind,
            "--password", "correct horse battery")

    assert "Verified club@localhost:8000 (association)" in _ok(tmp_path, "accounts", "verify", "club")
    resident = _run(tmp_path, "accounts", "verify", "alice")
    assert resident.returncode == 2 and "resident" in resident.stderr
    unknown = _run(tmp_path, "accounts", "verify", "ghost")
    assert unknown.returncode == 2 and "no local account 'ghost'" in unknown.stderr
    assert "Unverified club" in _ok(tmp_path, "accounts", "verify", "club", "--undo")

    _ok(tmp_path, "teams", "add", "club", "alice", "--role", "admin")
    _ok(tmp_path, "teams", "add", "club", "bob")
    listed = json.loads(_ok(tmp_path, "teams", "list", "club", "--json"))
    assert listed == [{"username": "alice", "role": "admin", "state": "active"},
                      {"username": "bob", "role": "editor", "state": "active"}]
    last_admin = _run(tmp_path, "teams", "remove", "club", "alice")
    assert last_admin.returncode == 2 and "at least one admin" in last_admin.stderr
    not_a_team = _run(tmp_path, "teams", "add", "alice", "bob")
    assert not_a_team.returncode == 2 and "resident" in not_a_team.stderr
    assert "Removed bob from club's team" in _ok(tmp_path, "teams", "remove", "club", "bob")
    text = _ok(tmp_path, "teams", "list", "club")
    assert "alice" in text and "bob" not in text


async def test_the_consent_page_offers_a_team_account_only_once_the_invitation_is_accepted(runtime: Runtime) -> None:
    from actors.logins import identities_of

    club, _ = await _account(runtime, "club", "association")
    alice_actor, alice = await _account(runtime, "alice")
    async with runtime.sessions() as session, session.begin():
        team = await team_account(session, "club")
        await add_member(session, team, alice, "editor")
        assert [a.id for a in await identities_of(session, alice)] == [alice_actor.id]
        await accept_invitation(session, team, alice)
        assert [a.id for a in await identities_of(session, alice)] == [alice_actor.id, club.id]
