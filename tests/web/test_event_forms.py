"""Publishing and managing events from the website, in a real headless Chromium against a live instance
serving Couesnon Marches de Bretagne: an editor of the comité des fêtes switches to the association and
publishes an event with a described picture; it is federated as a Mobilizon `Event`, listed in the day,
week and month views and their filters, drawn on the map (tiles from the configured server, the list of
places beside it), and a resident takes part and adds it to their calendar. A second journey edits the
event into a restricted one with one place: a request, the organiser's approval, the next resident told
it is full, then the event cancelled. Refused forms (HTTP 422, readable, next to their field, nothing
published) and who may change an event are checked over plain HTTP.
"""

from __future__ import annotations

import asyncio
import io
import json
import ssl
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from icalendar import Calendar
from PIL import Image
from sqlalchemy import func, select

from actors import teams
from fediverse.db import utcnow
from fediverse.models import Actor, Attachment, Event, Participation, Status, User
from fediverse.web.session import COOKIE_NAME
from outbox.events import EventCommands, event_spec
from tests.federation_steps import make_account
from tests.live import LiveInstance
from tests.test_locations import with_territory
from tests.web.conftest import PHONE, new_page, sign_in
from tests.web.test_agenda_pages import Answer, get, signed, user_id

PARIS = ZoneInfo("Europe/Paris")
MAEN_ROCH = "35257"
TILES = "https://tiles.test/{z}/{x}/{y}.png"


def picture(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 200), colour).save(buffer, "PNG")
    return buffer.getvalue()


def soon(days: int = 10) -> str:
    return (utcnow().astimezone(PARIS).date() + timedelta(days=days)).isoformat()


async def _click(page: Any, selector: str) -> Any:
    async with page.expect_navigation() as navigation:
        await page.click(selector)
    return await navigation.value


async def _events(instance: LiveInstance) -> list[Event]:
    async with instance.runtime.sessions() as session:
        return list((await session.scalars(select(Event).order_by(Event.created_at))).all())


async def _club(make_instance: Any, **settings: Any) -> tuple[LiveInstance, Actor, Actor, Actor]:
    """alice is an editor of the comité des fêtes; bob a resident of Maen Roch."""
    instance = await with_territory(await make_instance("commune-a.test", **settings))
    alice = await make_account(instance, "alice", commune_insee=MAEN_ROCH, display_name="Alice Martin")
    bob = await make_account(instance, "bob", commune_insee=MAEN_ROCH, display_name="Bob Leroy")
    comite = await make_account(instance, "comite", kind="association", display_name="Comité des fêtes",
                                commune_insee=MAEN_ROCH)
    async with instance.runtime.transaction() as session:
        await teams.add_member(session, comite, await session.get(User, await user_id(instance, alice)), "editor",
                               active=True)
    return instance, alice, bob, comite


async def _act_as(page: Any, account: Actor) -> None:
    await page.select_option("#identity-switch", str(account.id))
    await _click(page, "header >> text=Changer d’identité")


async def _fill_event(page: Any, day: str, **values: str) -> None:
    await page.fill("#title", values.get("title", "Bal du comité"))
    await page.fill("#description", values.get("description", "Orchestre, buvette et crêpes.\n\nEntrée libre."))
    await page.fill("#start-date", day)
    await page.fill("#start-time", values.get("start", "20:30"))
    await page.fill("#end-time", values.get("end", "23:45"))
    await page.fill("#place-name", "Salle des fêtes")
    await page.fill("#street", "2 rue de l'Église")
    await page.select_option("#commune", MAEN_ROCH)
    await page.select_option("#category", "PARTY")
    await page.fill("#capacity", values.get("capacity", "120"))


