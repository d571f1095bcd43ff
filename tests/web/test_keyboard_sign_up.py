"""Signing up with the keyboard only, in French, from the home page (headless Chromium): Tab and
Shift-Tab to move, Enter and Space to act, never a click. Every element the focus lands on shows it
(an outline of at least 2 px, on screen), the browser's own check of a required box brings the focus
back to it, and the account is created as typed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from fediverse.models import Actor, User
from tests.smtp_steps import instance_settings, smtp_server
from tests.test_locations import with_territory
from tests.web.a11y import focus_indicator, visible_focus
from tests.web.conftest import new_page

MAEN_ROCH = "35257"
PASSWORD = "le lavoir du bourg"
MAX_TABS = 60


async def _tab_to(page: Any, selector: str, key: str = "Tab") -> list[str]:
    """Press `key` (Tab or Shift+Tab) until `selector` has the focus, checking that every element the
    focus passes on shows it; what the focus went through."""
    passed: list[str] = []
    for _ in range(MAX_TABS):
        await page.keyboard.press(key)
        indicator = await focus_indicator(page)
        assert visible_focus(indicator), indicator
        passed.append(indicator.get("text") or indicator["tag"])
        if await page.evaluate("s => document.activeElement.matches(s)", selector):
            return passed
    raise AssertionError(f"{key} never reached {selector}; went through {passed}")


async def test_a_resident_reaches_the_sign_up_form_from_home_and_signs_up_with_the_keyboard_only(
        make_instance, browser) -> None:
    with smtp_server() as mailbox:
        instance = await with_territory(await make_instance("commune-a.test", **instance_settings(mailbox, "open")))
        page = await new_page(browser)
        await page.goto(f"{instance.base_url}/")

        passed = await _tab_to(page, "header a[href='/auth/sign_up']")
        assert passed[0] == "Aller au contenu"  # the skip link comes first
        async with page.expect_navigation():
            await page.keyboard.press("Enter")
        assert page.url == f"{instance.base_url}/auth/sign_up"
        assert await page.inner_text("h1") == "Créer un compte"

        await _tab_to(page, "#display_name")
        await page.keyboard.type("Camille Morel")
        await _tab_to(page, "#username")
        await page.keyboard.type("camile")
        await _tab_to(page, "#email")
        await _tab_to(page, "#username", key="Shift+Tab")  # back to fix the typo: the text is selected,
        await page.keyboard.type("camille")  # typing replaces it
        await _tab_to(page, "#email")
        await page.keyboard.type("camille@example.fr")
        for field in ("#password", "#password_confirmation"):
            await _tab_to(page, field)
            await page.keyboard.type(PASSWORD)
        await _tab_to(page, "#commune")
        await page.keyboard.type("Maen")  # a focused select picks the option typed
        assert await page.input_value("#commune") == MAEN_ROCH

        await _tab_to(page, "details.terms-text summary")  # the terms open with Enter
        await page.keyboard.press("Enter")
        assert await page.get_attribute("details.terms-text", "open") is not None
        await _tab_to(page, "#sign-up-form button[type=submit]")
        await page.keyboard.press("Enter")  # the box is required: the browser stops and focuses it
        await page.wait_for_function("document.activeElement && document.activeElement.id === 'terms'")
        assert page.url == f"{instance.base_url}/auth/sign_up"
        assert visible_focus(await focus_indicator(page))
        await page.keyboard.press("Space")
        assert await page.is_checked("#terms")
        await _tab_to(page, "#sign-up-form button[type=submit]")
        async with page.expect_navigation():
            await page.keyboard.press("Space")
        assert page.url == f"{instance.base_url}/auth/sign_up/sent"
        assert "camille@example.fr" in await page.inner_text("[role=status]")
        await mailbox.wait_for("camille@example.fr")

    async with instance.runtime.sessions() as session:
        user, actor = (await session.execute(select(User, Actor).join(Actor, Actor.id == User.actor_id)
                                             .where(Actor.username == "camille"))).one()
    assert (actor.display_name, actor.commune_insee, user.email) == ("Camille Morel", MAEN_ROCH, "camille@example.fr")
