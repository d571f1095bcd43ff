"""Signing up on the website in a real headless Chromium, by registration mode, with the confirmation link
read from the mail a real SMTP server received (tests/smtp_steps.py).

open: a newcomer chooses their commune, confirms their address from the mail and signs in; approval:
the account waits for a moderator, the admins are notified and mailed; invite: only a live invitation
link opens the form, and its uses are counted; closed: a page says so. Bad forms get a readable 4xx and
create nothing; an English speaker signs up with the keyboard only."""

from __future__ import annotations

import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from actors import registrations
from actors.account_tokens import CONFIRM_EMAIL, make_token
from fediverse.db import utcnow
from fediverse.models import Actor, Invite, Notification, User
from tests.federation_steps import make_account
from tests.live import LiveInstance
from tests.smtp_steps import body_of, instance_settings, link_in, smtp_server
from tests.test_locations import with_territory
from tests.web.conftest import PHONE, new_page, sign_in

MAEN_ROCH = "35257"
NEW_PASSWORD = "une chorale au bourg"


async def _user(instance: LiveInstance, username: str) -> tuple[User, Actor] | None:
    async with instance.runtime.sessions() as session:
        row = (await session.execute(select(User, Actor).join(Actor, Actor.id == User.actor_id)
                                     .where(Actor.username == username))).first()
    return (row[0], row[1]) if row else None


async def _count_users(instance: LiveInstance) -> int:
    async with instance.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def _fill_sign_up(page: Any, username: str, *, reason: str | None = None) -> None:
    await page.fill("#display_name", "Marie Dupont")
    await page.fill("#username", username)
    await page.fill("#email", f"{username}@example.fr")
    await page.fill("#password", NEW_PASSWORD)
    await page.fill("#password_confirmation", NEW_PASSWORD)
    await page.select_option("#commune", MAEN_ROCH)
    if reason is not None:
        await page.fill("#reason", reason)
    await page.check("#terms")


async def _submit(page: Any, form: str = "#sign-up-form") -> Any:
    async with page.expect_navigation() as navigation:
        await page.click(f"{form} button[type=submit]")
    return await navigation.value


async def test_a_newcomer_signs_up_with_a_commune_confirms_by_mail_and_signs_in(
        make_instance, browser, tmp_path: Path) -> None:
    with smtp_server() as mailbox:
        instance = await with_territory(await make_instance("commune-a.test", **instance_settings(mailbox, "open")))
        admin = await make_account(instance, "mairie", display_name="Mairie", is_admin=True)
        page = await new_page(browser)
        await page.goto(f"{instance.base_url}/")
        async with page.expect_navigation():
            await page.click("header >> text=S'inscrire")
        assert await page.title() == "Créer un compte · commune-a.test"
        assert await page.locator("#commune option").count() == 16  # "choose" + the territory's 15 communes
        assert "Maen Roch" in await page.locator("#commune").inner_text()
        await page.click("summary")  # the terms of use are readable right in the form
        assert "En créant un compte, vous acceptez ces conditions" in await page.inner_text(".terms-text")
        await _fill_sign_up(page, "marie")
        await page.set_viewport_size(PHONE)
        await page.screenshot(path=str(tmp_path / "sign-up-phone.png"), full_page=True)
        assert (await _submit(page)).status == 200
        assert page.url == f"{instance.base_url}/auth/sign_up/sent"
        assert "Nous avons envoyé un lien à marie@example.fr" in await page.inner_text("[role=status]")

        user, actor = await _user(instance, "marie") or (None, None)
        assert user is not None and actor is not None
        assert user.email_confirmed_at is None and user.approved and user.terms_accepted_at is not None
        assert actor.commune_insee == MAEN_ROCH and actor.display_name == "Marie Dupont" and actor.kind == "resident"

        # Not before the address is confirmed: the right password gets told why.
        refused = await sign_in(page, instance, "marie", NEW_PASSWORD)
        assert refused.status == 403
        assert "Confirmez d’abord votre adresse e-mail" in await page.inner_text("[role=alert]")

        mail = await mailbox.wait_for("marie@example.fr")
        assert mail["Subject"] == "Confirmez votre adresse e-mail pour commune-a.test"
        assert "Bonjour Marie Dupont," in body_of(mail)
        assert (await page.goto(link_in(mail, "/auth/confirmation"))).status == 200
        assert "votre adresse e-mail est confirmée" in await page.inner_text("[role=status]")
        async with page.expect_navigation():
            await page.click("main >> text=Se connecter")
        await page.fill("#login", "marie")
        await page.fill("#password", NEW_PASSWORD)
        assert (await _submit(page, "form[action='/auth/sign_in']")).status == 200
        assert "Marie Dupont" in await page.inner_text("header .acting")

        # The link again: already done, nothing breaks.
        await page.goto(link_in(mail, "/auth/confirmation"))
        assert "déjà confirmée" in await page.inner_text("[role=status]")
    async with instance.runtime.sessions() as session:
        notes = (await session.scalars(select(Notification).where(Notification.recipient_id == admin.id))).all()
    assert [(n.kind, n.from_actor_id) for n in notes] == [("admin.sign_up", actor.id)]


