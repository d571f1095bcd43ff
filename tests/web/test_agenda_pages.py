"""The agenda on the website, read over HTTPS from a live instance serving Couesnon Marches de Bretagne:
the next events and the day, week and month views with their filters, local and federated events
together and past ones left out, the map page without JavaScript, the event pages (a federated one at
/events/<id>, a local one at its permalink), taking part (free, restricted then approved, full), and the
cards the home page shows.

Events are written as rows the way posting and federation store them (tests/test_calendar_feeds.py
`add_event`), so each test controls dates, places and states exactly; the browser journeys of the
forms are in tests/web/test_event_forms.py.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from icalendar import Calendar
from sqlalchemy import select

from actors import teams
from fediverse.db import utcnow
from fediverse.models import Actor, Event, Participation, User
from fediverse.templating import environment
from fediverse.web.agenda_pages import upcoming_event_cards
from fediverse.web.agenda_query import Period
from fediverse.web.session import COOKIE_NAME
from tests.federation_steps import make_account
from tests.live import LiveInstance
from tests.test_calendar_feeds import add_event, remote_actor_row
from tests.test_locations import with_territory
from tests.web.test_neighbourhood_pages import session_cookie

PARIS = ZoneInfo("Europe/Paris")
MAEN_ROCH, LE_CHATELLIER = "35257", "35071"


@dataclass
class Answer:
    status: int
    headers: Any
    text: str

    def has(self, *needles: str) -> bool:
        return all(needle in self.text for needle in needles)


async def get(instance: LiveInstance, path: str, *, cookie: str | None = None, **headers: str) -> Answer:
    cookies = {COOKIE_NAME: cookie} if cookie else {}
    async with aiohttp.ClientSession(cookies=cookies) as http, http.get(
            instance.base_url + path, headers=headers, ssl=ssl.create_default_context(),
            allow_redirects=False) as response:
        return Answer(response.status, response.headers, await response.text())


async def post(instance: LiveInstance, path: str, cookie: str, fields: dict[str, Any]) -> Answer:
    async with aiohttp.ClientSession(cookies={COOKIE_NAME: cookie}) as http, http.post(
            instance.base_url + path, data=fields, ssl=ssl.create_default_context(),
            allow_redirects=False) as response:
        return Answer(response.status, response.headers, await response.text())


async def user_id(instance: LiveInstance, actor: Actor) -> int:
    async with instance.runtime.sessions() as session:
        return await session.scalar(select(User.id).where(User.actor_id == actor.id))


async def signed(instance: LiveInstance, actor: Actor) -> tuple[str, str]:
    """The session cookie of `actor`'s login and its CSRF token."""
    return await session_cookie(instance, await user_id(instance, actor))


def paris(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS).astimezone(ZoneInfo("UTC"))


def in_days(days: int) -> date:
    return utcnow().astimezone(PARIS).date() + timedelta(days=days)


def titles(answer: Answer) -> list[str]:
    """Event titles in the order the page lists them (cards and map list)."""
    return re.findall(r'class="(?:event-title|map-event-title)"[^>]*>(?:<a href="[^"]*">)?([^<]+)<', answer.text)


@pytest.fixture
async def town(make_instance):
    """The comité des fêtes (an association; alice is on its team) and a Mobilizon group next door,
    with events: some this coming week, one next month, one federated event that is over."""
    instance = await with_territory(await make_instance("commune-a.test", map_tile_url=""))
    alice = await make_account(instance, "alice", commune_insee=MAEN_ROCH, display_name="Alice")
    bob = await make_account(instance, "bob", commune_insee=MAEN_ROCH, display_name="Bob")
    comite = await make_account(instance, "comite", kind="association", display_name="Comité des fêtes",
                                commune_insee=MAEN_ROCH)
    async with instance.runtime.transaction() as session:
        await teams.add_member(session, comite, await session.get(User, await user_id(instance, alice)), "editor",
                               active=True)
    mobilizon = await remote_actor_row(instance, "mobilizon.test", "bibliotheque", "Bibliothèque du Coglais")
    day = in_days(10)
    events = {
        "bal": await add_event(instance, comite, "Bal du 14 juillet", paris(day, 21), ends_at=paris(day, 23, 30),
                               category="PARTY"),
        "lecture": await add_event(instance, mobilizon, "Lecture au jardin", paris(day + timedelta(days=1), 15),
                                   commune=LE_CHATELLIER, place_name="Jardin public", locality="Le Châtellier",
                                   latitude=48.4156, longitude=-1.2543, category="BOOK_CLUBS",
                                   content="<p>Lectures pour tous</p><script>alert(1)</script>",
                                   image_url="https://mobilizon.test/media/banner.jpg"),
        "marche": await add_event(instance, comite, "Marché de Noël", paris(in_days(40), 10), category="FOOD_DRINK",
                                  latitude=None, longitude=None, commune=None, place_name=None, street=None,
                                  locality=None),
        "ancien": await add_event(instance, mobilizon, "Conférence passée", paris(in_days(-3), 18),
                                  ends_at=paris(in_days(-3), 20), category="LEARNING"),
    }
    return instance, alice, bob, comite, mobilizon, events, day


