"""The team page of an association on the website, in a real headless Chromium against a live instance:
an admin invites by username, the invited resident accepts (or declines) from their own page, the admin
changes roles and removes members (their app tokens are revoked and the website stops letting them act
as the association), the last admin cannot step down, editors see the team but not the admin forms, and
the action log names the member behind each action."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from actors import teams
from fediverse.models import Actor, OAuthToken, TeamMember, User
from tests.conftest import issue_token
from tests.federation_steps import make_account
from tests.live import LiveInstance
from tests.web.conftest import PHONE, csrf_token, new_page, sign_in


async def _user(instance: LiveInstance, actor: Actor) -> User:
    async with instance.runtime.sessions() as session:
        return await session.scalar(select(User).where(User.actor_id == actor.id))


async def _membership(instance: LiveInstance, team: Actor, actor: Actor) -> TeamMember | None:
    async with instance.runtime.sessions() as session:
        return await teams.membership(session, team.id, (await _user(instance, actor)).id)


async def _act_as(page: Any, account: Actor) -> None:
    await page.select_option("#identity-switch", str(account.id))
    async with page.expect_navigation():
        await page.click("header >> text=Changer d’identité")


async def _submit(page: Any, selector: str) -> Any:
    async with page.expect_navigation() as navigation:
        await page.click(selector)
    return await navigation.value


async def _club(make_instance: Any) -> tuple[LiveInstance, Actor, Actor, Actor]:
    """alice is the only admin of club_de_foot; bob has no team yet."""
    instance = await make_instance("commune-a.test")
    alice = await make_account(instance, "alice", display_name="Alice Martin")
    bob = await make_account(instance, "bob", display_name="Bob Leroy")
    club = await make_account(instance, "club_de_foot", kind="association", display_name="Club de foot")
    async with instance.runtime.transaction() as session:
        await teams.add_member(session, club, await _user(instance, alice), "admin", active=True)
    return instance, alice, bob, club


async def test_an_admin_invites_the_member_accepts_gets_a_new_role_and_is_removed(
        make_instance, browser, tmp_path: Path) -> None:
    instance, alice, bob, club = await _club(make_instance)
    admin = await new_page(browser)
    await sign_in(admin, instance, "alice")
    await _act_as(admin, club)
    await admin.click("header >> text=Équipe")
    await admin.wait_for_url("**/settings/team")
    assert await admin.locator("h1").inner_text() == "Équipe de Club de foot"

    await admin.fill("#invite-username", "@bob")
    await admin.select_option("#invite-role", "editor")
    await _submit(admin, "form[action='/settings/team/invite'] button[type=submit]")
    assert "L’invitation a été envoyée" in await admin.inner_text("[role=status]")
    assert "Bob Leroy" in await admin.inner_text("section[aria-labelledby=pending-title]")
    assert (await _membership(instance, club, bob)).state == "invited"
    for unknown_name in ("nobody", "bob@other.example"):  # teams are made of this site's residents
        unknown = await admin.request.post(f"{instance.base_url}/settings/team/invite", form={
            "csrf_token": await csrf_token(admin), "username": unknown_name, "role": "editor"}, max_redirects=0)
        assert unknown.status == 422 and "Aucun compte ne porte ce nom" in await unknown.text()

    member = await new_page(browser)
    await sign_in(member, instance, "bob")
    assert await member.locator("#identity-switch").count() == 0  # invited only: nothing to switch to yet
    await member.goto(f"{instance.base_url}/settings/team")
    invitations = await member.inner_text("section[aria-labelledby=invitations-title]")
    assert "Club de foot vous invite dans son équipe en tant que Rédacteur" in invitations
    await _submit(member, "form[action='/settings/invitations/accept'] button")
    assert "Vous avez rejoint l’équipe" in await member.inner_text("[role=status]")
    assert (await _membership(instance, club, bob)).state == "active"
    assert "Club de foot (@club_de_foot)" in await member.locator("#identity-switch").inner_text()
    bob_token = await issue_token_for(instance, bob, club)

    await admin.reload()
    bob_row = admin.locator("tr", has_text="Bob Leroy")
    await bob_row.locator("select[name=role]").select_option("admin")
    await _submit(admin, "tr:has-text('Bob Leroy') form[action='/settings/team/role'] button")
    assert (await _membership(instance, club, bob)).role == "admin"
    assert "Administrateur" in await admin.locator("tr", has_text="Bob Leroy").inner_text()
    await admin.set_viewport_size(PHONE)
    await admin.screenshot(path=str(tmp_path / "team-page-phone.png"), full_page=True)

    await _act_as(member, club)  # bob acts as the association, then is removed
    await _submit(admin, "tr:has-text('Bob Leroy') form[action='/settings/team/remove'] button")
    assert "retiré de l’équipe" in await admin.inner_text("[role=status]")
    assert await _membership(instance, club, bob) is None
    async with instance.runtime.sessions() as session:
        token = await session.scalar(select(OAuthToken).where(OAuthToken.id == bob_token))
    assert token.revoked_at is not None
    await member.reload()
    assert "Bob Leroy" in await member.inner_text("header .acting")
    assert "Vous n’êtes membre d’aucune équipe" in await member.inner_text("main")

    log = await admin.inner_text("section.log")
    for done in ("a invité un membre", "a changé le rôle d’un membre", "a retiré un membre"):
        assert done in log
    assert "Alice Martin" in log


async def issue_token_for(instance: LiveInstance, person: Actor, account: Actor) -> int:
    """A Mastodon app token of `person` acting as `account` (as the OAuth consent page issues it); its id."""
    await issue_token(instance, person.id)
    user = await _user(instance, person)
    async with instance.runtime.transaction() as session:
        row = await session.scalar(select(OAuthToken).where(OAuthToken.user_id == user.id))
        row.actor_id = account.id
        return row.id


async def test_the_last_admin_cannot_step_down_nor_be_removed(make_instance, browser) -> None:
    instance, alice, _bob, club = await _club(make_instance)
    page = await new_page(browser)
    await sign_in(page, instance, "alice")
    await _act_as(page, club)
    await page.goto(f"{instance.base_url}/settings/team")
    await page.locator("tr", has_text="Alice Martin").locator("select[name=role]").select_option("editor")
    response = await _submit(page, "tr:has-text('Alice Martin') form[action='/settings/team/role'] button")
    assert response.status == 422
    assert "doit garder au moins un administrateur" in await page.inner_text("[role=alert]")
    response = await _submit(page, "tr:has-text('Alice Martin') form[action='/settings/team/remove'] button")
    assert response.status == 422
    response = await _submit(page, "form[action='/settings/team/leave'] button")
    assert response.status == 422 and "au moins un administrateur" in await page.inner_text("[role=alert]")
    membership = await _membership(instance, club, alice)
    assert membership.role == "admin" and membership.state == "active"


async def test_editors_see_the_team_without_the_admin_forms_and_outsiders_cannot_manage_it(
        make_instance, browser) -> None:
    instance, _alice, bob, club = await _club(make_instance)
    carol = await make_account(instance, "carol", display_name="Carol")
    async with instance.runtime.transaction() as session:
        await teams.add_member(session, club, await _user(instance, bob), "editor", active=True)
        await teams.add_member(session, club, await _user(instance, carol), "editor")
    page = await new_page(browser)
    await sign_in(page, instance, "bob")
    await _act_as(page, club)
    await page.goto(f"{instance.base_url}/settings/team")
    assert "Votre rôle : Rédacteur" in await page.inner_text("main")
    members = await page.inner_text("section[aria-labelledby=members-title]")
    assert "Alice Martin" in members and "Bob Leroy" in members
    assert "Carol" in await page.inner_text("section[aria-labelledby=pending-title]")
    for action in ("invite", "role", "remove"):
        assert await page.locator(f"form[action='/settings/team/{action}']").count() == 0
    forged = await page.request.post(f"{instance.base_url}/settings/team/invite", form={
        "csrf_token": await csrf_token(page), "username": "carol", "role": "admin"}, max_redirects=0)
    assert forged.status == 403 and "Seul un administrateur de l’équipe" in await forged.text()
    assert (await _membership(instance, club, carol)).role == "editor"

    # Carol, only invited, declines; acting as herself she cannot manage the club's team either.
    outsider = await new_page(browser)
    await sign_in(outsider, instance, "carol")
    refused = await outsider.request.post(f"{instance.base_url}/settings/team/remove", form={
        "csrf_token": await csrf_token(outsider), "user_id": str((await _user(instance, bob)).id)},
        max_redirects=0)
    assert refused.status == 403 and "Passez d’abord au compte de l’équipe" in await refused.text()
    await outsider.goto(f"{instance.base_url}/settings/team")
    await _submit(outsider, "form[action='/settings/invitations/decline'] button")
    assert "Vous avez décliné l’invitation" in await outsider.inner_text("[role=status]")
    assert await _membership(instance, club, carol) is None

    # Bob leaves: he is back to his own account at once.
    await _submit(page, "form[action='/settings/team/leave'] button")
    assert "Vous avez quitté l’équipe" in await page.inner_text("[role=status]")
    assert "Bob Leroy" in await page.inner_text("header .acting")
    assert await _membership(instance, club, bob) is None