async def test_an_association_editor_publishes_an_event_that_the_agenda_the_map_and_residents_show(
        make_instance, browser) -> None:
    instance, _alice, bob, comite = await _club(make_instance, map_tile_url=TILES,
                                                map_attribution="© Tuiles de test")
    editor = await new_page(browser)
    await sign_in(editor, instance, "alice")
    await _act_as(editor, comite)
    await editor.goto(f"{instance.base_url}/agenda")
    await _click(editor, "text=Publier un événement")
    assert "Vous publiez en tant que Comité des fêtes." in await editor.inner_text("main")
    day = soon()
    await _fill_event(editor, day)
    await editor.set_input_files("#photo-1", files=[{"name": "bal.png", "mimeType": "image/png",
                                                     "buffer": picture((200, 40, 40))}])
    await editor.fill("#photo-1-alt", "Des couples dansent sous les guirlandes")
    response = await _click(editor, "form.event-form button[type=submit]")

    [event] = await _events(instance)
    async with instance.runtime.sessions() as session:
        status = await session.get(Status, event.status_id)
        [attachment] = (await session.scalars(select(Attachment).where(Attachment.status_id == status.id))).all()
        log = await teams.team_actions(session, comite.id)
    assert response.status == 200 and editor.url == f"{instance.base_url}/@comite/{status.id}?done=created"
    assert event.actor_id == comite.id and event.title == "Bal du comité" and event.capacity == 120
    assert event.starts_at == datetime.fromisoformat(f"{day}T20:30").replace(tzinfo=PARIS).astimezone(ZoneInfo("UTC"))
    assert attachment.description == "Des couples dansent sous les guirlandes"
    assert [(action.action, member.username) for action, member in log] == [("event.create", "alice")]
    assert "Votre événement est publié." in await editor.inner_text("[role=status]")
    assert await editor.get_attribute("img.event-banner", "alt") == "Des couples dansent sous les guirlandes"
    facts = await editor.inner_text(".event-facts")
    assert "de 20:30 à 23:45" in facts and "Salle des fêtes" in facts and "Fête" in facts and "120 places" in facts
    # Federated as Mobilizon writes it: the ActivityPub document of the permalink is an Event.
    async with aiohttp.ClientSession() as http, http.get(
            status.uri, headers={"Accept": "application/activity+json"}, ssl=ssl.create_default_context()) as fetched:
        document = json.loads(await fetched.read())
    assert document["type"] == "Event" and document["name"] == "Bal du comité"
    assert document["startTime"].endswith(("+02:00", "+01:00")) and document["location"]["name"] == "Salle des fêtes"

    # The agenda: the day, then its week and month, then a category filter.
    await editor.goto(f"{instance.base_url}/agenda?view=day&date={day}")
    assert await editor.locator(".event-title", has_text="Bal du comité").count() == 1
    for view in ("Semaine", "Mois"):
        await _click(editor, f".agenda-views >> text={view}")
        assert await editor.get_attribute(f".agenda-views a:has-text('{view}')", "aria-current") == "page"
        assert await editor.locator(".event-title", has_text="Bal du comité").count() == 1, view
    await editor.select_option("#filter-category", "MUSIC")
    await _click(editor, ".agenda-filters button[type=submit]")
    assert await editor.locator(".event-title").count() == 0 and "category=MUSIC" in editor.url
    await editor.select_option("#filter-category", "PARTY")
    await _click(editor, ".agenda-filters button[type=submit]")
    assert await editor.locator(".event-title", has_text="Bal du comité").count() == 1

    # The map: a marker per event, tiles from the configured server, the list of places beside it.
    visitor = await new_page(browser, viewport=PHONE)
    tiles: list[str] = []
    blocked: list[str] = []
    visitor.on("console", lambda message: blocked.append(message.text)
               if "Content Security Policy" in message.text else None)

    async def tile(route: Any) -> None:
        tiles.append(route.request.url)
        await route.fulfill(status=200, content_type="image/png", body=picture((230, 230, 230)))

    await visitor.route("https://tiles.test/**", tile)
    await visitor.goto(f"{instance.base_url}/agenda/map")
    await visitor.wait_for_selector(".leaflet-marker-icon")
    assert await visitor.locator(".leaflet-marker-icon").count() == 1
    assert await visitor.get_attribute(".leaflet-marker-icon", "title") == "Bal du comité"
    await visitor.wait_for_function("document.querySelectorAll('.leaflet-tile-loaded').length > 0")
    assert tiles and all(url.startswith("https://tiles.test/") for url in tiles)
    assert "© Tuiles de test" in await visitor.inner_text(".leaflet-control-attribution")
    assert "Bal du comité" in await visitor.inner_text("#map-events")
    await visitor.click(".leaflet-marker-icon")
    assert await visitor.locator(".leaflet-popup a", has_text="Bal du comité").count() == 1
    assert blocked == []
    assert await visitor.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # A resident takes part and adds the event to their calendar.
    resident = await new_page(browser)
    await sign_in(resident, instance, "bob")
    await resident.goto(f"{instance.base_url}/agenda")
    await _click(resident, "a:has-text('Bal du comité')")
    await _click(resident, "button:has-text('J’y vais')")
    assert "Vous participez à cet événement." in await resident.inner_text("[role=status]")
    assert "1 participant" in await resident.inner_text(".event-facts")
    async with instance.runtime.sessions() as session:
        state = await session.scalar(select(Participation.state).where(Participation.actor_id == bob.id))
    assert state == "accepted"
    async with resident.expect_download() as started:
        await resident.click("text=Ajouter à mon agenda (.ics)")
    download = await started.value
    body = await asyncio.to_thread(Path(await download.path()).read_bytes)
    entry = next(iter(Calendar.from_ical(body).walk("VEVENT")))
    assert str(entry["SUMMARY"]) == "Bal du comité" and str(entry["LOCATION"]).startswith("Salle des fêtes")
    assert entry.decoded("DTSTART").strftime("%H:%M") == "20:30" and str(entry["DTSTART"].params["TZID"]) == \
        "Europe/Paris"

    # The agenda in English, for a visitor whose browser asks for it.
    english = await (await browser.new_context(ignore_https_errors=True, locale="en-GB")).new_page()
    await english.goto(f"{instance.base_url}/agenda")
    assert await english.get_attribute("html", "lang") == "en"
    text = await english.inner_text("main")
    assert "Upcoming" in text and "Party" in text and "by Comité des fêtes" in text and "Follow this agenda" in text


