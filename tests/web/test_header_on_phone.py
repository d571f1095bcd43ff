"""The header on a phone (360 px), in a real headless Chromium: every link stays on screen as a separate
tap target (no menu to open, no sideways scrolling), the current section is shown by more than colour,
and the keyboard focus is visible on every control of the header, in French and in English. (Every
main page is photographed at phone and desktop widths by tests/web/test_accessibility.py's tour.)"""

from __future__ import annotations

from typing import Any

from tests.web.a11y import PHONE, focus_indicator, visible_focus
from tests.web.conftest import new_page
from tests.web.site_tour import browser_context, populated_site

MIN_TARGET_PX = 24  # WCAG 2.2 2.5.8 (AA)


async def _header_links(page: Any) -> list[dict[str, Any]]:
    return await page.evaluate(
        """() => [...document.querySelectorAll("header a, header button, header select")].map(element => {
            const box = element.getBoundingClientRect();
            return {text: (element.innerText || element.getAttribute("aria-label") || "").trim(),
                    left: box.left, right: box.right, top: box.top, bottom: box.bottom,
                    width: box.width, height: box.height, shown: box.width > 0 && box.height > 0
                        && getComputedStyle(element).visibility !== "hidden"};
        })""")


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["left"] < b["right"] - 1 and b["left"] < a["right"] - 1 and a["top"] < b["bottom"] - 1 \
        and b["top"] < a["bottom"] - 1


async def test_on_a_phone_the_header_keeps_every_link_tappable_and_the_focus_visible_in_french_and_english(
        make_instance, browser) -> None:
    site = await populated_site(make_instance)
    context = await browser_context(browser, site.instance, site.alice, viewport=PHONE)
    page = await context.new_page()
    await page.goto(f"{site.instance.base_url}/settings/team")
    await _check_phone_header(page, "fr", ("Écrire une publication", "Mes équipes", "Paramètres"))
    await page.select_option("#language-switch", "en")  # the footer's language switch, as a visitor uses it
    async with page.expect_navigation():
        await page.click("footer button[type=submit]")
    await _check_phone_header(page, "en", ("Write a post", "My teams", "Settings"))
    await context.close()

    anonymous = await new_page(browser, viewport=PHONE)
    await anonymous.goto(site.instance.base_url + "/")
    assert await anonymous.locator("header a[aria-current=page]").inner_text() == "Accueil"
    for link in ("S'inscrire", "Se connecter"):
        box = await anonymous.locator("header nav a", has_text=link).bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"] and box["height"] >= MIN_TARGET_PX


async def _check_phone_header(page: Any, language: str, labels: tuple[str, str, str]) -> None:
    """On the team page: every header control on screen, big enough, apart; `labels[1]` (the team link)
    marked current by more than colour; the skip link first and every control focused visibly."""
    assert await page.get_attribute("html", "lang") == language
    header = await page.inner_text("header")
    assert all(label in header for label in labels), header
    controls = [c for c in await _header_links(page) if c["text"] != ""]
    assert len(controls) >= 12  # brand, 5 sections, 6 personal links, switcher, sign out...
    for control in controls:
        assert control["shown"], control
        assert control["left"] >= 0 and control["right"] <= PHONE["width"], control  # on screen, no scrolling
        assert control["height"] >= MIN_TARGET_PX and control["width"] >= MIN_TARGET_PX, control
    overlapping = [(a["text"], b["text"]) for i, a in enumerate(controls) for b in controls[i + 1:]
                   if _overlap(a, b)]
    assert overlapping == []

    current = page.locator("header a[aria-current=page]")
    assert await current.count() == 1 and await current.inner_text() == labels[1]
    style = await current.evaluate("e => [getComputedStyle(e).fontWeight, getComputedStyle(e).textDecorationLine]")
    assert int(style[0]) >= 700 and "underline" in style[1]

    await page.locator("body").focus()
    await page.keyboard.press("Tab")
    skip = await focus_indicator(page)
    assert skip["href"] == "#main" and visible_focus(skip), skip
    seen = []
    for _ in range(len(controls)):
        await page.keyboard.press("Tab")
        focused = await focus_indicator(page)
        assert visible_focus(focused), focused
        seen.append(focused["text"])
    assert labels[0] in seen and labels[2] in seen
