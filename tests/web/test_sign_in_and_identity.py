"""Signing in and out of the website, the identity switcher and posting as the chosen identity, in a real
headless Chromium against a live instance serving Couesnon Marches de Bretagne.

alice is an active editor of the association "club_de_foot" and only invited to the shop "boulangerie";
she signs in through the form, switches to the association, posts from the compose form, and the post is
the association's (database, its page, the team's action log naming her). Removed from the team, she is
back to her own account at her next click and cannot post as the association any more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from actors import teams
from fediverse.models import Actor, Status, TeamAction, User
from tests.federation_steps import make_account
from tests.live import LiveInstance
from tests.test_locations import with_territory
from tests.web.conftest import PHONE, csrf_token, new_page, sign_in

MAEN_ROCH, LE_CHATELLIER = "35257", "35071"


async def _user(instance: LiveInstance, actor: Actor) -> User:
    async with instance.runtime.sessions() as session:
        return await session.scalar(select(User).where(User.actor_id == actor.id))


async def _statuses_of(instance: LiveInstance, actor: Actor) -> list[Status]:
    async with instance.runtime.sessions() as session:
        return list((await session.scalars(select(Status).where(Status.actor_id == actor.id))).all())


async def _team_setup(make_instance: Any) -> tuple[LiveInstance, Actor, Actor, Actor]:
    """alice (Maen Roch) is an active editor of club_de_foot (Le Châtellier), invited to boulangerie."""
    instance = await with_territory(await make_instance("commune-a.test"))
    alice = await make_account(instance, "alice", display_name="Alice Martin", commune_insee=MAEN_ROCH)
    club = await make_account(instance, "club_de_foot", kind="association", display_name="Club de foot",
                              commune_insee=LE_CHATELLIER)
    shop = await make_account(instance, "boulangerie", kind="shop", display_name="Boulangerie Durand")
    alice_user = await _user(instance, alice)
    async with instance.runtime.transaction() as session:
        await teams.add_member(session, club, alice_user, "editor", active=True)
        await teams.add_member(session, shop, alice_user, "editor")  # invited, not accepted
    return instance, alice, club, shop


async def test_sign_in_refuses_a_wrong_password_then_signs_in_and_out(make_instance, browser, tmp_path: Path) -> None:
    instance = await with_territory(await make_instance("commune-a.test"))
    await make_account(instance, "alice", display_name="Alice Martin", commune_insee=MAEN_ROCH)
    page = await new_page(browser)
    await page.goto(f"{instance.base_url}/")
    assert await page.locator("html").get_attribute("lang") == "fr"
    await page.click("header >> text=Se connecter")
    await page.wait_for_url("**/auth/sign_in")

    await page.fill("#login", "alice")
    await page.fill("#password", "not the password")
    async with page.expect_navigation() as wrong:
        await page.click("form[action='/auth/sign_in'] button[type=submit]")
    assert (await wrong.value).status == 422
    assert "Adresse e-mail, identifiant ou mot de passe incorrect" in await page.inner_text("[role=alert]")
    assert await page.input_value("#login") == "alice"  # kept, the password is not
    await page.screenshot(path=str(tmp_path / "sign-in-refused.png"), full_page=True)

    await page.fill("#password", "correct horse battery")
    async with page.expect_navigation() as right:
        await page.click("form[action='/auth/sign_in'] button[type=submit]")
    assert (await right.value).status == 200 and page.url == f"{instance.base_url}/"
    header = await page.inner_text("header")
    assert "Alice Martin" in header and "Se déconnecter" in header and "Se connecter" not in header
    # A resident without a team has nothing to switch to.
    assert await page.locator("#identity-switch").count() == 0
    # The home page offers the compose form, in her commune by default.
    assert await page.locator("#compose-commune").input_value() == MAEN_ROCH
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=str(tmp_path / "home-signed-in-phone.png"), full_page=True)

    await page.click("header >> text=Se déconnecter")
    await page.wait_for_url(f"{instance.base_url}/")
    assert "Se connecter" in await page.inner_text("header")
    assert await page.locator("#compose-text").count() == 0
    await page.goto(f"{instance.base_url}/statuses/new")
    assert "/auth/sign_in?next=%2Fstatuses%2Fnew" in page.url


async def test_sign_in_goes_back_to_the_page_asked_for_and_never_to_another_site(make_instance, browser) -> None:
    instance = await with_territory(await make_instance("commune-a.test"))
    await make_account(instance, "alice", display_name="Alice Martin")
    page = await new_page(browser)
    await page.goto(f"{instance.base_url}/statuses/new")
    await page.wait_for_url("**/auth/sign_in?next=*")
    await page.fill("#login", "alice@commune-a.test")
    await page.fill("#password", "correct horse battery")
    async with page.expect_navigation():
        await page.click("form[action='/auth/sign_in'] button[type=submit]")
    assert page.url == f"{instance.base_url}/statuses/new"
    assert await page.locator("#compose-text").count() == 1

    other = await new_page(browser)
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        await sign_in(other, instance, "alice", next_path=evil.replace("/", "%2F").replace("\\", "%5C"))
        assert other.url == f"{instance.base_url}/", evil
        await other.context.clear_cookies()


async def test_the_switcher_lists_the_own_account_and_active_teams_only(make_instance, browser) -> None:
    instance, alice, club, shop = await _team_setup(make_instance)
    page = await new_page(browser)
    await sign_in(page, instance, "alice")
    options = page.locator("#identity-switch option")
    assert await options.all_inner_texts() == ["Alice Martin (@alice)", "Club de foot (@club_de_foot)"]
    assert await page.locator("#identity-switch").input_value() == str(alice.id)
    # The pending invitation gives no identity, even when asked for directly.
    response = await page.request.post(f"{instance.base_url}/settings/identity", form={
        "csrf_token": await csrf_token(page), "actor_id": str(shop.id)}, max_redirects=0)
    assert response.status == 403 and "pas membre actif" in await response.text()
    await page.reload()
    assert await page.locator("#identity-switch").input_value() == str(alice.id)
    assert "Alice Martin" in await page.inner_text("header .acting")


async def test_acting_as_the_association_posts_as_it_and_the_team_log_names_the_member(
        make_instance, browser, tmp_path: Path) -> None:
    instance, alice, club, _ = await _team_setup(make_instance)
    page = await new_page(browser)
    await sign_in(page, instance, "alice")
    await page.select_option("#identity-switch", str(club.id))
    async with page.expect_navigation():
        await page.click("header >> text=Changer d’identité")
    assert page.url == f"{instance.base_url}/"
    assert "Club de foot" in await page.inner_text("header .acting")
    assert await page.locator("#identity-switch").input_value() == str(club.id)
    # The association's commune is the default, any commune of the territory can be chosen.
    assert await page.locator("#compose-commune").input_value() == LE_CHATELLIER
    assert await page.locator("#compose-commune option").count() == 15

    await page.fill("#compose-text", "Match dimanche à 15 h au stade, venez nombreux !")
    await page.select_option("#compose-commune", MAEN_ROCH)
    async with page.expect_navigation() as posted:
        await page.click("form[action='/statuses'] button[type=submit]")
    assert (await posted.value).status == 200
    [status] = await _statuses_of(instance, club)
    assert await _statuses_of(instance, alice) == []
    assert status.visibility == "public" and status.commune_insee == MAEN_ROCH and status.local
    assert page.url == f"{instance.base_url}/@club_de_foot/{status.id}"
    assert "Match dimanche à 15 h au stade" in await page.inner_text("main")
    assert "Club de foot" in await page.inner_text("main")
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=str(tmp_path / "status-as-association-phone.png"), full_page=True)

    async with instance.runtime.sessions() as session:
        actions = (await session.scalars(select(TeamAction).where(TeamAction.actor_id == club.id))).all()
    assert [(a.action, a.user_id, a.object_uri) for a in actions] == [
        ("status.create", (await _user(instance, alice)).id, status.uri)]
    await page.goto(f"{instance.base_url}/settings/team")
    log = await page.inner_text("section.log")
    assert "Alice Martin" in log and "a publié une publication" in log

    # Back to her own account: the compose form now posts as alice.
    await page.select_option("#identity-switch", str(alice.id))
    async with page.expect_navigation():
        await page.click("header >> text=Changer d’identité")
    await page.goto(f"{instance.base_url}/statuses/new")
    await page.fill("#compose-text", "Bonjour à tous")
    await page.select_option("#compose-visibility", "private")
    async with page.expect_navigation():
        await page.click("form[action='/statuses'] button[type=submit]")
    assert "pour vos abonnés" in await page.inner_text("[role=status]")
    [own] = await _statuses_of(instance, alice)
    assert own.visibility == "private" and own.commune_insee == MAEN_ROCH
    assert len(await _statuses_of(instance, club)) == 1


async def test_the_compose_form_refuses_bad_input_with_a_message(make_instance, browser) -> None:
    instance, alice, _club, _ = await _team_setup(make_instance)
    page = await new_page(browser)
    await sign_in(page, instance, "alice", next_path="%2Fstatuses%2Fnew")
    token = await csrf_token(page)
    acting = await page.locator("input[name=acting_id]").get_attribute("value")
    base = {"csrf_token": token, "acting_id": acting, "visibility": "public", "commune": MAEN_ROCH}
    cases = [({"status": "   "}, "Écrivez quelque chose"),
             ({"status": "x" * 5001}, "trop longue"),
             ({"status": "Bonjour", "commune": "75056"}, "pas une des communes du territoire"),
             ({"status": "Bonjour", "visibility": "everyone"}, "Choisissez qui peut voir")]
    for fields, message in cases:
        response = await page.request.post(f"{instance.base_url}/statuses", form={**base, **fields},
                                           max_redirects=0)
        assert response.status == 422, fields
        body = await response.text()
        assert message in body and 'role="alert"' in body, fields
    assert await _statuses_of(instance, alice) == []


async def test_a_removed_member_falls_back_to_their_own_account_and_cannot_post_as_the_association(
        make_instance, browser) -> None:
    instance, alice, club, _ = await _team_setup(make_instance)
    bob = await make_account(instance, "bob", display_name="Bob")
    async with instance.runtime.transaction() as session:
        await teams.add_member(session, club, await _user(instance, bob), "admin", active=True)
    page = await new_page(browser)
    await sign_in(page, instance, "alice", next_path="%2Fstatuses%2Fnew")
    await page.select_option("#identity-switch", str(club.id))
    async with page.expect_navigation():
        await page.click("header >> text=Changer d’identité")
    assert "Club de foot" in await page.inner_text("header .acting")
    await page.fill("#compose-text", "Message de l'association")

    async with instance.runtime.transaction() as session:  # bob, an admin, removes alice meanwhile
        await teams.remove_member(session, club, await _user(instance, alice), by=await _user(instance, bob))

    async with page.expect_navigation() as refused:
        await page.click("form[action='/statuses'] button[type=submit]")
    assert (await refused.value).status == 422
    assert "Vous publiez maintenant en tant que Alice Martin" in await page.inner_text("[role=alert]")
    assert await page.input_value("#compose-text") == "Message de l'association"  # nothing lost
    assert "Alice Martin" in await page.inner_text("header .acting")
    assert await page.locator("#identity-switch").count() == 0
    assert await _statuses_of(instance, club) == [] and await _statuses_of(instance, alice) == []
    response = await page.request.post(f"{instance.base_url}/settings/identity", form={
        "csrf_token": await csrf_token(page), "actor_id": str(club.id)}, max_redirects=0)
    assert response.status == 403


async def test_forms_without_the_session_csrf_token_are_refused(make_instance, browser) -> None:
    instance, alice, club, _ = await _team_setup(make_instance)
    page = await new_page(browser)
    await sign_in(page, instance, "alice")
    token = await csrf_token(page)
    for path, fields in [("/statuses", {"status": "Bonjour", "acting_id": str(alice.id)}),
                         ("/settings/identity", {"actor_id": str(club.id)}),
                         ("/auth/sign_out", {})]:
        for forged in ({}, {"csrf_token": "not-the-token"}):
            response = await page.request.post(f"{instance.base_url}{path}", form={**fields, **forged},
                                               max_redirects=0)
            assert response.status == 403, (path, forged)
            assert "Ce formulaire a expiré" in await response.text()
    assert await _statuses_of(instance, alice) == []
    await page.reload()
    assert "Alice Martin" in await page.inner_text("header .acting")  # still signed in, still herself
    # A sign-in form posted without the token of the visitor's session is refused too.
    anonymous = await new_page(browser)
    response = await anonymous.request.post(f"{instance.base_url}/auth/sign_in", form={
        "login": "alice", "password": "correct horse battery", "csrf_token": token}, max_redirects=0)
    assert response.status == 403