async def test_an_organiser_restricts_an_event_approves_a_request_and_the_next_resident_finds_it_full(
        make_instance, browser) -> None:
    instance, alice, bob, comite = await _club(make_instance, map_tile_url="")
    carol = await make_account(instance, "carol", display_name="Carol Petit")
    organiser = await new_page(browser)
    await sign_in(organiser, instance, "alice")
    await _act_as(organiser, comite)
    await organiser.goto(f"{instance.base_url}/agenda/new")
    await _fill_event(organiser, soon(5), title="Atelier crêpes")
    await organiser.fill("#photo-1-alt", "")
    await _click(organiser, "form.event-form button[type=submit]")
    [event] = await _events(instance)
    page_url = organiser.url.split("?")[0]

    await _click(organiser, "text=Modifier l’événement")
    assert await organiser.input_value("#start-time") == "20:30" and await organiser.input_value("#title") == \
        "Atelier crêpes"
    await organiser.fill("#capacity", "1")
    await organiser.check("input[name=join_mode][value=restricted]")
    await _click(organiser, "form.event-form button[type=submit]")
    assert "L’événement a été modifié." in await organiser.inner_text("[role=status]")

    resident = await new_page(browser)
    await sign_in(resident, instance, "bob")
    await resident.goto(page_url)
    await resident.fill("#participation-message", "Je viendrai avec ma fille")
    await _click(resident, "button:has-text('Demander à participer')")
    assert "Demande envoyée, en attente de la réponse de l’organisateur." in await resident.inner_text("[role=status]")

    await organiser.goto(page_url)
    pending = organiser.locator("ul[aria-labelledby=pending-title] li")
    assert "Bob Leroy" in await pending.inner_text() and "Je viendrai avec ma fille" in await pending.inner_text()
    await _click(organiser, "ul[aria-labelledby=pending-title] button:has-text('Accepter')")
    assert "La participation a été acceptée." in await organiser.inner_text("[role=status]")
    assert "Bob Leroy" in await organiser.inner_text("ul[aria-labelledby=accepted-title]")
    await resident.reload()
    assert "Vous participez à cet événement." in await resident.inner_text(".event-actions")

    latecomer = await new_page(browser)
    await sign_in(latecomer, instance, "carol")
    await latecomer.goto(page_url)
    assert "Désolé, cet événement est complet" in await latecomer.inner_text(".event-actions")
    assert await latecomer.locator("button:has-text('Demander à participer')").count() == 0
    async with instance.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Participation).where(
            Participation.actor_id == carol.id)) == 0

    await _click(organiser, "button:has-text('Annuler l’événement')")
    assert "L’événement est annulé" in await organiser.inner_text("[role=status]")
    await latecomer.reload()
    assert await latecomer.inner_text(".event-header .event-state") == "Annulé"
    assert (await _events(instance))[0].event_status == "CANCELLED"
    assert event.actor_id == comite.id and alice.id != comite.id


