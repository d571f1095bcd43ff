"""The settings pages in a real headless Chromium against a live instance: editing the profile (avatar,
bio, profile fields, switches) as seen on the public profile and in the ActivityPub actor, refused input
(too long, not an image, forged form) changing nothing, the interface language and default visibility,
a team account's profile edited by its admin but not its editor, revoking an app authorized through the
real OAuth endpoints (the API then answers 401), and signing another browser out."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import select

from actors import teams
from fediverse.models import Actor, OutgoingActivity, TeamAction, User
from tests.federation_steps import make_account
from tests.live import LiveInstance
from tests.web.conftest import PASSWORD, PHONE, csrf_token, new_page, sign_in

AP_JSON = "application/activity+json"


def png_file(tmp_path: Path, name: str, colour: tuple[int, int, int], size: tuple[int, int]) -> Path:
    path = tmp_path / name
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return path


async def actor_row(instance: LiveInstance, actor_id: int) -> Actor:
    async with instance.runtime.sessions() as session:
        return await session.get(Actor, actor_id)


async def user_row(instance: LiveInstance, actor: Actor) -> User:
    async with instance.runtime.sessions() as session:
        return await session.scalar(select(User).where(User.actor_id == actor.id))


async def fits_a_phone(page: Any, screenshot: Path) -> None:
    """The page at 360 px wide: nothing sticks out sideways (a screenshot is kept to look at)."""
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=str(screenshot), full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


async def submit(page: Any, selector: str) -> Any:
    async with page.expect_navigation() as navigation:
        await page.click(selector)
    return await navigation.value


async def test_a_resident_edits_their_profile_and_sees_it_public_and_federated_then_reads_in_english(
        make_instance, browser, tmp_path: Path) -> None:
    instance = await make_instance("commune-a.test")
    alice = await make_account(instance, "alice", display_name="Alice")
    page = await new_page(browser)
    await sign_in(page, instance, "alice")
    await page.click("header >> text=Paramètres")
    await page.wait_for_url("**/settings/profile")
    assert await page.title() == f"Profil · {instance.domain}"
    assert await page.locator(".settings-nav a[aria-current=page]").inner_text() == "Profil"
    for label in ("Voisinage", "Équipes", "Invitations", "Applications", "Sessions", "Export", "Supprimer le compte"):
        assert await page.locator(".settings-nav a", has_text=label).count() == 1

    await page.fill("#display_name", "Alice Martin")
    await page.fill("#note", "Bénévole au jardin partagé de Maen Roch.")
    await page.set_input_files("#avatar", str(png_file(tmp_path, "avatar.png", (200, 60, 40), (120, 120))))
    await page.set_input_files("#header", str(png_file(tmp_path, "header.png", (40, 90, 200), (600, 200))))
    await page.fill("#field_1_name", "Site")
    await page.fill("#field_1_value", "https://jardin.example")
    await page.fill("#field_2_name", "Quartier")
    await page.fill("#field_2_value", "Le Bourg")
    await page.uncheck("#discoverable")
    await page.check("#locked")
    response = await submit(page, "#profile-form button[type=submit]")
    assert response.status == 200 and page.url.endswith("/settings/profile?done=profile")
    assert "Le profil a été enregistré" in await page.inner_text("[role=status]")
    assert await page.input_value("#field_2_value") == "Le Bourg"
    saved = await actor_row(instance, alice.id)
    assert saved.display_name == "Alice Martin" and saved.manually_approves_followers and not saved.discoverable
    assert await page.locator("header .who img").get_attribute("src") == saved.icon_url
    picture = await page.request.get(saved.icon_url)
    assert picture.ok and picture.headers["content-type"].startswith("image/")

    await page.goto(f"{instance.base_url}/@alice")
    assert await page.locator("h1").inner_text() == "Alice Martin"
    public = await page.inner_text("main")
    assert "Bénévole au jardin partagé de Maen Roch." in public and "Le Bourg" in public
    assert await page.locator(f"main img[src='{saved.icon_url}']").count() == 1
    document = await page.request.get(alice.uri, headers={"Accept": AP_JSON})
    actor = json.loads(await document.text())
    assert actor["name"] == "Alice Martin" and actor["manuallyApprovesFollowers"] is True
    assert actor["icon"]["url"] == saved.icon_url and actor["image"]["url"] == saved.image_url
    assert [(f["name"], f["value"]) for f in actor["attachment"]][1] == ("Quartier", "Le Bourg")
    assert 'href="https://jardin.example"' in actor["attachment"][0]["value"]
    async with instance.runtime.sessions() as session:
        update = await session.scalar(select(OutgoingActivity).where(
            OutgoingActivity.actor_id == alice.id, OutgoingActivity.activity_type == "Update"))
    assert json.loads(update.body)["object"]["name"] == "Alice Martin"  # federated as the API's update does

    # Refused input: a file that is not an image, a display name over the limit, a forged form. Nothing changes.
    await page.goto(f"{instance.base_url}/settings/profile")
    (tmp_path / "notes.txt").write_text("pas une image")
    await page.fill("#display_name", "Alice M.")
    await page.set_input_files("#avatar", str(tmp_path / "notes.txt"))
    response = await submit(page, "#profile-form button[type=submit]")
    assert response.status == 422
    assert "La photo de profil n’a pas pu être utilisée" in await page.inner_text("[role=alert]")
    assert await page.input_value("#display_name") == "Alice M."  # what was typed is kept
    assert await page.locator("#avatar").get_attribute("aria-invalid") == "true"
    token = await csrf_token(page)
    too_long = await page.request.post(f"{instance.base_url}/settings/profile", multipart={
        "csrf_token": token, "actor_id": str(alice.id), "display_name": "A" * 31, "note": "x" * 501,
        "field_1_name": "n" * 256, "field_1_value": "v"}, max_redirects=0)
    text = await too_long.text()
    assert too_long.status == 422
    for message in ("Le nom affiché est trop long", "La présentation est trop longue",
                    "Le champ de profil 1 est trop long"):
        assert message in text
    forged = await page.request.post(f"{instance.base_url}/settings/profile", multipart={
        "csrf_token": "forged", "actor_id": str(alice.id), "display_name": "Pirate"}, max_redirects=0)
    assert forged.status == 403 and "Ce formulaire a expiré" in await forged.text()
    assert (await actor_row(instance, alice.id)).display_name == "Alice Martin"

    # Her own preferences: English and followers-only posts by default.
    await page.select_option("#locale", "en")
    await page.select_option("#default_visibility", "private")
    await submit(page, "#preferences-form button[type=submit]")
    assert await page.locator("html").get_attribute("lang") == "en"
    assert "Your preferences have been saved." in await page.inner_text("[role=status]")
    assert await page.locator(".settings-nav a[aria-current=page]").inner_text() == "Profile"
    user = await user_row(instance, alice)
    assert (user.locale, user.default_visibility) == ("en", "private")
    await fits_a_phone(page, tmp_path / "profile-settings-phone.png")


async def test_a_team_admin_edits_the_association_profile_and_an_editor_may_not(make_instance, browser) -> None:
    instance = await make_instance("commune-a.test")
    alice = await make_account(instance, "alice", display_name="Alice")
    bob = await make_account(instance, "bob", display_name="Bob")
    club = await make_account(instance, "club", kind="association", display_name="Club")
    async with instance.runtime.transaction() as session:
        await teams.add_member(session, club, await session.get(User, (await user_row(instance, alice)).id), "admin",
                               active=True)
        await teams.add_member(session, club, await session.get(User, (await user_row(instance, bob)).id), "editor",
                               active=True)
    admin = await new_page(browser)
    await sign_in(admin, instance, "alice")
    await admin.select_option("#identity-switch", str(club.id))
    await submit(admin, "header form.switcher button")
    await admin.goto(f"{instance.base_url}/settings/profile")
    assert await admin.locator("h1").inner_text() == "Profil de Club"
    await admin.fill("#display_name", "Club de foot du Bourg")
    await admin.fill("#field_1_name", "Entraînements")
    await admin.fill("#field_1_value", "Mercredi 18 h")
    await submit(admin, "#profile-form button[type=submit]")
    assert (await actor_row(instance, club.id)).display_name == "Club de foot du Bourg"
    assert (await actor_row(instance, alice.id)).display_name == "Alice"
    async with instance.runtime.sessions() as session:
        logged = await session.scalar(select(TeamAction.action).where(TeamAction.actor_id == club.id))
    assert logged == "account.update"

    editor = await new_page(browser)
    await sign_in(editor, instance, "bob")
    await editor.select_option("#identity-switch", str(club.id))
    await submit(editor, "header form.switcher button")
    await editor.goto(f"{instance.base_url}/settings/profile")
    assert "Seuls les administrateurs de l’équipe de Club de foot du Bourg" in await editor.inner_text("main")
    assert await editor.locator("#profile-form").count() == 0
    refused = await editor.request.post(f"{instance.base_url}/settings/profile", multipart={
        "csrf_token": await csrf_token(editor), "actor_id": str(club.id), "display_name": "Club de Bob"},
        max_redirects=0)
    assert refused.status == 403
    assert (await actor_row(instance, club.id)).display_name == "Club de foot du Bourg"

    # A form written for one identity is never saved under another (switched in another tab).
    stale = await admin.request.post(f"{instance.base_url}/settings/profile", multipart={
        "csrf_token": await csrf_token(admin), "actor_id": str(alice.id), "display_name": "Alice par erreur"},
        max_redirects=0)
    assert stale.status == 409 and "Vous agissez maintenant en tant que Club de foot du Bourg" in await stale.text()
    assert (await actor_row(instance, club.id)).display_name == "Club de foot du Bourg"

    # The club's only admin cannot delete her account before naming another admin.
    await admin.goto(f"{instance.base_url}/settings/delete")
    assert "Club de foot du Bourg (@club)" in await admin.inner_text("#teams-blocking")
    assert await admin.locator("#password").count() == 0
    blocked = await admin.request.post(f"{instance.base_url}/settings/delete", form={
        "csrf_token": await csrf_token(admin), "password": PASSWORD}, max_redirects=0)
    assert blocked.status == 409 and (await actor_row(instance, alice.id)).deleted_at is None


async def test_revoking_an_app_authorized_through_oauth_makes_the_api_answer_401(make_instance, browser,
                                                                                tmp_path: Path) -> None:
    instance = await make_instance("commune-a.test")
    await make_account(instance, "alice", display_name="Alice")
    page = await new_page(browser)
    api = page.request
    registered = await api.post(f"{instance.base_url}/api/v1/apps", form={
        "client_name": "Tusky du jardin", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": "read write",
        "website": "https://tusky.example"})
    app = json.loads(await registered.text())
    granted = await api.post(f"{instance.base_url}/oauth/token", form={
        "grant_type": "password", "username": "alice", "password": PASSWORD, "client_id": app["client_id"],
        "client_secret": app["client_secret"], "scope": "read write"})
    token = json.loads(await granted.text())["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await api.get(f"{instance.base_url}/api/v1/accounts/verify_credentials", headers=bearer)).status == 200

    await sign_in(page, instance, "alice")
    await page.goto(f"{instance.base_url}/settings/applications")
    card = page.locator(".card", has_text="Tusky du jardin")
    listed = await card.inner_text()
    assert "https://tusky.example" in listed and "write" in listed and "Alice (@alice@commune-a.test)" in listed
    assert "Dernière utilisation" in listed and "Pas encore utilisée" not in listed  # verify_credentials used it
    await fits_a_phone(page, tmp_path / "applications-phone.png")
    await submit(page, ".card:has-text('Tusky du jardin') button[type=submit]")
    assert "L’accès de l’application a été révoqué" in await page.inner_text("[role=status]")
    assert "Aucune application n’a accès à votre compte" in await page.inner_text("main")
    assert (await api.get(f"{instance.base_url}/api/v1/accounts/verify_credentials", headers=bearer)).status == 401
    forged = await page.request.post(f"{instance.base_url}/settings/applications/revoke",
                                     form={"csrf_token": "", "app_id": "1"}, max_redirects=0)
    assert forged.status == 403


async def test_signing_another_browser_out_takes_effect_at_its_next_click(make_instance, browser,
                                                                         tmp_path: Path) -> None:
    instance = await make_instance("commune-a.test")
    await make_account(instance, "alice", display_name="Alice")
    laptop = await new_page(browser, user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
                                                "(KHTML, like Gecko) Chrome/120.0 Safari/537.36")
    phone = await new_page(browser, user_agent="Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0",
                           viewport=PHONE)
    tablet = await new_page(browser, user_agent="Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
                                                "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
    for page in (phone, tablet, laptop):
        await sign_in(page, instance, "alice")
    await laptop.goto(f"{instance.base_url}/settings/sessions")
    cards = laptop.locator(".card")
    assert await cards.count() == 3
    first = await cards.first.inner_text()
    assert "Chrome sur Linux" in first and "Ce navigateur" in first  # this browser is listed first
    assert await laptop.locator(".card", has_text="Firefox sur Android").count() == 1
    assert await laptop.locator(".card", has_text="Safari sur iPadOS").count() == 1
    await phone.goto(f"{instance.base_url}/settings/sessions")
    await fits_a_phone(phone, tmp_path / "sessions-phone.png")

    await submit(laptop, ".card:has-text('Firefox sur Android') button[type=submit]")
    assert "Ce navigateur a été déconnecté" in await laptop.inner_text("[role=status]")
    await phone.goto(f"{instance.base_url}/settings/profile")
    assert "/auth/sign_in" in phone.url  # signed out at its next click
    await tablet.goto(f"{instance.base_url}/settings/profile")
    assert tablet.url.endswith("/settings/profile")

    await laptop.goto(f"{instance.base_url}/settings/sessions")
    await submit(laptop, "form[action='/settings/sessions/end_others'] button")
    assert "Tous les autres navigateurs ont été déconnectés" in await laptop.inner_text("[role=status]")
    await tablet.goto(f"{instance.base_url}/settings/sessions")
    assert "/auth/sign_in" in tablet.url
    assert await laptop.locator(".card").count() == 1
    forged = await laptop.request.post(f"{instance.base_url}/settings/sessions/end_others",
                                       form={"csrf_token": "stale"}, max_redirects=0)
    assert forged.status == 403
