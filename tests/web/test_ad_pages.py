"""Petites annonces on the website against live instances: a resident posts an ad with a photo in a real
headless Chromium (the missing description is questioned first), every filter of the list finds it
(and only when it should), a neighbour replies privately and the author gets a direct message, the
author edits, closes ("donné") and deletes it; then, over plain HTTP, a neighbour instance's ad is
listed with ours and has its own page, an expired ad leaves the list and says so on its page, the
list pages and speaks English."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from actors.ad_views import latest_ad_cards
from fediverse.db import utcnow
from fediverse.models import Ad, Attachment, Mention, Notification, Status
from fediverse.templating import environment
from outbox.ad_commands import post_ad
from outbox.ads import AdSpec
from tests.federation_steps import count, first, make_account, outbox
from tests.live import LiveInstance, eventually
from tests.neighbour_steps import FOUGERES, make_neighbours, set_territory
from tests.test_locations import with_territory
from tests.web.conftest import PHONE, new_page, sign_in
from tests.web.test_ad_forms import BAZOUGES, MAEN_ROCH, Browserless, png

FOUGERES_TOWN = "35115"
SAINT_GERMAIN = "35273"  # 7.6 km from Maen Roch, Bazouges-la-Pérouse is 15.5 km away


async def _submit(page: Any, selector: str) -> Any:
    async with page.expect_navigation() as navigation:
        await page.click(selector)
    return await navigation.value


async def _titles(page: Any, instance: LiveInstance, query: str) -> list[str]:
    response = await page.goto(f"{instance.base_url}/annonces?{query}")
    assert response.status == 200, query
    return await page.locator(".ad-card .ad-title").all_inner_texts()


async def test_a_resident_posts_an_ad_with_a_photo_every_filter_finds_it_a_neighbour_replies_privately_and_the_author_edits_closes_and_deletes_it(  # noqa: E501
        make_instance, browser, tmp_path: Path) -> None:
    instance = await with_territory(await make_instance("commune-a.test"))
    alice = await make_account(instance, "alice", commune_insee=MAEN_ROCH, display_name="Alice Martin")
    bob = await make_account(instance, "bob", commune_insee=BAZOUGES, display_name="Bob Leroy")
    await post_ad(outbox(instance), bob.id, AdSpec("Cherche tondeuse", "Pour un petit jardin", "recherche", "request",
                                                   None, False, None, commune=BAZOUGES))
    page = await new_page(browser)
    await sign_in(page, instance, "alice")
    await page.goto(f"{instance.base_url}/annonces")
    await _submit(page, "main >> text=Déposer une annonce")
    assert await page.input_value("#ad-commune") == MAEN_ROCH  # the account's home commune
    in_thirty_days = (utcnow() + timedelta(days=30)).astimezone(ZoneInfo("Europe/Paris")).date().isoformat()
    assert await page.input_value("#ad-expires") == in_thirty_days
    await page.fill("#ad-title", "Poussette pliable")
    await page.fill("#ad-description", "Très bon état.\nAvec habillage pluie.")
    await page.select_option("#ad-category", "vente")
    await page.fill("#ad-price", "35")
    await page.set_input_files("#photo-1", files=[{"name": "poussette.png", "mimeType": "image/png",
                                                   "buffer": png("grey")}])
    response = await _submit(page, "form.ad-form button[type=submit]")
    assert response.status == 422  # the photo has no description: asked, and kept
    assert "Décrivez chaque photo" in await page.inner_text("#photo-alt-warning")
    await page.screenshot(path=str(tmp_path / "ad-form-photo-questioned.png"), full_page=True)
    assert await page.input_value("#ad-title") == "Poussette pliable"
    await page.fill("fieldset.photos .photo.kept input[type=text]", "Poussette grise, pliée")
    response = await _submit(page, "form.ad-form button[type=submit]")
    assert response.status == 200 and re.search(r"/@alice/\d+\?done=posted$", page.url)
    ad = await first(instance, select(Ad).where(Ad.title == "Poussette pliable"))
    status = await first(instance, select(Status).where(Status.id == ad.status_id))
    assert (ad.category, ad.purpose, ad.price_cents, ad.commune_insee, ad.local) == \
        ("vente", "offer", 3500, MAEN_ROCH, True)
    photo = await first(instance, select(Attachment).where(Attachment.status_id == status.id))
    assert photo.description == "Poussette grise, pliée"

    assert "Votre annonce est publiée" in await page.inner_text("[role=status]")
    assert await page.inner_text("h1") == "Poussette pliable"
    facts = await page.inner_text(".ad-facts")
    for words in ("35\u00a0€", "Vente", "Offre : l’auteur le propose", "Maen Roch", "Alice Martin", "Date de fin"):
        assert words in facts, words
    assert await page.inner_text(".ad-state-line") == "Annonce en cours"
    assert "Avec habillage pluie." in await page.inner_text(".ad-description")
    assert await page.get_attribute(".ad-photos img", "alt") == "Poussette grise, pliée"
    assert await page.get_attribute("link[rel=alternate][type='application/activity+json']", "href") == status.uri
    assert await page.get_attribute("meta[property='og:title']", "content") == "Poussette pliable"
    assert (await page.get_attribute("meta[property='og:image']", "content")).startswith("https://")
    assert await page.title() == "Poussette pliable · Petites annonces · commune-a.test"
    assert await page.locator("#reply-text").count() == 0  # no private reply to oneself
    await page.screenshot(path=str(tmp_path / "ad-page-author.png"), full_page=True)

    # Every filter of the list, through the form once and then by URL.
    await page.goto(f"{instance.base_url}/annonces")
    await page.select_option("#filter-category", "vente")
    await _submit(page, "form.ad-filters button[type=submit]")
    assert "category=vente" in page.url
    assert await page.locator(".ad-card .ad-title").all_inner_texts() == ["Poussette pliable"]
    card = page.locator(".ad-card", has_text="Poussette pliable")
    assert await card.locator("img").get_attribute("alt") == "Poussette grise, pliée"
    card_text = await card.inner_text()
    for words in ("35\u00a0€", "Vente", "Offre", "Maen Roch", "Publiée le"):
        assert words in card_text, words
    both = ["Poussette pliable", "Cherche tondeuse"]
    for query, expected in [("", both), ("category=don", []), ("purpose=offer", ["Poussette pliable"]),
                            ("purpose=request", ["Cherche tondeuse"]), (f"commune={MAEN_ROCH}", ["Poussette pliable"]),
                            (f"commune={SAINT_GERMAIN}", []), (f"commune={SAINT_GERMAIN}&radius_km=10",
                                                               ["Poussette pliable"]),
                            (f"commune={BAZOUGES}&radius_km=5", ["Cherche tondeuse"]),
                            (f"commune={BAZOUGES}&radius_km=20", both), ("radius_km=5", ["Poussette pliable"]),
                            ("q=habillage", ["Poussette pliable"]), ("q=POUSSETTE", ["Poussette pliable"]),
                            ("q=vélo", []), ("category=vente&purpose=offer&q=pluie", ["Poussette pliable"])]:
        assert await _titles(page, instance, query) == expected, query
    await _titles(page, instance, "q=vélo")
    assert "Aucune annonce en cours ne correspond à ces filtres" in await page.inner_text("main")
    await page.set_viewport_size(PHONE)
    await _titles(page, instance, "")
    await page.screenshot(path=str(tmp_path / "ads-list-phone.png"), full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # A neighbour replies privately: a direct message to Alice only.
    neighbour = await new_page(browser)
    await sign_in(neighbour, instance, "bob")
    await neighbour.goto(f"{instance.base_url}/@alice/{status.id}")
    await neighbour.set_viewport_size(PHONE)
    await neighbour.screenshot(path=str(tmp_path / "ad-page-phone.png"), full_page=True)
    await neighbour.fill("#reply-text", "Bonjour, est-elle toujours disponible ?")
    response = await _submit(neighbour, "form[action$='/reply'] button[type=submit]")
    assert response.status == 200
    assert "Votre message a été envoyé en privé à Alice Martin" in await neighbour.inner_text("[role=status]")
    message = await first(instance, select(Status).where(Status.in_reply_to_id == status.id))
    assert (message.actor_id, message.visibility) == (bob.id, "direct")
    assert "est-elle toujours disponible" in message.content and json.loads(message.to_json) == [alice.uri]
    assert await count(instance, Mention, Mention.status_id == message.id) == 1
    assert await count(instance, Notification, Notification.recipient_id == alice.id, Notification.kind == "mention",
                       Notification.status_id == message.id) == 1

    # The author edits it (now a giveaway), closes it as given away, then deletes it.
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.goto(f"{instance.base_url}/@alice/{status.id}")
    await _submit(page, "text=Modifier l’annonce")
    assert await page.input_value("#ad-price") == "35"
    await page.fill("#ad-title", "Poussette pliable à donner")
    await page.select_option("#ad-category", "don")
    await page.fill("#ad-price", "")
    await page.check("#ad-free")
    await _submit(page, "form.ad-form button[type=submit]")
    assert "Vos modifications sont enregistrées" in await page.inner_text("[role=status]")
    assert await page.inner_text("h1") == "Poussette pliable à donner"
    assert "Gratuit" in await page.inner_text(".ad-price")
    edited = await first(instance, select(Ad).where(Ad.id == ad.id))
    assert (edited.title, edited.category, edited.free, edited.price_cents) == \
        ("Poussette pliable à donner", "don", True, None)
    assert await count(instance, Attachment, Attachment.status_id == status.id) == 1  # the photo stayed

    await page.select_option("#close-reason", "donne")
    await _submit(page, "form.ad-close button[type=submit]")
    assert "Annonce terminée : donné" in await page.inner_text(".ad-state-line")
    closed = await first(instance, select(Ad).where(Ad.id == ad.id))
    assert (closed.state, closed.closed_reason) == ("closed", "donne")
    assert await _titles(page, instance, "") == ["Cherche tondeuse"]

    await page.goto(f"{instance.base_url}/@alice/{status.id}")
    await _submit(page, "text=Supprimer l’annonce")
    assert "Voulez-vous vraiment supprimer" in await page.inner_text("main")
    await _submit(page, "text=Oui, supprimer l’annonce")
    assert page.url.endswith("/annonces?deleted=1")
    assert "Votre annonce a été supprimée" in await page.inner_text("[role=status]")
    assert await count(instance, Ad, Ad.id == ad.id) == 0 and await count(instance, Status, Status.id == status.id) == 0
    assert (await page.goto(f"{instance.base_url}/@alice/{status.id}")).status == 404


async def test_a_neighbour_instance_ad_is_listed_with_ours_has_its_own_page_and_expired_ads_leave_the_list(
        make_instance) -> None:
    a = await with_territory(await make_instance("commune-a.test"))
    b = await make_instance("commune-b.test")
    await set_territory(b, FOUGERES)
    await make_neighbours(a, b)
    alice = await make_account(a, "alice", commune_insee=MAEN_ROCH, display_name="Alice")
    carol = await make_account(a, "carol", commune_insee=MAEN_ROCH, display_name="Carol")
    bob = await make_account(b, "bob", commune_insee=FOUGERES_TOWN, display_name="Bob de B")
    theirs = await post_ad(outbox(b), bob.id, AdSpec("Poêle à bois", "Fonte, 8 kW, à démonter sur place.", "vente",
                                                      "offer", 3000, False, None, commune=FOUGERES_TOWN))
    theirs_uri = (await first(b, select(Status).where(Status.id == theirs.status_id))).uri
    remote = await eventually(lambda: first(a, select(Ad).where(Ad.local.is_(False))), what="the ad on A")
    ours = await post_ad(outbox(a), alice.id, AdSpec("Vélo enfant", "Roues de 16 pouces", "vente", "offer", 1250,
                                                     False, None, commune=MAEN_ROCH))
    over = await post_ad(outbox(a), alice.id, AdSpec("Table de jardin", "", "don", "offer", None, True, None))
    async with a.runtime.transaction() as session:
        await session.execute(update(Ad).where(Ad.id == over.id).values(expires_at=utcnow() - timedelta(minutes=1)))

    # What the home page shows: the newest open ads, as the cards of the list.
    cards = await latest_ad_cards(a.runtime, 5)
    assert [(c.title, c.path, c.local, c.commune_name) for c in cards] == [
        ("Vélo enfant", f"/@alice/{ours.status_id}", True, "Maen Roch"),
        ("Poêle à bois", f"/annonces/{remote.id}", False, "Fougères")]
    card_html = environment("en").from_string('{% from "ads/_macros.html" import ad_card %}{{ ad_card(card, 2) }}')\
        .render(card=cards[0])
    assert '<h2 class="ad-title"><a href="/@alice/' in card_html and "€12.50" in card_html and "For sale" in card_html

    english = Browserless(a, "", "", language="en")
    code, page, _ = await english.get("/annonces")
    assert code == 200
    titles = re.findall(r'class="ad-title"><a href="([^"]+)">([^<]+)<', page)
    assert titles == [(f"/@alice/{ours.status_id}", "Vélo enfant"), (f"/annonces/{remote.id}", "Poêle à bois")]
    assert "Table de jardin" not in page
    for words in ("<h1>Classified ads</h1>", "For sale", "Offer", "€12.50", "€30", "Ad posted on", "Show the ads",
                  "Fougères"):
        assert words in page, words
    assert 'href="/ads.rss"' in page and 'rel="alternate" type="application/rss+xml" href="/ads.rss"' in page
    assert "Neighbours: commune-b.test" in page  # their communes may be chosen in the filter
    code, page, _ = await english.get(f"/annonces?commune={FOUGERES_TOWN}")
    assert code == 200 and "Poêle à bois" in page and "Vélo enfant" not in page
    code, page, _ = await english.get(f"/annonces?commune={MAEN_ROCH}&radius_km=20")  # Fougères is 13.6 km away
    assert code == 200 and "Poêle à bois" in page and "Vélo enfant" in page
    code, page, _ = await english.get(f"/annonces?commune={MAEN_ROCH}&radius_km=10")
    assert code == 200 and "Poêle à bois" not in page and "Vélo enfant" in page
    french = Browserless(a, "", "")
    code, page, _ = await french.get(f"/annonces?commune={MAEN_ROCH}")
    assert code == 200 and 'href="/ads.rss?commune=35257"' in page and "Vélo enfant" in page

    # The federated ad's own page; a local ad's /annonces/ID leads to its permalink.
    code, page, _ = await french.get(f"/annonces/{remote.id}")
    assert code == 200 and "<h1 id=\"ad-title\">Poêle à bois</h1>" in page
    assert "Fonte, 8 kW, à démonter sur place." in page and "30\u00a0€" in page and "Bob de B" in page
    assert "Fougères" in page and f'href="https://commune-b.test/@bob/{theirs.status_id}" rel="external"' in page
    assert f'<link rel="alternate" type="application/activity+json" href="{theirs_uri}">' in page
    code, _, headers = await french.get(f"/annonces/{ours.id}")
    assert code == 301 and headers["Location"] == f"/@alice/{ours.status_id}"
    code, _, headers = await french.request("GET", f"/annonces/{remote.id}",
                                            headers={"Accept": "application/activity+json"})
    assert code == 302 and headers["Location"] == theirs_uri

    # The expired ad's page says so, in French and in English, and takes no reply.
    code, page, _ = await french.get(f"/@alice/{over.status_id}")
    assert code == 200 and "Annonce expirée" in page and "Cette annonce a pris fin le" in page
    code, page, _ = await english.get(f"/@alice/{over.status_id}")
    assert code == 200 and "Expired ad" in page and "This ad ended on" in page and "reply-text" not in page

    # A private reply to the federated ad reaches its author's server as a direct message.
    visitor = await Browserless.of(a, carol)
    code, page, headers = await visitor.post(f"/annonces/{remote.id}/reply", {"text": "Is it still there?",
                                                                               "acting_id": carol.id})
    assert code == 303 and headers["Location"] == f"/annonces/{remote.id}?done=replied", page[:500]
    remote_status = await first(a, select(Status).where(Status.id == remote.status_id))
    reply = await first(a, select(Status).where(Status.in_reply_to_id == remote_status.id))
    bob_on_a = await first(a, select(Status.actor_id).where(Status.id == remote.status_id))
    assert reply.visibility == "direct" and await count(a, Mention, Mention.status_id == reply.id,
                                                        Mention.actor_id == bob_on_a) == 1
    arrived = await eventually(lambda: first(b, select(Status).where(Status.uri == reply.uri)), what="the reply on B")
    assert arrived.visibility == "direct" and arrived.in_reply_to_id == theirs.status_id
    assert await count(b, Mention, Mention.status_id == arrived.id, Mention.actor_id == bob.id) == 1

    # Pages of twenty, the filters kept from one page to the next.
    for number in range(21):
        await post_ad(outbox(a), alice.id, AdSpec(f"Livre {number}", "", "vente", "offer", 200, False, None))
    code, page, _ = await french.get("/annonces?category=vente")
    assert code == 200 and page.count('class="card ad-card"') == 20 and "Livre 20" in page and "Livre 0" not in page
    older = re.search(r'href="/annonces\?([^"]+)" rel="next"', page)
    assert older is not None and "category=vente" in older.group(1)
    code, page, _ = await french.get("/annonces?" + older.group(1).replace("&amp;", "&"))
    assert code == 200 and "Livre 0" in page and "Vélo enfant" in page and "Poêle à bois" in page
    assert "Livre 20" not in page
    assert 'rel="next"' not in page and "Annonces les plus récentes" in page
