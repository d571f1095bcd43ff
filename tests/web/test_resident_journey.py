"""The whole journey the web interface exists for, in one real headless Chromium against one live
instance serving Couesnon Marches de Bretagne, with mail through a real local SMTP server:

a newcomer signs up with her commune, confirms her address from the mail, widens her neighbourhood,
posts an ad with a described photo; a second resident answers it by private message, which she reads
in her conversations; an association editor publishes an event as the association; the newcomer takes
part and downloads the .ics; the same pages read in English for an English-speaking visitor.
Each step is checked where a person sees it (the page) and where it must have happened (the database,
the federated document).
"""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar
from PIL import Image
from sqlalchemy import select

from actors import teams
from fediverse.db import utcnow
from fediverse.models import Actor, Ad, Attachment, Event, Participation, Status, User
from tests.federation_steps import make_account
from tests.smtp_steps import instance_settings, link_in, smtp_server
from tests.test_locations import with_territory
from tests.web.conftest import PHONE, new_page, sign_in

MAEN_ROCH, LE_CHATELLIER = "35257", "35071"
PARIS = ZoneInfo("Europe/Paris")
PASSWORD = "les lavoirs du couesnon"


def _png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 200), colour).save(buffer, "PNG")
    return buffer.getvalue()


async def _click(page: Any, selector: str) -> Any:
    async with page.expect_navigation() as navigation:
        await page.click(selector)
    return await navigation.value


async def _one(instance: Any, query: Any) -> Any:
    async with instance.runtime.sessions() as session:
        return await session.scalar(query)


async def _sign_up_and_confirm(page: Any, instance: Any, mailbox: Any) -> Actor:
    await page.goto(f"{instance.base_url}/")
    await _click(page, "header >> text=S'inscrire")
    await page.fill("#display_name", "Claire Morel")
    await page.fill("#username", "claire")
    await page.fill("#email", "claire@example.fr")
    await page.fill("#password", PASSWORD)
    await page.fill("#password_confirmation", PASSWORD)
    await page.select_option("#commune", MAEN_ROCH)
    await page.check("#terms")
    await _click(page, "#sign-up-form button[type=submit]")
    assert "claire@example.fr" in await page.inner_text("[role=status]")
    mail = await mailbox.wait_for("claire@example.fr")
    assert (await page.goto(link_in(mail, "/auth/confirmation"))).status == 200
    assert "confirmée" in await page.inner_text("[role=status]")
    assert (await sign_in(page, instance, "claire", PASSWORD)).status == 200
    claire = await _one(instance, select(Actor).where(Actor.username == "claire"))
    assert claire.commune_insee == MAEN_ROCH and claire.kind == "resident"
    return claire


async def _widen_neighbourhood(page: Any, instance: Any, claire: Actor) -> None:
    await _click(page, "header >> text=Voisinage")
    await _click(page, "main >> text=Modifier mon voisinage")
    await page.get_by_label("Rayon (km)").fill("15")
    await _click(page, "button:has-text('Enregistrer')")
    assert "Votre voisinage a été enregistré." in await page.inner_text("main")
    user = await _one(instance, select(User).where(User.actor_id == claire.id))
    assert user.neighbourhood_radius_km == 15.0


async def _post_ad(page: Any, instance: Any) -> tuple[Ad, Status]:
    await page.goto(f"{instance.base_url}/annonces")
    await _click(page, "main a.button.primary[href='/annonces/new']")
    await page.fill("#ad-title", "Vélo enfant 16 pouces")
    await page.fill("#ad-description", "Petit vélo rouge, roues stabilisatrices fournies.")
    await page.select_option("#ad-category", "don")
    await page.check("#ad-free")
    await page.set_input_files("#photo-1", files=[{"name": "velo.png", "mimeType": "image/png",
                                                   "buffer": _png((200, 30, 30))}])
    await page.fill("#photo-1-alt", "Un petit vélo rouge contre un mur")
    await _click(page, "form.ad-form button[type=submit]")
    ad = await _one(instance, select(Ad).where(Ad.title == "Vélo enfant 16 pouces"))
    assert ad is not None and ad.category == "don"
    status = await _one(instance, select(Status).where(Status.id == ad.status_id))
    photo = await _one(instance, select(Attachment).where(Attachment.status_id == status.id))
    assert photo.description == "Un petit vélo rouge contre un mur"
    assert "Vélo enfant 16 pouces" in await page.inner_text("main")
    return ad, status


