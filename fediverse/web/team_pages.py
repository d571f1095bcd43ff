"""The team page of a shared account (an association, a shop, the town hall), and a person's own
invitations and teams.

`/settings/team` shows, when the person acts as a team account: its members with their roles, the
pending invitations and the action log (which member did what as the account: for the team's eyes
only). Its admins invite by username, change roles and remove members here; editors see the page
without those forms. Acting as themselves, a person sees the teams they belong to and the invitations
waiting for their answer. Every rule (who may manage, the last admin, tokens revoked on removal) is
the domain's (actors/teams.py): this module only reads forms and shows answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors import teams
from fediverse.models import Actor, User
from fediverse.runtime import Runtime
from fediverse.templating import translations
from fediverse.web.auth import SignedIn, csrf_refused, form_of, language_of, page, sign_in_redirect, signed_in

ACTION_LOG_SIZE = 50
# What a successful form did, shown once on the page it redirects to (`?done=`).
NOTICES = ("invited", "role", "removed", "accepted", "declined", "left")


def _team_messages(gettext: Callable[[str], str]) -> list[tuple[str, str]]:
    """The domain's refusals (English, for the CLI and the API) as the website says them."""
    return [
        ("at least one admin", gettext("The team must keep at least one admin: name another admin first.")),
        ("only an admin", gettext("Only an admin of the team can manage it.")),
        ("no local user", gettext("There is no account with this username on this site.")),
        ("already a member", gettext("This person is already a member of the team.")),
        ("member of its own team", gettext("An account cannot be a member of its own team.")),
        ("not a member", gettext("This person is not a member of the team.")),
        ("no invitation", gettext("There is no invitation to this team.")),
        ("role must be", gettext("Choose a role: admin or editor.")),
    ]


def _say(request: Request, viewer: SignedIn, error: teams.TeamError) -> str:
    gettext = translations(language_of(request, viewer)).gettext
    text = str(error)
    return next((said for marker, said in _team_messages(gettext) if marker in text), text)


def runtime_domain(request: Request) -> str:
    runtime: Runtime = request.app.state.runtime
    return runtime.settings.domain.lower()


def _int_field(fields: dict[str, str], name: str) -> int:
    value = fields.get(name, "")
    return int(value) if value.isdigit() and len(value) <= 19 else 0


async def _show(request: Request, viewer: SignedIn, *, status_code: int = 200, error: str | None = None,
                invite_username: str = "") -> Response:
    """The page for the identity the person acts as now."""
    runtime: Runtime = request.app.state.runtime
    context: dict[str, Any] = {"team": None, "members": [], "invited": [], "actions": [], "my_role": None,
                               "can_manage": False}
    async with runtime.sessions() as session:
        if viewer.acts_for_team:
            team = viewer.acting
            mine = await teams.membership(session, team.id, viewer.user.id)
            members = await teams.list_members(session, team)
            context.update(
                team=team, my_role=mine.role if mine is not None else None,
                can_manage=viewer.user.is_admin or (mine is not None and mine.role == "admin"),
                members=[m for m in members if m.membership.state == "active"],
                invited=[m for m in members if m.membership.state != "active"],
                actions=await teams.team_actions(session, team.id, limit=ACTION_LOG_SIZE))
        belongs = await teams.teams_of(session, viewer.user)
    done = request.query_params.get("done")
    return page(request, "team.html", viewer, status_code=status_code, error=error,
                notice=done if done in NOTICES else None, invite_username=invite_username,
                my_teams=[(row, actor) for row, actor in belongs if row.state == "active"],
                invitations=[(row, actor) for row, actor in belongs if row.state != "active"],
                roles=teams.ROLES, domain=runtime.settings.domain, **context)


async def team_page(request: Request) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    return await _show(request, viewer)


def _done(what: str) -> Response:
    return RedirectResponse(f"/settings/team?done={what}", status_code=303)


async def _posted(request: Request) -> tuple[SignedIn | None, dict[str, str], Response | None]:
    """The signed-in person and their form, or the answer to give instead (sign in first, or 403 for CSRF)."""
    viewer = await signed_in(request)
    if viewer is None:
        return None, {}, RedirectResponse("/auth/sign_in?next=%2Fsettings%2Fteam", status_code=303)
    fields = await form_of(request)
    if not viewer.session.check_csrf(fields.get("csrf_token")):
        return viewer, fields, csrf_refused(request, viewer)
    return viewer, fields, None