async def test_in_approval_mode_the_account_waits_for_a_moderator_and_the_admins_are_told(
        make_instance, browser) -> None:
    with smtp_server() as mailbox:
        instance = await with_territory(await make_instance("commune-a.test",
                                                            **instance_settings(mailbox, "approval")))
        await make_account(instance, "mairie", display_name="Mairie de Maen Roch", is_admin=True)
        page = await new_page(browser)
        await page.goto(f"{instance.base_url}/auth/sign_up")
        assert "un modérateur étudie votre demande" in await page.inner_text("main")
        await _fill_sign_up(page, "paul", reason="J’habite à Maen Roch et j’anime la chorale.")
        await _submit(page)
        assert "un modérateur examinera votre demande" in await page.inner_text("main")

        mail = await mailbox.wait_for("paul@example.fr")
        assert "un modérateur examinera votre demande" in body_of(mail)
        await page.goto(link_in(mail, "/auth/confirmation"))
        assert "attend maintenant la validation d’un modérateur" in await page.inner_text("main")
        assert await page.locator("main >> text=Se connecter").count() == 0

        to_admin = await mailbox.wait_for("mairie@commune-a.test")
        assert to_admin["Subject"] == "Nouveau compte en attente de validation sur commune-a.test : @paul"
        assert "J’habite à Maen Roch et j’anime la chorale." in body_of(to_admin)
        assert "Commune de résidence : Maen Roch" in body_of(to_admin)

        refused = await sign_in(page, instance, "paul", NEW_PASSWORD)
        assert refused.status == 403 and "attend la validation d’un modérateur" in await page.inner_text(
            "[role=alert]")
        wrong = await sign_in(page, instance, "paul", "not the password")  # nothing said to a wrong password
        assert wrong.status == 422 and "incorrect" in await page.inner_text("[role=alert]")

        async with instance.runtime.transaction() as session:
            user = await session.scalar(select(User).where(User.email == "paul@example.fr"))
            await registrations.approve(session, user)
        assert (await sign_in(page, instance, "paul", NEW_PASSWORD)).status == 200
        assert "Marie Dupont" in await page.inner_text("header .acting")
    async with instance.runtime.sessions() as session:
        kinds = (await session.scalars(select(Notification.kind))).all()
    assert kinds == ["admin.sign_up"]


