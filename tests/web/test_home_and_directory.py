"""The territory's home page and its directory, in a real headless Chromium against a live instance:
a visitor sees the town hall's messages (urgent first), the next events, the latest ads, the newest
associations and the invitation to join, a signed-in resident gets the compose form instead; the
directory lists the organisations of the territory, filters them by kind, commune, theme and text,
goes through pages, and answers a hand-made bad link with a readable 400 page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actors.announcements import create_announcement
from fediverse.web import directory_pages
from tests.federation_steps import make_account
from tests.live import LiveInstance
from tests.test_locations import with_territory
from tests.web import directory_steps as steps
from tests.web.conftest import PHONE, new_page, sign_in


async def _town(make_instance: Any) -> tuple[LiveInstance, dict[str, Any]]:
    """Maen Roch's town hall, two associations (one in Le Châtellier), a shop, an official and residents."""
    instance = await with_territory(await make_instance("commune-a.test"))
    people = {
        "mairie": await make_account(instance, "mairie", kind="collectivity", display_name="Mairie de Maen Roch",
                                     commune_insee="35257"),
        "club": await make_account(instance, "club_de_foot", kind="association", display_name="Club de foot",
                                   commune_insee="35257", theme="sport"),
        "chorale": await make_account(instance, "chorale", kind="association", display_name="Chorale du Châtellier",
                                      commune_insee="35071", theme="culture"),
        "boulangerie": await make_account(instance, "boulangerie", kind="shop", display_name="Boulangerie Le Fournil",
                                          commune_insee="35257", theme="alimentation"),
        "maire": await make_account(instance, "jeanne", kind="official", display_name="Jeanne Adjointe",
                                    commune_insee="35257"),
        "alice": await make_account(instance, "alice", display_name="Alice Martin", commune_insee="35257"),
        "discret": await make_account(instance, "discret", display_name="Compte discret", commune_insee="35257"),
    }
    await steps.update_actor(instance, people["club"], summary="<p>Le club de football des jeunes du canton.</p>")
    await steps.update_actor(instance, people["discret"], discoverable=False)
    return instance, people


async def test_a_visitor_sees_the_territory_and_is_invited_to_join_a_resident_gets_the_compose_form(
        make_instance, browser, tmp_path: Path) -> None:
    instance, people = await _town(make_instance)
    async with instance.runtime.transaction() as session:
        await create_announcement(session, "mairie", "Fermeture de la mairie lundi.")
        await create_announcement(session, "mairie", "Coupure d'eau rue de la Gare ce matin.", urgent=True)
    await steps.event(instance, people["club"], "Tournoi des jeunes")
    await steps.ad(instance, people["alice"], "Vélo enfant")
    await steps.post(instance, people["chorale"], "Répétition ouverte jeudi soir.")

    visitor = await new_page(browser)
    await visitor.goto(f"{instance.base_url}/")
    messages = visitor.locator("section[aria-labelledby=announcements-title] article")
    assert await messages.count() == 2
    assert "Coupure d'eau" in await messages.first.inner_text()  # urgent first, said in words
    assert "Urgent" in await messages.first.inner_text()
    events = await visitor.inner_text("section[aria-labelledby=events-title]")
    assert "Prochains événements" in events and "Tournoi des jeunes" in events
    assert "Vélo enfant" in await visitor.inner_text("section[aria-labelledby=ads-title]")
    associations = await visitor.inner_text("section[aria-labelledby=associations-title]")
    assert "Club de foot" in associations and "Chorale du Châtellier" in associations
    assert "Boulangerie" not in associations
    assert "Répétition ouverte" in await visitor.inner_text("section[aria-labelledby=posts-title]")
    join = visitor.locator("section.join")
    assert await join.locator("a[href='/auth/sign_up']").count() == 1
    assert "@mairie@commune-a.test" in await join.inner_text()  # how to follow from a Mastodon app
    assert await visitor.locator("#compose-text").count() == 0
    assert await visitor.locator("link[rel=alternate][type='text/calendar']").get_attribute("href") == "/agenda.ics"
    assert await visitor.locator("meta[property='og:title']").get_attribute("content") == "commune-a.test"
    await visitor.set_viewport_size(PHONE)
    await visitor.screenshot(path=str(tmp_path / "home-phone.png"), full_page=True)
    assert await visitor.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    resident = await new_page(browser)
    await sign_in(resident, instance, "alice")
    await resident.goto(f"{instance.base_url}/")
    assert await resident.locator("section.join").count() == 0
    assert await resident.locator("#compose-text").count() == 1
    assert "Tournoi des jeunes" in await resident.inner_text("section[aria-labelledby=events-title]")