async def test_the_agenda_lists_local_and_federated_events_to_come_by_day_week_and_month(town) -> None:
    instance, _alice, _bob, _comite, _mobilizon, events, day = town
    upcoming = await get(instance, "/agenda")
    assert upcoming.status == 200
    assert titles(upcoming) == ["Bal du 14 juillet", "Lecture au jardin", "Marché de Noël"]  # not the past one
    assert upcoming.has("Bibliothèque du Coglais", "mobilizon.test", "Fête", "Clubs de lecture")
    # Feeds as visible links and as rel=alternate.
    assert upcoming.has(f'href="webcal://{instance.domain}/agenda.ics"', f'href="{instance.base_url}/agenda.rss"')
    assert upcoming.has(f'<link rel="alternate" type="text/calendar" href="{instance.base_url}/agenda.ics"',
                        f'<link rel="alternate" type="application/atom+xml" href="{instance.base_url}/agenda.atom"')

    one_day = await get(instance, f"/agenda?view=day&date={day.isoformat()}")
    assert titles(one_day) == ["Bal du 14 juillet"] and one_day.has("<h2 id=\"period-title\">")
    next_day = (day + timedelta(days=1)).isoformat()
    assert one_day.has(f'href="/agenda?view=day&amp;date={next_day}" rel="next"')
    assert one_day.has(f'href="/agenda?view=day&amp;date={(day - timedelta(days=1)).isoformat()}" rel="prev"')
    monday = day - timedelta(days=day.weekday())
    week = await get(instance, f"/agenda?view=week&date={day.isoformat()}")
    if (day + timedelta(days=1)).weekday() != 0:  # both in the same Monday-to-Sunday week
        assert titles(week) == ["Bal du 14 juillet", "Lecture au jardin"]
    assert week.has(f"date={(monday + timedelta(days=7)).isoformat()}\" rel=\"next\"")
    month_of_marche = in_days(40)
    month = await get(instance, f"/agenda?view=month&date={month_of_marche.isoformat()}")
    assert "Marché de Noël" in titles(month) and "Conférence passée" not in titles(month)

    # This week: nothing before it is offered (the agenda has no past), and a past period says why.
    this_week = await get(instance, "/agenda?view=week")
    assert this_week.status == 200 and 'rel="prev"' not in this_week.text
    past = await get(instance, f"/agenda?view=week&date={in_days(-14).isoformat()}")
    assert past.status == 200 and titles(past) == [] and past.has("événements terminés ne sont pas dans l’agenda")