async def test_invitation_only_sign_up_needs_a_live_link_and_counts_its_uses(make_instance, browser) -> None:
    with smtp_server() as mailbox:
        instance = await with_territory(await make_instance("commune-a.test", **instance_settings(mailbox, "invite")))
        await make_account(instance, "alice", display_name="Alice Martin", commune_insee=MAEN_ROCH)
        member = await new_page(browser)
        await sign_in(member, instance, "alice", next_path="%2Fsettings%2Finvites")
        assert await member.title() == "Inviter des personnes · commune-a.test"
        await member.select_option("#max_uses", "1")
        await member.select_option("#expires_in", "1440")
        await _submit(member, "form[action='/settings/invites']")
        assert "Votre lien d’invitation a été créé" in await member.inner_text("[role=status]")
        link = await member.inner_text("code.invite-link")
        assert re.fullmatch(r"https://commune-a\.test/invite/[\w-]{16}", link)

        visitor = await new_page(browser)
        await visitor.goto(f"{instance.base_url}/auth/sign_up")
        assert "Une invitation est nécessaire" in await visitor.inner_text("main")
        assert await visitor.locator("#sign-up-form").count() == 0
        await visitor.goto(link)
        assert "Vous êtes invité à vous inscrire." in await visitor.inner_text("main")
        await _fill_sign_up(visitor, "lea")
        await _submit(visitor)
        assert visitor.url == f"{instance.base_url}/auth/sign_up/sent"
        await mailbox.wait_for("lea@example.fr")
        found = await _user(instance, "lea")
        assert found is not None and found[0].approved

        await member.reload()
        assert "1 / 1" in await member.inner_text("table") and "Épuisé" in await member.inner_text("table")
        used_up = await new_page(browser)
        assert (await used_up.goto(link)).status == 410
        assert "a expiré ou a déjà servi" in await used_up.inner_text("[role=alert]")
        assert (await used_up.goto(f"{instance.base_url}/invite/not-a-code")).status == 404

    async with instance.runtime.transaction() as session:
        invite = await session.scalar(select(Invite).where(Invite.code == link.rsplit("/", 1)[1]))
        assert invite.uses == 1 and found[0].invite_id == invite.id
        session.add(Invite(code="expired-code", created_by_user_id=invite.created_by_user_id, max_uses=None,
                           expires_at=utcnow() - timedelta(minutes=1)))
    assert (await used_up.goto(f"{instance.base_url}/invite/expired-code")).status == 410
    # Revoking a link ends it at once.
    await member.select_option("#max_uses", "")
    await _submit(member, "form[action='/settings/invites']")
    await _submit(member, "form[action='/settings/invites/revoke']")
    assert "Le lien d’invitation a été révoqué." in await member.inner_text("[role=status]")
    assert await member.locator("form[action='/settings/invites/revoke']").count() == 0


@asynccontextmanager
async def _anonymous(instance: LiveInstance, path: str = "/auth/sign_up") -> AsyncIterator[tuple[Any, str]]:
    """An HTTP client with the session cookie and CSRF token a visitor gets from `path`."""
    connector = aiohttp.TCPConnector(ssl=ssl.create_default_context())
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar()) as http:
        async with http.get(f"{instance.base_url}{path}") as response:
            found = re.search(r'name="csrf_token" value="([^"]+)"', await response.text())
        assert found is not None
        yield http, found.group(1)


async def _post(http: Any, url: str, form: dict[str, str]) -> tuple[int, str]:
    async with http.post(url, data=form, allow_redirects=False) as response:
        return response.status, await response.text()


async def test_bad_sign_up_forms_get_a_readable_4xx_and_create_nothing(make_instance) -> None:
    instance = await with_territory(await make_instance("commune-a.test", registration="open"))
    await make_account(instance, "alice", display_name="Alice Martin")  # alice@commune-a.test
    before = await _count_users(instance)
    good = {"username": "marie", "email": "marie@example.fr", "password": NEW_PASSWORD,
            "password_confirmation": NEW_PASSWORD, "commune": MAEN_ROCH, "terms": "1", "display_name": "Marie"}
    cases = [
        ({"username": "Alice"}, 422, "Cet identifiant est déjà pris"),
        ({"email": "ALICE@commune-a.test"}, 422, "Cette adresse e-mail est déjà utilisée"),
        ({"password": "azertyuiop", "password_confirmation": "azertyuiop"}, 422, "trop facile à deviner"),
        ({"password": "court", "password_confirmation": "court"}, 422, "au moins 8 caractères"),
        ({"password_confirmation": "autre chose"}, 422, "ne sont pas identiques"),
        ({"commune": "75056"}, 422, "pas une des communes du territoire"),
        ({"commune": ""}, 422, "Choisissez votre commune"),
        ({"terms": ""}, 422, "Acceptez les conditions d’utilisation"),
        ({"username": "admin"}, 422, "Cet identifiant est réservé"),
        ({"username": "x" * 5000}, 422, "au plus 30 caractères"),
        ({"email": "pas une adresse"}, 422, "adresse e-mail valide"),
        ({"csrf_token": "forged"}, 403, "Action refusée"),
    ]
    async with _anonymous(instance) as (http, token):
        for change, status, message in cases:
            code, text = await _post(http, f"{instance.base_url}/auth/sign_up", {**good, "csrf_token": token, **change})
            assert code == status and message in text, (change, code)
            if status == 422:
                assert 'role="alert"' in text and 'aria-invalid="true"' in text
                assert NEW_PASSWORD not in text  # the password is never sent back
                assert 'value="Marie"' in text  # what was typed is kept
        # Mailed links that are not good: a readable page, no 500.
        for query, status, message in [("", 400, "pas valide"), ("?token=1-2-3", 400, "pas valide"),
                                       ("?token=" + "9" * 200, 400, "pas valide")]:
            async with http.get(f"{instance.base_url}/auth/confirmation{query}") as response:
                assert response.status == status and message in await response.text()
    assert await _count_users(instance) == before
    found = await _user(instance, "alice")
    assert found is not None
    stale = make_token(instance.runtime.settings, CONFIRM_EMAIL, found[0], now=utcnow() - timedelta(days=3))
    async with _anonymous(instance) as (http, _token):
        async with http.get(f"{instance.base_url}/auth/confirmation?token={stale}") as response:
            assert response.status == 410 and "a expiré" in await response.text()


