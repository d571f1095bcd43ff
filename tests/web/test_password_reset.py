"""A forgotten password, end to end in a real headless Chromium, with the link read from the mail a real
SMTP server received: the same answer whether the address has an account or not, a link that works
once, the old password refused after, every other browser signed out, a notice mailed; and the
refusals (forged form, throttled asking, bad or expired links, a weak new password) as readable 4xx."""

from __future__ import annotations

import asyncio
import re
import ssl
from datetime import timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import select

from actors.account_tokens import RESET_PASSWORD, make_token
from fediverse.db import utcnow
from fediverse.models import User
from tests.federation_steps import make_account
from tests.smtp_steps import body_of, instance_settings, link_in, smtp_server
from tests.test_locations import with_territory
from tests.web.conftest import PASSWORD, new_page, sign_in

NEW_PASSWORD = "trois pommes sur la table"


async def test_a_forgotten_password_is_reset_through_the_mailed_link_and_every_session_ends(
        make_instance, browser, tmp_path: Path) -> None:
    with smtp_server() as mailbox:
        instance = await with_territory(await make_instance("commune-a.test", **instance_settings(mailbox)))
        await make_account(instance, "alice", display_name="Alice Martin")  # alice@commune-a.test
        elsewhere = await new_page(browser)  # alice is signed in on another computer
        await sign_in(elsewhere, instance, "alice")
        assert "Alice Martin" in await elsewhere.inner_text("header .acting")

        page = await new_page(browser)
        await page.goto(f"{instance.base_url}/auth/sign_in")
        async with page.expect_navigation():
            await page.click("main >> text=Mot de passe oublié ?")
        answers = []
        for email in ("personne@example.fr", "alice@commune-a.test"):
            await page.goto(f"{instance.base_url}/auth/password/new")
            await page.fill("#email", email)
            async with page.expect_navigation() as asked:
                await page.click("form[action='/auth/password/new'] button[type=submit]")
            assert (await asked.value).status == 200
            answers.append((await page.inner_text("main")).replace(email, "ADDRESS"))
        assert answers[0] == answers[1] and "Si un compte utilise ADDRESS" in answers[0]

        mail = await mailbox.wait_for("alice@commune-a.test")
        assert mail["Subject"] == "Réinitialisez votre mot de passe sur commune-a.test"
        assert "valable 6 heures" in body_of(mail)
        link = link_in(mail, "/auth/password/edit")
        await page.goto(link)
        await page.fill("#password", NEW_PASSWORD)
        await page.fill("#password_confirmation", "autre chose encore")
        async with page.expect_navigation() as mismatch:
            await page.click("form[action='/auth/password/edit'] button[type=submit]")
        assert (await mismatch.value).status == 422
        assert "Les deux mots de passe ne sont pas identiques." in await page.inner_text("[role=alert]")
        await page.screenshot(path=str(tmp_path / "new-password-refused.png"), full_page=True)
        await page.fill("#password", NEW_PASSWORD)
        await page.fill("#password_confirmation", NEW_PASSWORD)
        async with page.expect_navigation():
            await page.click("form[action='/auth/password/edit'] button[type=submit]")
        assert page.url == f"{instance.base_url}/auth/sign_in?done=password"
        assert "Votre mot de passe a été changé" in await page.inner_text("[role=status]")

        notice = await mailbox.wait_for("alice@commune-a.test", count=2)
        assert notice["Subject"] == "Votre mot de passe sur commune-a.test a été changé"
        await asyncio.sleep(0.5)
        assert mailbox.to("personne@example.fr") == []  # nothing was mailed to an address without account

    # The other computer is signed out at its next click.
    await elsewhere.reload()
    assert "Se connecter" in await elsewhere.inner_text("header")
    assert await elsewhere.locator("header .acting").count() == 0
    # The old password no longer works, the new one does.
    assert (await sign_in(page, instance, "alice", PASSWORD)).status == 422
    assert (await sign_in(page, instance, "alice", NEW_PASSWORD)).status == 200
    assert "Alice Martin" in await page.inner_text("header .acting")
    # The link worked once.
    assert (await page.goto(link)).status == 400
    assert "n’est pas valide ou a déjà été utilisé" in await page.inner_text("[role=alert]")


async def _token_of(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found is not None
    return found.group(1)


async def test_reset_refusals_are_readable_4xx_and_change_nothing(make_instance) -> None:
    instance = await with_territory(await make_instance("commune-a.test"))  # no SMTP host: links go to the log
    await make_account(instance, "alice", display_name="Alice Martin")
    async with instance.runtime.sessions() as session:
        user = await session.scalar(select(User).where(User.email == "alice@commune-a.test"))
    settings = instance.runtime.settings
    good = make_token(settings, RESET_PASSWORD, user)
    stale = make_token(settings, RESET_PASSWORD, user, now=utcnow() - timedelta(hours=7))
    connector = aiohttp.TCPConnector(ssl=ssl.create_default_context())
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar()) as http:
        async with http.get(f"{instance.base_url}/auth/password/new") as response:
            csrf = await _token_of(await response.text())
        url = f"{instance.base_url}/auth/password/new"
        async with http.post(url, data={"email": "alice@commune-a.test"}) as response:
            assert response.status == 403 and "Action refusée" in await response.text()
        async with http.post(url, data={"csrf_token": csrf, "email": ""}) as response:
            assert response.status == 422 and "Indiquez votre adresse e-mail." in await response.text()
        for _ in range(3):
            async with http.post(url, data={"csrf_token": csrf, "email": "Alice@Commune-A.test"}) as response:
                assert response.status == 200
        async with http.post(url, data={"csrf_token": csrf, "email": "alice@commune-a.test"}) as response:
            assert response.status == 429 and "Trop de demandes" in await response.text()

        for token, status, message in [(stale, 410, "Ce lien a expiré."), ("", 400, "n’est pas valide"),
                                       (good[:-3] + "abc", 400, "n’est pas valide"), ("x" * 300, 400, "pas valide")]:
            async with http.get(f"{instance.base_url}/auth/password/edit", params={"token": token}) as response:
                assert response.status == status and message in await response.text(), token
        edit = f"{instance.base_url}/auth/password/edit"
        async with http.get(edit, params={"token": good}) as response:
            assert response.status == 200
            csrf = await _token_of(await response.text())
        for password, confirmation, status, message in [
                ("court", "court", 422, "au moins 8 caractères"),
                ("azertyuiop", "azertyuiop", 422, "trop facile à deviner"),
                (NEW_PASSWORD, NEW_PASSWORD + "!", 422, "ne sont pas identiques")]:
            async with http.post(edit, data={"csrf_token": csrf, "token": good, "password": password,
                                             "password_confirmation": confirmation}) as response:
                assert response.status == status and message in await response.text()
        async with http.post(edit, data={"csrf_token": "forged", "token": good, "password": NEW_PASSWORD,
                                         "password_confirmation": NEW_PASSWORD}) as response:
            assert response.status == 403
        async with http.post(edit, data={"csrf_token": csrf, "token": stale, "password": NEW_PASSWORD,
                                         "password_confirmation": NEW_PASSWORD}) as response:
            assert response.status == 410
    async with instance.runtime.sessions() as session:
        unchanged = await session.get(User, user.id)
    assert unchanged is not None and unchanged.password_hash == user.password_hash