async def test_a_newcomer_signs_up_posts_an_ad_gets_a_private_answer_and_joins_an_association_event(
        make_instance, browser, tmp_path: Path) -> None:
    with smtp_server() as mailbox:
        instance = await with_territory(await make_instance("commune-a.test", **instance_settings(mailbox, "open")))
        await make_account(instance, "bob", display_name="Bob Leroy", commune_insee=LE_CHATELLIER)
        await make_account(instance, "alice", display_name="Alice Martin", commune_insee=MAEN_ROCH)
        comite = await make_account(instance, "comite", kind="association", display_name="Comité des fêtes",
                                    commune_insee=MAEN_ROCH)
        async with instance.runtime.transaction() as session:
            alice_user = await session.scalar(select(User).join(Actor, Actor.id == User.actor_id)
                                              .where(Actor.username == "alice"))
            await teams.add_member(session, comite, alice_user, "editor", active=True)

        # 1. A newcomer signs up with her commune, confirms her address, widens her neighbourhood.
        claire_page = await new_page(browser, viewport=PHONE)
        claire = await _sign_up_and_confirm(claire_page, instance, mailbox)
        await _widen_neighbourhood(claire_page, instance, claire)

        # 2. She gives away a bike: an ad with a described photo.
        ad, ad_status = await _post_ad(claire_page, instance)

    # 3. Bob, in Le Châtellier, finds it in the list and answers privately.
    bob_page = await new_page(browser)
    await sign_in(bob_page, instance, "bob")
    await bob_page.goto(f"{instance.base_url}/annonces?category=don")
    await _click(bob_page, "a:has-text('Vélo enfant 16 pouces')")
    await bob_page.fill("#reply-text", "Bonjour, il intéresserait mon fils. Je peux passer samedi ?")
    await _click(bob_page, ".ad-reply form button[type=submit]")
    answer = await _one(instance, select(Status).where(Status.in_reply_to_id == ad_status.id))
    assert answer is not None and answer.visibility == "direct"

    # ... which Claire reads in her conversations.
    await _click(claire_page, "header >> text=Messages")
    await _click(claire_page, ".conversation-list a")
    assert "il intéresserait mon fils" in await claire_page.inner_text("main")

    # 4. Alice, an editor of the comité des fêtes, publishes an event as the association.
    alice_page = await new_page(browser)
    await sign_in(alice_page, instance, "alice")
    await alice_page.select_option("#identity-switch", str(comite.id))
    await _click(alice_page, "header >> text=Changer d’identité")
    await alice_page.goto(f"{instance.base_url}/agenda")
    await _click(alice_page, "text=Publier un événement")
    day = (utcnow().astimezone(PARIS).date() + timedelta(days=12)).isoformat()
    await alice_page.fill("#title", "Fête de la pomme")
    await alice_page.fill("#description", "Pressage, jus frais et galettes.")
    await alice_page.fill("#start-date", day)
    await alice_page.fill("#start-time", "14:00")
    await alice_page.fill("#end-time", "18:00")
    await alice_page.fill("#place-name", "Verger communal")
    await alice_page.select_option("#commune", MAEN_ROCH)
    await alice_page.select_option("#category", "PARTY")
    await _click(alice_page, "form.event-form button[type=submit]")
    event = await _one(instance, select(Event).where(Event.title == "Fête de la pomme"))
    assert event is not None and event.actor_id == comite.id

    # 5. Claire takes part from the agenda and downloads the event for her calendar.
    await claire_page.goto(f"{instance.base_url}/agenda")
    await _click(claire_page, "a:has-text('Fête de la pomme')")
    await _click(claire_page, "button:has-text('J’y vais')")
    assert "Vous participez à cet événement." in await claire_page.inner_text("[role=status]")
    state = await _one(instance, select(Participation.state).where(Participation.actor_id == claire.id,
                                                                    Participation.event_id == event.id))
    assert state == "accepted"
    async with claire_page.expect_download() as started:
        await claire_page.click("text=Ajouter à mon agenda (.ics)")
    body = await asyncio.to_thread(Path(await (await started.value).path()).read_bytes)
    entry = next(iter(Calendar.from_ical(body).walk("VEVENT")))
    assert str(entry["SUMMARY"]) == "Fête de la pomme"
    assert entry.decoded("DTSTART").strftime("%H:%M") == "14:00"
    assert str(entry["DTSTART"].params["TZID"]) == "Europe/Paris"

    # 6. The same pages in English, for a visitor whose browser asks for English.
    english = await (await browser.new_context(ignore_https_errors=True, locale="en-GB")).new_page()
    for path, words in (("/", "Sign up"), ("/annonces", "Classified ads"), ("/agenda", "Upcoming"),
                        (f"/@claire/{ad_status.id}", "Vélo enfant 16 pouces"),
                        ("/auth/sign_up", "Create an account")):
        response = await english.goto(f"{instance.base_url}{path}")
        assert response.status == 200, path
        assert await english.get_attribute("html", "lang") == "en", path
        assert words in await english.inner_text("body"), path