# ---------------------------------------------------------------------------------------------
# Plain HTTP: refused forms and who may change an event
# ---------------------------------------------------------------------------------------------


def _fields(csrf: str, acting: Actor, **values: str) -> dict[str, str]:
    fields = {"csrf_token": csrf, "acting_id": str(acting.id), "title": "Loto de l'école", "description": "Lots",
              "start_date": soon(), "start_time": "14:00", "end_date": "", "end_time": "18:00",
              "timezone": "Europe/Paris", "place_name": "Salle polyvalente", "street": "", "commune": MAEN_ROCH,
              "latitude": "", "longitude": "", "online_url": "", "category": "GAMES", "capacity": "",
              "join_mode": "free", "external_url": "", "status": "CONFIRMED"}
    fields.update(values)
    return fields


async def _send(instance: LiveInstance, path: str, cookie: str, fields: dict[str, str],
                files: dict[str, bytes] | None = None, **headers: str) -> Answer:
    form = aiohttp.FormData()
    for key, value in fields.items():
        form.add_field(key, value)
    for key, body in (files or {}).items():
        form.add_field(key, body, filename=f"{key}.png", content_type="image/png")
    async with aiohttp.ClientSession(cookies={COOKIE_NAME: cookie}) as http, http.post(
            instance.base_url + path, data=form, headers=headers, ssl=ssl.create_default_context(),
            allow_redirects=False) as response:
        return Answer(response.status, response.headers, await response.text())


@pytest.fixture
async def club(make_instance):
    return await _club(make_instance, map_tile_url="")


REFUSED = [
    ({"start_date": ""}, "start-date", "start_date", "Indiquez la date de début de l’événement."),
    ({"start_time": ""}, "start-time", "start_time", "Indiquez aussi l’heure."),
    ({"start_time": "25:00"}, "start-time", "start_time", "Indiquez une heure comme 20:30."),
    ({"start_date": "31/02/2027"}, "start-date", "start_date", "Cette date n’existe pas"),
    ({"start_date": "1900-01-01"}, "start-date", "start_date", "Cette date n’est pas plausible"),
    ({"start_date": "2999-01-01"}, "start-date", "start_date", "Cette date n’est pas plausible"),
    ({"end_date": "2020-01-01", "end_time": "10:00"}, "end-date", "end_date",
     "L’événement ne peut pas finir avant de commencer."),
    ({"end_time": "09:00"}, "end-date", "end_date", "L’événement ne peut pas finir avant de commencer."),
    ({"start_date": "2021-06-01", "end_time": ""}, "start-date", "start_date", "Cet événement serait déjà terminé"),
    ({"title": "<b>Loto</b>"}, "title", "title", "Le titre est du texte simple"),
    ({"title": "  "}, "title", "title", "Donnez un titre à l’événement."),
    ({"latitude": "123", "longitude": "2"}, "latitude", "latitude", "Indiquez un nombre entre -90 et 90"),
    ({"latitude": "48.4"}, "longitude", "longitude", "Indiquez la latitude et la longitude, ou aucune des deux."),
    ({"latitude": "nord", "longitude": "-1.3"}, "latitude", "latitude", "Indiquez un nombre entre -90 et 90"),
    ({"capacity": "-3"}, "capacity", "capacity", "Indiquez un nombre entier de places"),
    ({"join_mode": "external"}, "external-url", "external_url", "Indiquez l’adresse du site où l’on s’inscrit."),
    ({"online_url": "javascript:alert(1)"}, "online-url", "online_url", "Indiquez une adresse web complète"),
    ({"commune": "75056"}, "commune", "commune", "Choisissez une commune du territoire, ou aucune."),
    ({"category": "DANCE"}, "category", "category", "Choisissez une catégorie dans la liste."),
    ({"timezone": "Mars/Olympus"}, "timezone", "timezone", "Choisissez un fuseau horaire dans la liste."),
    ({"status": "MAYBE"}, "status", "status", "Indiquez si l’événement est confirmé"),
]