async def test_filters_narrow_the_agenda_and_bad_values_are_said_not_ignored(town) -> None:
    instance, _alice, _bob, comite, mobilizon, _events, _day = town
    by_commune = await get(instance, f"/agenda?commune={LE_CHATELLIER}")
    assert titles(by_commune) == ["Lecture au jardin"]
    assert by_commune.has(f"webcal://{instance.domain}/communes/{LE_CHATELLIER}/agenda.ics",
                          f"/agenda.rss?commune={LE_CHATELLIER}", "Agenda – Le Châtellier")
    by_category = await get(instance, "/agenda?category=FOOD_DRINK")
    assert titles(by_category) == ["Marché de Noël"]
    assert by_category.has('<option value="FOOD_DRINK" selected>Nourriture & boissons</option>')
    by_organiser = await get(instance, "/agenda?organizer=comite")
    assert titles(by_organiser) == ["Bal du 14 juillet", "Marché de Noël"]
    assert by_organiser.has(f"webcal://{instance.domain}/@comite/agenda.ics")
    remote_organiser = await get(instance, "/agenda?organizer=bibliotheque@mobilizon.test")
    assert titles(remote_organiser) == ["Lecture au jardin"]
    words = await get(instance, "/agenda?q=jardin")
    assert titles(words) == ["Lecture au jardin"]
    # The organiser filter offers the accounts with events to come, local and federated.
    assert by_commune.has('<option value="comite">Comité des fêtes</option>',
                          '<option value="bibliotheque@mobilizon.test">Bibliothèque du Coglais')

    for query, message in (("category=DANCE", "Cette catégorie n’existe pas."),
                           ("commune=99999", "Cette commune n’est pas dans l’agenda."),
                           ("organizer=nobody", "Aucun organisateur ne porte ce nom."),
                           ("view=year", "Choisissez une vue"),
                           ("view=day&date=2027-02-30", "La date doit s’écrire AAAA-MM-JJ."),
                           ("view=day&date=1850-01-01", "Cette date est trop lointaine."),
                           ("cursor=garbage", "Cette page de l’agenda n’existe pas.")):
        refused = await get(instance, f"/agenda?{query}")
        assert refused.status == 400 and message in refused.text, query
        if "date=" not in query:  # the list without the refused filter (a refused date: the day of today)
            assert titles(refused) == ["Bal du 14 juillet", "Lecture au jardin", "Marché de Noël"], query

    english = await get(instance, "/agenda?category=BOOK_CLUBS", **{"Accept-Language": "en-GB,en"})
    assert english.status == 200 and titles(english) == ["Lecture au jardin"]
    assert english.has('<html lang="en">', "Upcoming", "Book clubs", "by Bibliothèque du Coglais", "Follow this agenda")
    bad_english = await get(instance, "/agenda?category=DANCE", **{"Accept-Language": "en"})
    assert bad_english.status == 400 and bad_english.has("This category does not exist.")


async def test_the_list_pages_on_with_a_cursor(town) -> None:
    instance, _alice, _bob, comite, _mobilizon, _events, day = town
    for number in range(21):
        await add_event(instance, comite, f"Atelier {number:02d}", paris(day + timedelta(days=2), 9, number),
                        category="CRAFTS")
    first = await get(instance, "/agenda")
    assert len(titles(first)) == 20
    later = re.search(r'href="(/agenda\?cursor=[^"]+)" rel="next"', first.text)
    assert later is not None
    second = await get(instance, later.group(1).replace("&amp;", "&"))
    assert titles(second) == ["Atelier 18", "Atelier 19", "Atelier 20", "Marché de Noël"]


async def test_the_map_page_lists_every_event_and_its_place_without_javascript_or_tiles(town) -> None:
    instance, *_ = town
    answer = await get(instance, "/agenda/map")
    assert answer.status == 200
    assert answer.has('src="/static/leaflet/leaflet.js" defer', 'src="/static/agenda-map.js" defer',
                      'href="/static/leaflet/leaflet.css"', 'id="agenda-map" class="agenda-map" hidden',
                      'data-tiles=""')
    markers = re.findall(r'<li data-lat="([^"]+)" data-lon="([^"]+)" data-title="([^"]+)"', answer.text)
    assert [(float(lat), float(lon), title) for lat, lon, title in markers] == [
        (48.3957, -1.3527, "Bal du 14 juillet"), (48.4156, -1.2543, "Lecture au jardin")]
    assert answer.has("openstreetmap.org/?mlat=48.41560&amp;mlon=-1.25430", "Événements sans place sur la carte",
                      "Marché de Noël")
    assert "<script>" not in answer.text.split("</head>")[1]  # no inline script in the body
    for asset in ("/static/leaflet/leaflet.js", "/static/leaflet/leaflet.css", "/static/leaflet/images/marker-icon.png",
                  "/static/agenda-map.js", "/static/agenda.css"):
        async with aiohttp.ClientSession() as http, http.get(instance.base_url + asset,
                                                             ssl=ssl.create_default_context()) as response:
            assert response.status == 200, asset