async def test_a_closed_instance_says_so_and_takes_no_one(make_instance) -> None:
    instance = await with_territory(await make_instance("commune-a.test", registration="closed"))
    before = await _count_users(instance)
    async with _anonymous(instance) as (http, token):
        async with http.get(f"{instance.base_url}/auth/sign_up") as response:
            text = await response.text()
            assert response.status == 200 and "Les inscriptions sont fermées sur ce site." in text
            assert 'id="sign-up-form"' not in text
        code, text = await _post(http, f"{instance.base_url}/auth/sign_up", {
            "csrf_token": token, "username": "marie", "email": "marie@example.fr", "password": NEW_PASSWORD,
            "password_confirmation": NEW_PASSWORD, "commune": MAEN_ROCH, "terms": "1"})
        assert code == 403 and "Les inscriptions sont fermées" in text
        async with http.get(f"{instance.base_url}/about") as response:
            about = await response.text()
        assert "Les inscriptions sont fermées sur ce site pour le moment." in about
        assert 'href="/auth/sign_up"' not in about.split("<main", 1)[1]
        async with http.get(f"{instance.base_url}/settings/invites", allow_redirects=False) as response:
            assert response.status == 303  # signed-in people only
    assert await _count_users(instance) == before


async def _tab_to(page: Any, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching `selector` has the focus."""
    for _ in range(limit):
        if await page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


async def test_an_english_speaker_signs_up_with_the_keyboard_only(make_instance, browser) -> None:
    with smtp_server() as mailbox:
        instance = await with_territory(await make_instance("commune-a.test", **instance_settings(mailbox, "open")))
        context = await browser.new_context(ignore_https_errors=True, locale="en-GB")
        page = await context.new_page()
        await page.goto(f"{instance.base_url}/auth/sign_up")
        assert await page.locator("html").get_attribute("lang") == "en"
        assert await page.title() == "Create an account · commune-a.test"
        assert "Join commune-a.test, the local social network of Couesnon Marches de Bretagne." in \
            await page.inner_text("main")
        for field, label in [("username", "Username"), ("email", "Email address"), ("commune", "Home commune"),
                             ("terms", "I have read and accept the terms of use.")]:
            assert await page.inner_text(f"label[for={field}]") == label

        await _tab_to(page, "#display_name")
        await page.keyboard.type("Sam Taylor")
        for field, text in [("#username", "sam"), ("#email", "sam@example.org"), ("#password", NEW_PASSWORD),
                            ("#password_confirmation", NEW_PASSWORD)]:
            await page.keyboard.press("Tab")
            await _tab_to(page, field)
            await page.keyboard.type(text)
        await page.keyboard.press("Tab")
        await _tab_to(page, "#commune")
        await page.keyboard.type("Maen")  # a focused select picks the option typed
        assert await page.input_value("#commune") == MAEN_ROCH
        await page.keyboard.press("Tab")
        await _tab_to(page, "#terms")
        await page.keyboard.press("Space")
        assert await page.is_checked("#terms")
        await page.keyboard.press("Tab")
        await _tab_to(page, "#sign-up-form button[type=submit]")
        async with page.expect_navigation():
            await page.keyboard.press("Enter")
        assert page.url == f"{instance.base_url}/auth/sign_up/sent"
        assert "We have sent a link to sam@example.org" in await page.inner_text("[role=status]")

        mail = await mailbox.wait_for("sam@example.org")
        assert mail["Subject"] == "Confirm your email address for commune-a.test"
        assert "Hello Sam Taylor," in body_of(mail)
    found = await _user(instance, "sam")
    assert found is not None and found[0].locale == "en" and found[1].commune_insee == MAEN_ROCH
    await context.close()