async def test_the_directory_filters_by_kind_commune_theme_and_text_and_goes_through_pages(
        make_instance, browser, monkeypatch) -> None:
    instance, people = await _town(make_instance)
    await steps.group(instance, "parents", "alice", display_name="Parents d'élèves")
    await steps.group(instance, "bureau", "alice", display_name="Bureau secret", members_only=True)
    page = await new_page(browser)
    await page.goto(f"{instance.base_url}/annuaire")
    assert await page.title() == "Annuaire · commune-a.test"
    listed = await page.inner_text("ul.accounts")
    for name in ("Mairie de Maen Roch", "Club de foot", "Chorale du Châtellier", "Boulangerie Le Fournil",
                 "Jeanne Adjointe", "Parents d'élèves"):
        assert name in listed
    for hidden in ("Alice Martin", "Bureau secret", "Compte discret"):  # residents on request; never the private
        assert hidden not in listed
    first = page.locator("ul.accounts li").first
    assert "Mairie de Maen Roch" in await first.inner_text() and "Collectivité" in await first.inner_text()
    assert await first.locator("img").get_attribute("alt") == "Photo de profil de Mairie de Maen Roch"
    assert "Le club de football des jeunes" in await page.inner_text("ul.accounts")  # short presentation

    await page.select_option("#directory-kind", "association")
    async with page.expect_navigation():
        await page.click("form.filters button[type=submit]")
    assert sorted(await page.locator("ul.accounts h2").all_inner_texts()) == ["Chorale du Châtellier", "Club de foot"]
    await page.select_option("#directory-commune", "35071")
    async with page.expect_navigation():
        await page.click("form.filters button[type=submit]")
    assert await page.locator("ul.accounts h2").all_inner_texts() == ["Chorale du Châtellier"]
    assert "Le Châtellier" in await page.inner_text("ul.accounts")
    assert "kind=association" in page.url and "commune=35071" in page.url

    await page.goto(f"{instance.base_url}/annuaire")
    await page.select_option("#directory-theme", "alimentation")
    await page.fill("#directory-q", "fournil")
    await page.press("#directory-q", "Enter")
    await page.wait_for_url("**/annuaire?**")
    assert await page.locator("ul.accounts h2").all_inner_texts() == ["Boulangerie Le Fournil"]
    assert "1 compte" in await page.inner_text("#directory-count")
    await page.fill("#directory-q", "football jeunes")  # every word, in the presentation too
    await page.select_option("#directory-theme", "")
    await page.press("#directory-q", "Enter")
    await page.wait_for_url("**q=football+jeunes**")
    assert await page.locator("ul.accounts h2").all_inner_texts() == ["Club de foot"]

    await page.goto(f"{instance.base_url}/annuaire?kind=resident")
    residents = await page.locator("ul.accounts h2").all_inner_texts()
    assert "Alice Martin" in residents and "Compte discret" not in residents

    monkeypatch.setattr(directory_pages, "PER_PAGE", 2)
    await page.goto(f"{instance.base_url}/annuaire")
    assert "page 1 sur 3" in await page.inner_text("#directory-count")
    seen = await page.locator("ul.accounts h2").all_inner_texts()
    await page.click("nav.pager >> text=Page suivante")
    await page.wait_for_url("**page=2")
    seen += await page.locator("ul.accounts h2").all_inner_texts()
    await page.click("nav.pager >> text=Page suivante")
    await page.wait_for_url("**page=3")
    seen += await page.locator("ul.accounts h2").all_inner_texts()
    assert len(seen) == 6 and len(set(seen)) == 6
    assert await page.locator("nav.pager >> text=Page suivante").count() == 0


async def test_bad_directory_links_get_a_readable_400_page_in_the_visitors_language(make_instance) -> None:
    instance, _ = await _town(make_instance)
    for query, words in (("kind=pirate", "L’annuaire ne connaît pas ce type de compte."),
                         ("commune=99999", "Cette commune n’est pas une des communes du territoire."),
                         ("theme=astrologie", "L’annuaire ne connaît pas ce thème."),
                         ("page=zero", "Ce lien n’est pas valide"),
                         ("page=40", "Cette page de l’annuaire n’existe pas"),
                         ("q=" + "x" * 101, "Le texte recherché est trop long")):
        status, body, headers = await steps.get(instance, f"/annuaire?{query}")
        assert status == 400, query
        assert headers["content-type"].startswith("text/html") and words in body, query
        assert '<a href="/annuaire">' in body  # a way back to the first page
    status, body, _ = await steps.get(instance, "/annuaire?kind=pirate", headers={"Accept-Language": "en"})
    assert status == 400 and "This kind of account is not one the directory knows." in body