async def test_a_federated_event_has_its_own_page_with_every_detail_and_its_origin(town) -> None:
    instance, _alice, _bob, _comite, _mobilizon, events, day = town
    event, status = events["lecture"]
    answer = await get(instance, f"/events/{event.id}")
    assert answer.status == 200
    assert answer.has("<title>Lecture au jardin · ", "<h1 id=\"event-title\">Lecture au jardin</h1>",
                      "Jardin public", "Le Châtellier", "Voir le lieu sur OpenStreetMap", "Clubs de lecture",
                      'href="https://mobilizon.test/@bibliotheque"', "Bibliothèque du Coglais",
                      f'href="{status.url}"', ">mobilizon.test<", "15:00", "heure", "<p>Lectures pour tous</p>",
                      f'href="/events/{event.id}.ics" download', f"webcal://{instance.domain}/events/{event.id}.ics",
                      '<img class="event-banner" src="https://mobilizon.test/media/banner.jpg"')
    assert "<script>alert" not in answer.text  # remote HTML sanitized before it is shown
    assert answer.has('<meta property="og:title" content="Lecture au jardin">',
                      '<meta property="og:image" content="https://mobilizon.test/media/banner.jpg">',
                      f'<link rel="alternate" type="application/activity+json" href="{status.uri}">',
                      f'<link rel="alternate" type="text/calendar" href="{instance.base_url}/events/{event.id}.ics"')
    by_uuid = await get(instance, f"/events/{event.uuid}")
    assert by_uuid.status == 200 and by_uuid.has("Lecture au jardin")
    english = await get(instance, f"/events/{event.id}", **{"Accept-Language": "en"})
    assert english.has("3:00\u202fPM", "Book clubs", "See the place on OpenStreetMap", "Sign in to take part")

    local, local_status = events["bal"]
    moved = await get(instance, f"/events/{local.id}")
    assert moved.status == 301 and moved.headers["Location"] == f"/@comite/{local_status.id}"
    permalink = await get(instance, f"/@comite/{local_status.id}")
    assert permalink.status == 200 and permalink.has("Bal du 14 juillet", "de 21:00 à 23:30", "Salle des fêtes",
                                                     "2 rue de l&#39;Église, 35460 Maen Roch")
    over, _ = events["ancien"]
    history = await get(instance, f"/events/{over.id}")
    assert history.status == 200 and history.has("Cet événement est terminé.")
    assert (await get(instance, "/events/123456789")).status == 404
    assert (await get(instance, "/events/not-an-event")).status == 404


async def _participate(instance: LiveInstance, actor: Actor, event: Event, action: str = "join",
                       message: str = "") -> Answer:
    cookie, csrf = await signed(instance, actor)
    return await post(instance, f"/events/{event.id}/participation", cookie,
                      {"csrf_token": csrf, "action": action, "message": message})


async def _state(instance: LiveInstance, event: Event, actor: Actor) -> str | None:
    async with instance.runtime.sessions() as session:
        return await session.scalar(select(Participation.state).where(Participation.event_id == event.id,
                                                                      Participation.actor_id == actor.id))


async def _set(instance: LiveInstance, event: Event, **values: Any) -> None:
    async with instance.runtime.transaction() as session:
        row = await session.get(Event, event.id)
        for key, value in values.items():
            setattr(row, key, value)


