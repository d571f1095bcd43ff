"""Search and hashtag pages in a real headless Chromium against live instances: one query finds an
account, a post, a hashtag, an ad and an event; a hashtag page lists its public posts and has its RSS
feed; a signed-in person finds an account of another server by its address (fetched from its origin)
where a visitor only finds what is known; bad search links get a readable 400 page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import feedparser
from sqlalchemy import select

from fediverse.models import Actor
from tests.federation_steps import first, make_account
from tests.live import LiveInstance
from tests.test_locations import with_territory
from tests.web import directory_steps as steps
from tests.web.conftest import new_page, sign_in


async def _town(make_instance: Any) -> tuple[LiveInstance, dict[str, Any]]:
    instance = await with_territory(await make_instance("commune-a.test"))
    people = {
        "club": await make_account(instance, "club_de_foot", kind="association", display_name="Club de foot",
                                   commune_insee="35257", theme="sport"),
        "alice": await make_account(instance, "alice", display_name="Alice Martin", commune_insee="35257"),
    }
    return instance, people


async def test_one_query_finds_an_account_a_post_a_hashtag_an_ad_and_an_event(make_instance, browser) -> None:
    instance, people = await _town(make_instance)
    await steps.post(instance, people["club"], "Entraînement de #foot samedi matin au stade.")
    await steps.post(instance, people["alice"], "Mon fils adore le #football", visibility="private")
    await steps.ad(instance, people["alice"], "Ballon de foot", "Presque neuf")
    await steps.event(instance, people["club"], "Tournoi de foot des jeunes")
    await steps.ad(instance, people["alice"], "Poussette", "Bon état")

    page = await new_page(browser)
    await page.goto(f"{instance.base_url}/")
    await page.click("header nav >> text=Rechercher")
    await page.fill("#search-q", "foot")
    await page.press("#search-q", "Enter")
    await page.wait_for_url("**/search?q=foot**")
    assert await page.title() == "Recherche : foot · commune-a.test"
    assert "Club de foot" in await page.inner_text("section[aria-labelledby=accounts-title]")
    posts = await page.inner_text("section[aria-labelledby=posts-title]")
    assert "Entraînement de #foot samedi" in posts or "Entraînement de # foot samedi" in posts
    assert "adore" not in posts  # a followers-only post is never a search result
    assert "#foot" in await page.inner_text("section[aria-labelledby=tags-title]")
    ads = await page.inner_text("section[aria-labelledby=ads-title]")
    assert "Ballon de foot" in ads and "Poussette" not in ads
    assert "Tournoi de foot des jeunes" in await page.inner_text("section[aria-labelledby=events-title]")

    await page.click("section[aria-labelledby=accounts-title] >> text=Plus de résultats de ce type")
    await page.wait_for_url("**type=accounts**")
    assert await page.locator("section[aria-labelledby=posts-title]").count() == 0
    assert await page.locator("#search-type").input_value() == "accounts"

    await page.goto(f"{instance.base_url}/search?q=foot")
    await page.click("section[aria-labelledby=tags-title] >> text=#foot")
    await page.wait_for_url("**/tags/foot")
    assert await page.locator("h1").inner_text() == "#foot"
    assert "Entraînement de" in await page.inner_text("main")
    assert await page.locator("link[rel=alternate][type='application/rss+xml']").get_attribute("href") == \
        "/tags/foot.rss"
    feed = feedparser.parse((await steps.get(instance, "/tags/foot.rss"))[1])
    assert [entry.title for entry in feed.entries] == ["Entraînement de #foot samedi matin au stade."]
    status, _, headers = await steps.get(instance, "/tags/Foot")
    assert status == 301 and headers["Location"] == "/tags/foot"

    await page.goto(f"{instance.base_url}/search?q=rien-de-tel")
    assert "Aucun résultat pour « rien-de-tel »." in await page.inner_text("main")


async def test_a_signed_in_person_finds_an_account_of_another_server_by_its_address(make_instance, browser) -> None:
    a = await make_instance("commune-a.test")
    b = await make_instance("commune-b.test")
    await make_account(a, "alice", display_name="Alice Martin")
    bob = await make_account(b, "bob", display_name="Bob de Fougères")
    fraises = await steps.post(b, bob, "Les premières fraises sont au marché de Fougères.")

    visitor = await new_page(browser)
    await visitor.goto(f"{a.base_url}/search?q=%40bob%40commune-b.test")
    assert "Aucun résultat" in await visitor.inner_text("main")  # a visitor never makes us fetch anything
    assert await first(a, select(Actor.id).where(Actor.username == "bob")) is None

    person = await new_page(browser)
    await sign_in(person, a, "alice")
    await person.goto(f"{a.base_url}/search")
    await person.fill("#search-q", "@bob@commune-b.test")
    await person.press("#search-q", "Enter")
    await person.wait_for_url("**/search?q=**")
    accounts = person.locator("section[aria-labelledby=accounts-title]")
    assert "Bob de Fougères" in await accounts.inner_text()
    await accounts.locator("a", has_text="Bob de Fougères").click()
    await person.wait_for_url("**/@bob@commune-b.test")
    assert "Ce compte est sur un autre serveur, commune-b.test" in await person.inner_text("header.profile-header")

    await visitor.goto(f"{a.base_url}/search?q=bob")  # now known here: anyone finds it by name
    assert "@bob@commune-b.test" in await visitor.inner_text("section[aria-labelledby=accounts-title]")

    await person.goto(f"{a.base_url}/search?{urlencode({'q': fraises.uri})}")  # a post's address, pasted
    assert "Les premières fraises" in await person.inner_text("section[aria-labelledby=posts-title]")
    await visitor.goto(f"{a.base_url}/search?q=fraises")  # fetched once: a known public post, for everyone
    assert "Les premières fraises" in await visitor.inner_text("section[aria-labelledby=posts-title]")


async def test_bad_search_links_get_a_readable_400_page(make_instance) -> None:
    instance, _ = await _town(make_instance)
    for query, words in (("q=foot&type=pirates", "La recherche ne connaît pas ce type de résultat."),
                         ("q=" + "x" * 201, "Le texte recherché est trop long"),
                         ("q=foot&type=posts&max_id=abc", "Ce lien n’est pas valide")):
        status, body, headers = await steps.get(instance, f"/search?{query}")
        assert status == 400 and headers["content-type"].startswith("text/html") and words in body, query
    status, body, _ = await steps.get(instance, "/search?q=foot&type=pirates", headers={"Accept-Language": "en"})
    assert status == 400 and "This kind of result is not one the search knows." in body
    for path in ("/tags/%21%21", "/tags/_x.rss"):
        status, body, _ = await steps.get(instance, path)
        assert status == 404 and "Page introuvable" in body, path