async def _manage(request: Request, change: Callable[[AsyncSession, Actor, SignedIn, dict[str, str]], Awaitable[None]],
                  done: str) -> Response:
    """Run an admin's change to the team they act as, logging it in the team's action log."""
    viewer, fields, refusal = await _posted(request)
    if refusal is not None or viewer is None:
        return refusal or sign_in_redirect(request)
    if not viewer.acts_for_team:
        return page(request, "auth/refused.html", viewer, status_code=403, reason="team",
                    message=translations(language_of(request, viewer)).gettext(
                        "Switch to the team's account first to manage its team."))
    runtime: Runtime = request.app.state.runtime
    try:
        async with runtime.transaction() as session:
            team = await session.get(Actor, viewer.acting.id)
            if team is None:  # deleted since this request began
                raise teams.TeamError("not a member of this team")
            await change(session, team, viewer, fields)
    except teams.TeamPermissionError as exc:
        return await _show(request, viewer, status_code=403, error=_say(request, viewer, exc))
    except teams.TeamError as exc:
        return await _show(request, viewer, status_code=422, error=_say(request, viewer, exc),
                           invite_username=fields.get("username", "") if done == "invited" else "")
    return _done(done)


async def _member(session: AsyncSession, fields: dict[str, str]) -> User:
    user = await session.get(User, _int_field(fields, "user_id"))
    if user is None:
        raise teams.TeamError("not a member of this team")
    return user


async def _log(session: AsyncSession, team: Actor, viewer: SignedIn, action: str, user: User) -> None:
    member = await session.get(Actor, user.actor_id)
    await teams.record_team_action(session, team.id, viewer.user.id, action, member.uri if member else None)


async def invite(request: Request) -> Response:
    async def change(session: AsyncSession, team: Actor, viewer: SignedIn, fields: dict[str, str]) -> None:
        username, _, domain = fields.get("username", "").strip().lstrip("@").partition("@")
        if not username or len(username) > 64 or (domain and domain.lower() != runtime_domain(request)):
            raise teams.TeamError("no local user")  # teams are made of this site's residents only
        user = await teams.user_named(session, username)
        await teams.add_member(session, team, user, fields.get("role", "editor"), by=viewer.user)
        await _log(session, team, viewer, "team.invite", user)

    return await _manage(request, change, "invited")


async def change_role(request: Request) -> Response:
    async def change(session: AsyncSession, team: Actor, viewer: SignedIn, fields: dict[str, str]) -> None:
        user = await _member(session, fields)
        await teams.change_role(session, team, user, fields.get("role", ""), by=viewer.user)
        await _log(session, team, viewer, "team.role", user)

    return await _manage(request, change, "role")


async def remove(request: Request) -> Response:
    """Remove a member (or withdraw an invitation): their tokens for the account are revoked at once, and
    the website stops letting them act as it at their next click."""
    async def change(session: AsyncSession, team: Actor, viewer: SignedIn, fields: dict[str, str]) -> None:
        user = await _member(session, fields)
        await teams.remove_member(session, team, user, by=viewer.user)
        await _log(session, team, viewer, "team.remove", user)

    return await _manage(request, change, "removed")


async def _own_membership(request: Request, answer: str) -> Response:
    """Accept or decline an invitation, or leave a team: the person's own membership of `account_id`."""
    viewer, fields, refusal = await _posted(request)
    if refusal is not None or viewer is None:
        return refusal or sign_in_redirect(request)
    runtime: Runtime = request.app.state.runtime
    try:
        async with runtime.transaction() as session:
            team = await session.get(Actor, _int_field(fields, "account_id"))
            row = await teams.membership(session, team.id, viewer.user.id) if team is not None else None
            if team is None or row is None or team.domain is not None or team.deleted_at is not None:
                raise teams.TeamError("no invitation to this team")
            if answer == "accepted":
                if row.state == "active":
                    raise teams.TeamError("already a member of this team")
                await teams.accept_invitation(session, team, viewer.user)
            else:
                if (answer == "declined") != (row.state != "active"):
                    raise teams.TeamError("no invitation to this team" if answer == "declined"
                                          else "not a member of this team")
                await teams.leave_team(session, team, viewer.user)
    except teams.TeamError as exc:
        return await _show(request, viewer, status_code=422, error=_say(request, viewer, exc))
    return _done(answer)


async def accept(request: Request) -> Response:
    return await _own_membership(request, "accepted")


async def decline(request: Request) -> Response:
    return await _own_membership(request, "declined")


async def leave(request: Request) -> Response:
    return await _own_membership(request, "left")


routes: list[BaseRoute] = [
    Route("/settings/team", team_page, methods=["GET"]),
    Route("/settings/team/invite", invite, methods=["POST"]),
    Route("/settings/team/role", change_role, methods=["POST"]),
    Route("/settings/team/remove", remove, methods=["POST"]),
    Route("/settings/team/leave", leave, methods=["POST"]),
    Route("/settings/invitations/accept", accept, methods=["POST"]),
    Route("/settings/invitations/decline", decline, methods=["POST"]),
]