async def test_taking_part_free_restricted_and_full_events_with_clear_answers(town) -> None:
    instance, alice, bob, comite, _mobilizon, events, _day = town
    bal, bal_status = events["bal"]
    await _set(instance, bal, capacity=1)
    joined = await _participate(instance, bob, bal)
    assert joined.status == 303 and joined.headers["Location"] == f"/@comite/{bal_status.id}?done=joined"
    assert await _state(instance, bal, bob) == "accepted"
    cookie, _ = await signed(instance, bob)
    page = await get(instance, f"/@comite/{bal_status.id}?done=joined", cookie=cookie)
    assert page.has("Vous participez à cet événement.", "Annuler ma participation", "Complet")

    carol = await make_account(instance, "carol", display_name="Carol")
    full = await _participate(instance, carol, bal)
    assert full.status == 409 and full.has("Désolé, cet événement est complet : il ne reste aucune place.")
    assert await _state(instance, bal, carol) is None

    left = await _participate(instance, bob, bal, "leave")
    assert left.status == 303 and await _state(instance, bal, bob) is None
    assert (await _participate(instance, carol, bal)).status == 303  # the place freed is taken

    # Restricted: a request, then the organiser's team approves it from the event page.
    await _set(instance, bal, join_mode="restricted", capacity=None)
    asked = await _participate(instance, bob, bal, message="Je viendrai avec ma fille")
    assert asked.headers["Location"].endswith("?done=requested") and await _state(instance, bal, bob) == "pending"
    bob_page = await get(instance, f"/@comite/{bal_status.id}", cookie=cookie)
    assert bob_page.has("Demande envoyée, en attente de la réponse de l’organisateur.", "Retirer ma demande")
    organiser_cookie, organiser_csrf = await signed(instance, alice)  # a team member, acting as herself
    corner = await get(instance, f"/@comite/{bal_status.id}", cookie=organiser_cookie)
    assert corner.has("Demandes en attente de votre réponse", "Bob", "Je viendrai avec ma fille",
                      f'/events/{bal.id}/participants/{bob.id}/approve')
    stranger_cookie, stranger_csrf = await signed(instance, carol)
    refused = await post(instance, f"/events/{bal.id}/participants/{bob.id}/approve", stranger_cookie,
                         {"csrf_token": stranger_csrf})
    assert refused.status == 403 and await _state(instance, bal, bob) == "pending"
    forged = await post(instance, f"/events/{bal.id}/participants/{bob.id}/approve", organiser_cookie,
                        {"csrf_token": "forged"})
    assert forged.status == 403 and await _state(instance, bal, bob) == "pending"
    approved = await post(instance, f"/events/{bal.id}/participants/{bob.id}/approve", organiser_cookie,
                          {"csrf_token": organiser_csrf})
    assert approved.status == 303 and await _state(instance, bal, bob) == "accepted"

    # Cancelled and external events refuse, in words.
    await _set(instance, bal, event_status="CANCELLED")
    dave = await make_account(instance, "dave")
    cancelled = await _participate(instance, dave, bal)
    assert cancelled.status == 422 and cancelled.has("Cet événement est annulé")
    anonymous = await get(instance, f"/@comite/{bal_status.id}")
    assert anonymous.has("<strong>Annulé</strong>") and "Se connecter pour participer" not in anonymous.text
    marche, _ = events["marche"]
    await _set(instance, marche, join_mode="external", external_url="https://billetterie.example/noel")
    external = await _participate(instance, dave, marche)
    assert external.status == 422 and external.has("Les inscriptions à cet événement se font sur un autre site")
    assert external.has('href="https://billetterie.example/noel"')
    # A federated event: the request goes to the organiser's server (a Join), pending until it answers.
    lecture, _ = events["lecture"]
    remote = await _participate(instance, dave, lecture, message="Bonjour")
    assert remote.status == 303 and remote.headers["Location"] == f"/events/{lecture.id}?done=requested"
    assert await _state(instance, lecture, dave) == "pending"
    nobody = await post(instance, f"/events/{bal.id}/participation", "", {"action": "join"})
    assert nobody.status == 303 and nobody.headers["Location"] == f"/auth/sign_in?next=%2Fevents%2F{bal.id}"


async def test_a_resident_downloads_the_event_for_their_calendar(town) -> None:
    instance, *_rest, events, _day = town
    event, status = events["bal"]
    async with aiohttp.ClientSession() as http, http.get(
            f"{instance.base_url}/events/{event.id}.ics", ssl=ssl.create_default_context()) as response:
        body = await response.read()
    entry = next(iter(Calendar.from_ical(body).walk("VEVENT")))
    assert str(entry["SUMMARY"]) == "Bal du 14 juillet" and str(entry["UID"]) == status.uri
    assert entry.decoded("DTSTART") == event.starts_at.astimezone(PARIS)


async def test_upcoming_event_cards_give_the_home_page_the_next_events(town) -> None:
    instance, *_rest = town
    cards = await upcoming_event_cards(instance.runtime, 2)
    assert [card.title for card in cards] == ["Bal du 14 juillet", "Lecture au jardin"]
    assert cards[0].path.startswith("/@comite/") and cards[1].path == f"/events/{cards[1].event_id}"
    assert [card.title for card in await upcoming_event_cards(instance.runtime, 5, commune=LE_CHATELLIER)] == [
        "Lecture au jardin"]
    template = environment("fr").from_string(
        '{% from "agenda/_macros.html" import event_card %}{% for card in cards %}{{ event_card(card) }}{% endfor %}')
    html = template.render(cards=cards)
    assert "Bal du 14 juillet" in html and "Fête" in html and "par Comité des fêtes" in html
    assert 'src="https://mobilizon.test/media/banner.jpg"' in html and "de mobilizon.test" in html


def test_periods_run_monday_to_sunday_and_whole_months() -> None:
    week = Period.around("week", date(2030, 6, 13))  # a Thursday
    assert (week.first, week.after) == (date(2030, 6, 10), date(2030, 6, 17))
    month = Period.around("month", date(2030, 12, 31))
    assert (month.first, month.after) == (date(2030, 12, 1), date(2031, 1, 1))
    assert month.previous == date(2030, 11, 1)
    spring = Period.around("day", date(2030, 3, 31))  # the night clocks go forward
    assert spring.end.astimezone(UTC) - spring.start.astimezone(UTC) == timedelta(hours=23)
    assert Period.around("week", date(2030, 6, 13)).title("fr") == "10–16 juin 2030"
    assert Period.around("month", date(2030, 6, 13)).title("en") == "June 2030"