async def test_each_refused_event_form_comes_back_with_its_error_next_to_the_field_and_publishes_nothing(
        club) -> None:
    instance, alice, _bob, _comite = club
    cookie, csrf = await signed(instance, alice)
    for values, input_id, field, message in REFUSED:
        answer = await _send(instance, "/agenda/new", cookie, _fields(csrf, alice, **values))
        assert answer.status == 422, values
        assert message in answer.text, values
        assert f'<p class="field-error" id="{field}-error">' in answer.text, values
        tag = answer.text.split(f'id="{input_id}"', 1)[1].split(">", 1)[0]
        assert 'aria-invalid="true"' in tag and f"{field}-error" in tag, values
        kept = values.get("title", "Loto de l'école").replace("'", "&#39;").replace("<", "&lt;").replace(">", "&gt;")
        assert f'value="{kept.strip()}"' in answer.text, values  # what was typed comes back
    assert await _events(instance) == []


async def test_refusals_are_in_the_visitors_language_and_a_good_form_publishes_once(club) -> None:
    instance, alice, _bob, _comite = club
    async with instance.runtime.transaction() as session:
        (await session.get(User, await user_id(instance, alice))).locale = "en"
    cookie, csrf = await signed(instance, alice)
    refused = await _send(instance, "/agenda/new", cookie, _fields(csrf, alice, end_time="09:00", title="<i>x</i>"))
    assert refused.status == 422 and refused.has("The event cannot end before it starts.",
                                                 "The title is plain text", "2 fields need your attention:")
    forged = await _send(instance, "/agenda/new", cookie, _fields("forged", alice))
    assert forged.status == 403 and await _events(instance) == []
    published = await _send(instance, "/agenda/new", cookie, _fields(csrf, alice, latitude="48,39",
                                                                    longitude="-1,35"),
                            files={"photo_1": picture((10, 10, 200))})
    assert published.status == 422 and published.has("Describe each photo")  # the picture has no description
    kept = published.text.split('name="kept_media" value="', 1)[1].split('"', 1)[0]
    published = await _send(instance, "/agenda/new", cookie, {**_fields(csrf, alice, latitude="48,39",
                                                                        longitude="-1,35"),
                                                              "kept_media": kept, f"media_{kept}_alt": "Les lots"})
    [event] = await _events(instance)
    assert published.status == 303 and published.headers["Location"].endswith("?done=created")
    assert (event.latitude, event.longitude, event.actor_id) == (48.39, -1.35, alice.id)
    assert event.ends_at - event.starts_at == timedelta(hours=4)


