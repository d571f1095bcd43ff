"""Accessibility and fit of the website's main pages, in a real headless Chromium: axe-core finds no
serious or critical violation on any of them, anonymous and signed in, at phone (360 px) and desktop
(1280 px) widths, and none scrolls sideways on a phone. Each page is photographed on the way (to a
temporary directory; the README's few to docs/screenshots/ with FEDIVERSE_SCREENSHOTS=1). The checker
itself is shown to catch what it must (an unlabeled field, an empty button, text without contrast)."""

from __future__ import annotations

from pathlib import Path

from tests.web.a11y import (
    DESKTOP,
    PHONE,
    axe_context,
    axe_violations,
    horizontal_overflow,
    png_size,
    screenshot,
    screenshots_dir,
)
from tests.web.site_tour import browser_context, populated_site

BROKEN_PAGE = """<!doctype html><html lang="fr"><head><title>Formulaire</title></head><body>
<main><h1>Formulaire</h1><form><input type="text" name="nom">
<p class="pale">Texte presque invisible</p><button type="submit"></button></form></main></body></html>"""
FIXED_PAGE = """<!doctype html><html lang="fr"><head><title>Formulaire</title></head><body>
<main><h1>Formulaire</h1><form><label for="nom">Nom</label><input type="text" id="nom" name="nom">
<p>Texte lisible</p><button type="submit">Envoyer</button></form></main></body></html>"""
# The README's images, (page, who, width): viewport-sized, so they stay small.
README_SHOTS = {("home", "anonymous", "desktop"), ("agenda", "signed-in", "desktop"), ("event", "anonymous", "phone"),
                ("ads", "anonymous", "phone")}


async def test_the_checker_reports_an_unlabeled_field_an_empty_button_and_poor_contrast(browser) -> None:
    context = await axe_context(browser)
    page = await context.new_page()
    await page.set_content(BROKEN_PAGE)
    await page.add_style_tag(content=".pale { color: #bbb; background: #fff; }")
    found = {violation.rule: violation for violation in await axe_violations(page)}
    assert {"label", "button-name", "color-contrast"} <= set(found), found
    assert found["label"].impact == "critical" and found["label"].targets == ("input",)
    assert "input" in found["label"].describe()

    await page.set_content(FIXED_PAGE)
    assert await axe_violations(page) == []
    await context.close()


async def test_main_pages_have_no_serious_violation_and_fit_the_screen_anonymous_and_signed_in_on_phone_and_desktop(
        make_instance, browser, tmp_path: Path) -> None:
    site = await populated_site(make_instance)
    readme_dir = screenshots_dir(tmp_path / "readme")
    readme_dir.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    visits = 0
    for who in ("anonymous", "signed-in"):
        context = await browser_context(browser, site.instance, None if who == "anonymous" else site.alice,
                                        bypass_csp=True)  # the CSP allows no injected script
        page = await context.new_page()
        for width_name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            await page.set_viewport_size(viewport)
            for site_page in site.pages:
                if not (site_page.anonymous if who == "anonymous" else site_page.signed_in):
                    continue
                where = f"{site_page.name} ({site_page.path}, {who}, {width_name})"
                response = await page.goto(site.url(site_page))
                visits += 1
                if response.status != 200:
                    problems.append(f"{where}: HTTP {response.status}")
                    continue
                problems += [f"{where}: {violation.describe()}" for violation in await axe_violations(page)]
                if width_name == "phone":
                    problems += [f"{where}: wider than the screen: {element}"
                                 for element in await horizontal_overflow(page)]
                shot = await screenshot(page, tmp_path, f"{site_page.name}-{who}-{width_name}")
                if png_size(shot)[0] != viewport["width"]:  # a full-page shot is as wide as the page
                    problems.append(f"{where}: the page is {png_size(shot)[0]} px wide")
                if (site_page.name, who, width_name) in README_SHOTS:
                    await screenshot(page, readme_dir, f"{site_page.name}-{width_name}", full_page=False)
        await context.close()
    assert visits == 2 * sum(p.anonymous + p.signed_in for p in site.pages)
    assert not problems, "\n".join(problems)
    assert {png_size(readme_dir / f"{name}-{width}.png") for name, _, width in README_SHOTS} == {
        (DESKTOP["width"], DESKTOP["height"]), (PHONE["width"], PHONE["height"])}