async def test_only_the_organiser_and_their_team_edit_cancel_or_delete_an_event(club) -> None:
    instance, alice, bob, comite = club
    start = datetime.fromisoformat(f"{soon()}T14:00")
    event = await EventCommands(instance.runtime).create_event(comite.id, event_spec({
        "title": "Vide-grenier", "start": start.isoformat(), "end": start.replace(hour=18).isoformat(),
        "commune": MAEN_ROCH, "category": "GAMES"}))
    cookie, csrf = await signed(instance, alice)  # on the association's team, acting as herself
    stranger_cookie, stranger_csrf = await signed(instance, bob)
    assert (await get(instance, f"/events/{event.id}/edit", cookie=stranger_cookie)).status == 403
    refused = await _send(instance, f"/events/{event.id}/cancel", stranger_cookie, {"csrf_token": stranger_csrf})
    assert refused.status == 403 and refused.has("Seuls l’organisateur de cet événement et son équipe")
    assert (await _send(instance, f"/events/{event.id}/delete", stranger_cookie,
                        {"csrf_token": stranger_csrf})).status == 403
    assert (await _events(instance))[0].event_status == "CONFIRMED"
    assert (await get(instance, f"/events/{event.id}/edit")).status == 303  # sign in first

    form = await get(instance, f"/events/{event.id}/edit", cookie=cookie)
    assert form.status == 200 and form.has('value="Vide-grenier"', 'value="14:00"', 'value="18:00"')
    changed = await _send(instance, f"/events/{event.id}/edit", cookie,
                          _fields(csrf, alice, title="Vide-grenier de printemps", description="Lots",
                                  status="TENTATIVE"))
    assert changed.status == 303 and changed.headers["Location"].endswith("?done=updated")
    async with instance.runtime.sessions() as session:
        edited = await session.get(Event, event.id)
    assert (edited.title, edited.event_status) == ("Vide-grenier de printemps", "TENTATIVE")
    page = await get(instance, changed.headers["Location"])
    assert page.has("<strong>À confirmer</strong>", "L’événement a été modifié.")
    # A picture added (stored as the association's, whose event it is), then removed.
    with_picture = await _send(instance, f"/events/{event.id}/edit", cookie,
                               {**_fields(csrf, alice, title="Vide-grenier de printemps"), "photo_1_alt": "Des stands"},
                               files={"photo_1": picture((30, 160, 60))})
    assert with_picture.status == 303
    async with instance.runtime.sessions() as session:
        [added] = (await session.scalars(select(Attachment).where(Attachment.status_id == event.status_id))).all()
    assert (added.actor_id, added.description) == (comite.id, "Des stands")
    form = await get(instance, f"/events/{event.id}/edit", cookie=cookie)
    assert form.has("Image actuelle", "Description : Des stands", 'name="remove_picture"')
    removed = await _send(instance, f"/events/{event.id}/edit", cookie,
                          {**_fields(csrf, alice, title="Vide-grenier de printemps"), "remove_picture": "1"})
    assert removed.status == 303
    async with instance.runtime.sessions() as session:
        assert (await session.scalars(select(Attachment).where(Attachment.status_id == event.status_id))).all() == []
    bad = await _send(instance, f"/events/{event.id}/edit", cookie, _fields(csrf, alice, end_time="08:00"))
    assert bad.status == 422 and bad.has("L’événement ne peut pas finir avant de commencer.")

    confirm = await get(instance, f"/events/{event.id}/delete", cookie=cookie)
    assert confirm.status == 200 and confirm.has("Supprimer « Vide-grenier de printemps » ?")
    deleted = await _send(instance, f"/events/{event.id}/delete", cookie, {"csrf_token": csrf})
    assert deleted.status == 303 and deleted.headers["Location"] == "/agenda?done=deleted"
    assert await _events(instance) == []
    assert (await get(instance, f"/events/{event.id}")).status == 404


async def test_anonymous_visitors_are_sent_to_sign_in_before_the_form(club) -> None:
    instance, *_ = club
    answer = await get(instance, "/agenda/new")
    assert answer.status == 303 and answer.headers["Location"] == "/auth/sign_in?next=%2Fagenda%2Fnew"
    assert (await get(instance, "/events/99999/edit")).status == 303
