"""iCalendar, Atom and RSS feeds of the agenda and the petites annonces, read over HTTPS from a live
instance serving Couesnon Marches de Bretagne, and parsed back with the `icalendar` and `feedparser`
packages the way calendar apps and feed readers read them.

Events and ads are written as rows (an Event status + its Event row, a Note status + its Ad row), the
way the posting and federation code stores them, so each test controls dates, places and states exactly.
"""

from __future__ import annotations

import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import feedparser
import pytest
from icalendar import Calendar
from sqlalchemy import update

from fediverse.db import utcnow
from fediverse.ids import new_id
from fediverse.models import Actor, Ad, Attachment, Event, Participation, Status, StatusEdit
from tests.conftest import issue_token
from tests.federation_steps import make_account
from tests.live import LiveInstance
from tests.test_locations import with_territory

MAEN_ROCH, BAZOUGES = "35257", "35019"
PARIS = "Europe/Paris"
TERRITORY = "Couesnon Marches de Bretagne"


@dataclass
class Fetched:
    status: int
    headers: Any
    body: bytes

    def calendar(self) -> Calendar:
        assert self.status == 200, self.body[:500]
        assert self.headers["Content-Type"] == "text/calendar; charset=utf-8"
        return Calendar.from_ical(self.body)

    def events(self) -> dict[str, Any]:
        """VEVENTs by SUMMARY."""
        return {str(event["SUMMARY"]): event for event in self.calendar().walk("VEVENT")}

    def feed(self) -> Any:
        assert self.status == 200, self.body[:500]
        parsed = feedparser.parse(self.body)
        assert not parsed.bozo, parsed.bozo_exception
        return parsed


async def fetch(instance: LiveInstance, path: str, **headers: str) -> Fetched:
    async with aiohttp.ClientSession() as http, http.get(
            instance.base_url + path, headers=headers, ssl=ssl.create_default_context(),
            allow_redirects=False) as response:
        return Fetched(response.status, response.headers, await response.read())


def next_year_at(month: int, day: int, hour: int) -> datetime:
    """A wall-clock time in Paris next year (always in the future, whatever today is), as UTC."""
    from zoneinfo import ZoneInfo

    local = datetime(utcnow().year + 1, month, day, hour, 0, tzinfo=ZoneInfo(PARIS))
    return local.astimezone(UTC)


async def add_event(instance: LiveInstance, organiser: Actor, title: str, starts_at: datetime, *,
                    ends_at: datetime | None = None, timezone: str = PARIS, commune: str | None = MAEN_ROCH,
                    visibility: str = "public", event_status: str = "CONFIRMED", content: str = "<p>Venez !</p>",
                    group: Actor | None = None, latitude: float | None = 48.3957, longitude: float | None = -1.3527,
                    place_name: str | None = "Salle des fêtes", street: str | None = "2 rue de l'Église",
                    postal_code: str | None = "35460", locality: str | None = "Maen Roch",
                    category: str = "PARTY", image_url: str | None = None) -> tuple[Event, Status]:
    status_id = new_id()
    if organiser.domain is None:
        uri = instance.runtime.uris.status(organiser.username, status_id)
        url = instance.runtime.uris.status_page(organiser.username, status_id)
    else:
        uri = url = f"https://{organiser.domain}/events/{uuid.uuid4()}"
    async with instance.runtime.transaction() as session:
        status = Status(id=status_id, uri=uri, url=url, actor_id=organiser.id, local=organiser.domain is None,
                        object_type="Event", visibility=visibility, name=title, content=content,
                        commune_insee=commune, latitude=latitude, longitude=longitude)
        session.add(status)
        await session.flush()
        event = Event(status_id=status.id, actor_id=organiser.id, attributed_to_id=group.id if group else None,
                      local=organiser.domain is None, uuid=str(uuid.uuid4()), title=title, starts_at=starts_at,
                      ends_at=ends_at, timezone=timezone, place_name=place_name, street=street,
                      postal_code=postal_code, locality=locality, commune_insee=commune, latitude=latitude,
                      longitude=longitude, category=category, event_status=event_status)
        session.add(event)
        if image_url:
            session.add(Attachment(status_id=status.id, actor_id=organiser.id, url=image_url, media_type="image/png",
                                   position=0))
    return event, status


async def add_ad(instance: LiveInstance, author: Actor, title: str, *, category: str = "don",
                 commune: str = MAEN_ROCH, price_cents: int | None = None, free: bool = False,
                 state: str = "open", expires_in: timedelta = timedelta(days=30), expired: bool = False,
                 photos: tuple[str, ...] = ()) -> Status:
    status_id = new_id()
    async with instance.runtime.transaction() as session:
        status = Status(id=status_id, uri=instance.runtime.uris.status(author.username, status_id),
                        url=instance.runtime.uris.status_page(author.username, status_id), actor_id=author.id,
                        local=True, object_type="Note", visibility="public",
                        content=f"<p><strong>{title}</strong></p><p>À venir chercher.</p>", commune_insee=commune)
        session.add(status)
        await session.flush()
        session.add(Ad(status_id=status.id, actor_id=author.id, title=title, category=category,
                       price_cents=price_cents, free=free, commune_insee=commune,
                       expires_at=utcnow() + expires_in, state=state,
                       closed_reason="donne" if state == "closed" else None,
                       expired_at=utcnow() if expired else None))
        for position, url in enumerate(photos):
            session.add(Attachment(status_id=status.id, actor_id=author.id, url=url, media_type="image/jpeg",
                                   position=position))
    return status


async def remote_actor_row(instance: LiveInstance, domain: str, username: str, name: str) -> Actor:
    async with instance.runtime.transaction() as session:
        actor = Actor(uri=f"https://{domain}/@{username}", username=username, username_lower=username,
                      domain=domain, domain_key=domain, display_name=name, inbox_url=f"https://{domain}/inbox")
        session.add(actor)
    return actor


@pytest.fixture
async def town(make_instance):
    instance = await with_territory(await make_instance("commune-a.test"))
    alice = await make_account(instance, "alice", commune_insee=MAEN_ROCH, display_name="Alice")
    comite = await make_account(instance, "comite", kind="association", display_name="Comité des fêtes")
    return instance, alice, comite


# ---------------------------------------------------------------------------------------------
# iCalendar
# ---------------------------------------------------------------------------------------------


async def test_agenda_ics_lists_upcoming_and_recent_public_events_at_the_right_instant_in_their_zone(town):
    instance, alice, _ = town
    summer = next_year_at(7, 14, 20)  # CEST: 18:00 UTC
    winter = next_year_at(1, 15, 20)  # CET: 19:00 UTC
    await add_event(instance, alice, "Bal du 14 juillet", summer, ends_at=summer + timedelta(hours=4))
    await add_event(instance, alice, "Galette des rois", winter)
    await add_event(instance, alice, "Vide-grenier de la semaine dernière", utcnow() - timedelta(days=10))
    await add_event(instance, alice, "Fête d'il y a deux mois", utcnow() - timedelta(days=60),
                    ends_at=utcnow() - timedelta(days=40))
    await add_event(instance, alice, "Réunion non listée", summer, visibility="unlisted")
    await add_event(instance, alice, "Anniversaire entre abonnés", summer, visibility="private")

    fetched = await fetch(instance, "/agenda.ics")
    calendar = fetched.calendar()
    events = fetched.events()

    assert sorted(events) == ["Bal du 14 juillet", "Galette des rois", "Vide-grenier de la semaine dernière"]
    assert fetched.headers["Cache-Control"] == "public, max-age=300"
    assert str(calendar["VERSION"]) == "2.0" and str(calendar["METHOD"]) == "PUBLISH"
    assert str(calendar["CALSCALE"]) == "GREGORIAN" and "PRODID" in calendar
    assert str(calendar["X-WR-CALNAME"]) == f"Agenda – {TERRITORY}"
    assert str(calendar["X-WR-TIMEZONE"]) == PARIS
    assert [str(zone["TZID"]) for zone in calendar.walk("VTIMEZONE")] == [PARIS]

    bal, galette = events["Bal du 14 juillet"], events["Galette des rois"]
    assert bal["DTSTART"].params["TZID"] == PARIS and galette["DTSTART"].params["TZID"] == PARIS
    assert bal.decoded("DTSTART").hour == 20 and galette.decoded("DTSTART").hour == 20
    assert bal.decoded("DTSTART").utcoffset() == timedelta(hours=2)
    assert galette.decoded("DTSTART").utcoffset() == timedelta(hours=1)
    assert bal.decoded("DTSTART").astimezone(UTC) == summer and bal.decoded("DTSTART").astimezone(UTC).hour == 18
    assert galette.decoded("DTSTART").astimezone(UTC) == winter and winter.hour == 19
    assert bal.decoded("DTEND").astimezone(UTC) == summer + timedelta(hours=4)
    assert "DTEND" not in galette


async def test_a_vevent_carries_place_status_organiser_and_escaped_plain_text(town):
    instance, alice, comite = town
    start = next_year_at(6, 21, 19)
    event, status = await add_event(
        instance, alice, "Fête de la musique, édition 2; la nuit", start, event_status="CANCELLED", group=comite,
        content="<p>Concerts <b>gratuits</b>, buvette; tombola</p><p>Deuxième <a href='https://x.test'>ligne</a>"
                "</p><script>alert(1)</script>", category="MUSIC", image_url="https://commune-a.test/media/b.png")
    async with instance.runtime.transaction() as session:
        session.add_all([StatusEdit(status_id=status.id, content="v1"), StatusEdit(status_id=status.id, content="v2")])

    fetched = await fetch(instance, "/agenda.ics")
    vevent = fetched.events()["Fête de la musique, édition 2; la nuit"]

    assert b"SUMMARY:F\xc3\xaate de la musique\\, \xc3\xa9dition 2\\; la nuit" in fetched.body
    assert b"\\n" in fetched.body  # the paragraph break, escaped
    assert str(vevent["DESCRIPTION"]) == "Concerts gratuits, buvette; tombola\n\nDeuxième ligne"
    assert "<" not in str(vevent["DESCRIPTION"]) and "alert" not in str(vevent["DESCRIPTION"])
    assert str(vevent["STATUS"]) == "CANCELLED"
    assert str(vevent["LOCATION"]) == "Salle des fêtes, 2 rue de l'Église, 35460 Maen Roch"
    assert (vevent["GEO"].latitude, vevent["GEO"].longitude) == (48.3957, -1.3527)
    assert str(vevent["UID"]) == status.uri
    assert str(vevent["URL"]) == status.url
    assert vevent["ORGANIZER"].params["CN"] == "Comité des fêtes"
    assert str(vevent["ORGANIZER"]) == comite.url or str(vevent["ORGANIZER"]) == comite.uri
    assert vevent["CATEGORIES"].cats == ["MUSIC"]
    assert vevent.decoded("SEQUENCE") == 2
    assert "DTSTAMP" in vevent and "LAST-MODIFIED" in vevent
    assert str(vevent["IMAGE"]) == "https://commune-a.test/media/b.png"


async def test_one_event_ics_by_status_id_event_id_or_uuid_and_404_for_others(town):
    instance, alice, _ = town
    event, status = await add_event(instance, alice, "Loto", next_year_at(3, 7, 14))
    unlisted, unlisted_status = await add_event(instance, alice, "Loto non listé", next_year_at(3, 8, 14),
                                                visibility="unlisted")
    private, private_status = await add_event(instance, alice, "Loto privé", next_year_at(3, 9, 14),
                                              visibility="private")

    for key in (status.id, event.id, event.uuid):
        fetched = await fetch(instance, f"/events/{key}.ics")
        assert list(fetched.events()) == ["Loto"], key
        assert fetched.headers["Content-Disposition"] == f'attachment; filename="{event.uuid}.ics"'
    assert list((await fetch(instance, f"/events/{unlisted_status.id}.ics")).events()) == ["Loto non listé"]
    for path in (f"/events/{private_status.id}.ics", f"/events/{private.uuid}.ics", "/events/123.ics",
                 "/events/not-an-id.ics", f"/events/{2**64}.ics"):
        fetched = await fetch(instance, path)
        assert fetched.status == 404, path


async def test_commune_and_account_calendars_hold_only_their_events_and_404_for_unknown_ones(town):
    instance, alice, comite = town
    bob = await make_account(instance, "bob", commune_insee=BAZOUGES)
    start = next_year_at(5, 1, 10)
    await add_event(instance, alice, "Marché de Maen Roch", start)
    await add_event(instance, bob, "Rando à Bazouges", start, commune=BAZOUGES, locality="Bazouges-la-Pérouse")
    await add_event(instance, alice, "Repas du comité", start, group=comite)
    await add_event(instance, comite, "Assemblée générale", start, commune=BAZOUGES)

    maen_roch = await fetch(instance, f"/communes/{MAEN_ROCH}/agenda.ics")
    assert sorted(maen_roch.events()) == ["Marché de Maen Roch", "Repas du comité"]
    assert str(maen_roch.calendar()["X-WR-CALNAME"]) == "Agenda – Maen Roch"
    assert sorted((await fetch(instance, f"/communes/{BAZOUGES}/agenda.ics")).events()) == [
        "Assemblée générale", "Rando à Bazouges"]
    assert sorted((await fetch(instance, f"/agenda.ics?commune={BAZOUGES}")).events()) == [
        "Assemblée générale", "Rando à Bazouges"]

    association = await fetch(instance, "/@comite/agenda.ics")
    assert sorted(association.events()) == ["Assemblée générale", "Repas du comité"]
    assert str(association.calendar()["X-WR-CALNAME"]) == "Agenda – Comité des fêtes"
    assert sorted((await fetch(instance, "/@bob/agenda.ics")).events()) == ["Rando à Bazouges"]

    for path in ("/communes/99999/agenda.ics", "/communes/nope/agenda.ics", "/agenda.ics?commune=99999",
                 "/@nobody/agenda.ics", "/@commune-a.test/agenda.ics"):
        fetched = await fetch(instance, path)
        assert fetched.status == 404, path
        assert b"error" in fetched.body


async def test_going_calendar_needs_the_token_the_api_gives_and_lists_accepted_participations(town):
    instance, alice, comite = town
    bob = await make_account(instance, "bob")
    start = next_year_at(9, 12, 18)
    going, _ = await add_event(instance, comite, "Forum des associations", start)
    pending, _ = await add_event(instance, comite, "Atelier sur inscription", start)
    followers_only, _ = await add_event(instance, comite, "Pot des bénévoles", start, visibility="private")
    not_mine, _ = await add_event(instance, comite, "Concert", start)
    async with instance.runtime.transaction() as session:
        for event, who, state in ((going, alice, "accepted"), (pending, alice, "pending"),
                                  (followers_only, alice, "accepted"), (not_mine, bob, "accepted")):
            session.add(Participation(event_id=event.id, actor_id=who.id, state=state,
                                      join_uri=f"{instance.base_url}/joins/{new_id()}"))

    token = await issue_token(instance, alice.id, "read")
    async with aiohttp.ClientSession() as http, http.get(
            f"{instance.base_url}/api/v1/events/going_feed", headers={"Authorization": f"Bearer {token}"},
            ssl=ssl.create_default_context()) as response:
        assert response.status == 200
        body = await response.json()
    assert body["url"].startswith("webcal://commune-a.test/@alice/going.ics?token=")
    assert body["https_url"] == body["url"].replace("webcal://", "https://", 1)
    path = body["https_url"].removeprefix(instance.base_url)

    fetched = await fetch(instance, path)
    assert sorted(fetched.events()) == ["Forum des associations", "Pot des bénévoles"]
    assert fetched.headers["Cache-Control"] == "private, max-age=300"

    bob_token = await issue_token(instance, bob.id, "read")
    async with aiohttp.ClientSession() as http, http.get(
            f"{instance.base_url}/api/v1/events/going_feed", headers={"Authorization": f"Bearer {bob_token}"},
            ssl=ssl.create_default_context()) as response:
        bob_path = (await response.json())["https_url"].removeprefix(instance.base_url)
    assert sorted((await fetch(instance, bob_path)).events()) == ["Concert"]

    alice_token_value = path.partition("token=")[2]
    bob_token_value = bob_path.partition("token=")[2]
    for bad in ("/@alice/going.ics", "/@alice/going.ics?token=", "/@alice/going.ics?token=forged",
                f"/@alice/going.ics?token={bob_token_value}", f"/@bob/going.ics?token={alice_token_value}",
                f"/@comite/going.ics?token={alice_token_value}"):
        fetched = await fetch(instance, bad)
        assert fetched.status == 403, bad
    assert (await fetch(instance, f"/@nobody/going.ics?token={alice_token_value}")).status == 404


async def test_going_feed_link_needs_a_user_token(town):
    instance, _, _ = town
    async with aiohttp.ClientSession() as http, http.get(
            f"{instance.base_url}/api/v1/events/going_feed", ssl=ssl.create_default_context()) as response:
        assert response.status == 401
        assert "error" in await response.json()


async def test_unchanged_calendars_and_feeds_answer_304_to_their_etag(town):
    instance, alice, _ = town
    event, status = await add_event(instance, alice, "Conseil municipal", next_year_at(2, 3, 20))
    await add_ad(instance, alice, "Vélo d'enfant", free=True)

    for path in ("/agenda.ics", f"/events/{status.id}.ics", "/agenda.atom", "/agenda.rss", "/ads.atom", "/ads.rss",
                 f"/communes/{MAEN_ROCH}/agenda.ics", "/@alice/agenda.ics"):
        first = await fetch(instance, path)
        assert first.status == 200, path
        etag = first.headers["ETag"]
        assert etag.startswith('"') and "Last-Modified" in first.headers
        again = await fetch(instance, path, **{"If-None-Match": etag})
        assert again.status == 304 and again.body == b"", path
        assert (await fetch(instance, path, **{"If-None-Match": f'"other", W/{etag}'})).status == 304
        assert (await fetch(instance, path, **{"If-None-Match": '"other"'})).status == 200

    before = await fetch(instance, "/agenda.ics")
    single = await fetch(instance, f"/events/{status.id}.ics")
    since = single.headers["Last-Modified"]
    assert (await fetch(instance, f"/events/{status.id}.ics", **{"If-Modified-Since": since})).status == 304
    async with instance.runtime.transaction() as session:
        await session.execute(update(Event).where(Event.id == event.id).values(
            title="Conseil municipal (salle du conseil)", updated_at=utcnow() + timedelta(seconds=2)))
    after = await fetch(instance, "/agenda.ics", **{"If-None-Match": before.headers["ETag"]})
    assert after.status == 200 and list(after.events()) == ["Conseil municipal (salle du conseil)"]
    assert after.headers["ETag"] != before.headers["ETag"]
    assert (await fetch(instance, f"/events/{status.id}.ics", **{"If-Modified-Since": since})).status == 200


async def test_odd_events_never_break_a_calendar_or_a_feed(town):
    instance, alice, _ = town
    mobilizon = await remote_actor_row(instance, "mobilizon.test", "club", "Club; de, lecture")
    start = next_year_at(4, 4, 15)
    await add_event(instance, mobilizon, "En ligne, sans lieu", start, commune=None, latitude=None, longitude=None,
                    place_name=None, street=None, postal_code=None, locality=None, timezone="Mars/Olympus_Mons",
                    content="<p>" + "Très long texte\x07 avec\x1b des caractères de contrôle. " * 40_000 + "</p>")
    await add_event(instance, alice, "Fin avant le début", start, ends_at=start - timedelta(hours=2),
                    latitude=123.0, longitude=-500.0, timezone="../../etc/passwd")
    _, bare = await add_event(instance, alice, "Sans fin ni texte", start, content="", category="")
    far = datetime(2500, 7, 1, 12, 0, tzinfo=UTC)
    await add_event(instance, alice, "Dans très longtemps", far)
    async with instance.runtime.transaction() as session:  # unreadable wire fields: the status text is used
        await session.execute(update(Status).where(Status.id == bare.id).values(extra_json="{not json"))

    for path in ("/agenda.ics", "/agenda.atom", "/agenda.rss", "/@alice/agenda.ics", "/ads.atom", "/ads.rss"):
        fetched = await fetch(instance, path)
        assert fetched.status == 200, path
    events = (await fetch(instance, "/agenda.ics")).events()
    online = events["En ligne, sans lieu"]
    assert online["DTSTART"].params["TZID"] == PARIS  # an unknown zone falls back to the agenda's
    assert online.decoded("DTSTART").astimezone(UTC) == start
    assert "LOCATION" not in online and "GEO" not in online
    assert len(str(online["DESCRIPTION"])) <= 10_000 and "\x07" not in str(online["DESCRIPTION"])
    assert str(online["ORGANIZER"].params["CN"]) == "Club; de, lecture"
    backwards = events["Fin avant le début"]
    assert "DTEND" not in backwards and "GEO" not in backwards
    assert "DESCRIPTION" not in events["Sans fin ni texte"]
    assert events["Dans très longtemps"].decoded("DTSTART").astimezone(UTC) == far
    entries = (await fetch(instance, "/agenda.atom")).feed().entries
    assert {entry.title for entry in entries} == set(events)
    assert all(len(entry.summary) <= 2_000 for entry in entries)


# ---------------------------------------------------------------------------------------------
# Atom and RSS
# ---------------------------------------------------------------------------------------------


async def test_agenda_atom_and_rss_list_upcoming_events_with_date_place_and_picture(town):
    instance, alice, comite = town
    start = next_year_at(6, 14, 20)
    _, bal = await add_event(instance, alice, "Bal folk", start, group=comite,
                             image_url="https://commune-a.test/media/affiche.png")
    await add_event(instance, alice, "Kermesse annulée", start + timedelta(days=1), event_status="CANCELLED")
    await add_event(instance, alice, "Braderie passée", utcnow() - timedelta(days=3))
    await add_event(instance, alice, "Rando à Bazouges", start, commune=BAZOUGES)

    atom = await fetch(instance, "/agenda.atom")
    assert atom.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert atom.headers["Cache-Control"] == "public, max-age=300"
    feed = atom.feed()
    assert feed.version == "atom10"
    assert feed.feed.title == f"Agenda – {TERRITORY}"
    assert [entry.title for entry in feed.entries] == ["Bal folk", "Rando à Bazouges", "Annulé : Kermesse annulée"]
    bal_entry = feed.entries[0]
    assert bal_entry.id == bal.uri and bal_entry.link == bal.url
    assert bal_entry.author == "Comité des fêtes"
    assert f"{start.year}, 20 h – Salle des fêtes, Maen Roch" in bal_entry.summary  # in Paris time
    assert "Venez !" in bal_entry.summary
    assert [link.href for link in bal_entry.links if link.rel == "enclosure"] == [
        "https://commune-a.test/media/affiche.png"]
    assert [tag.term for tag in bal_entry.tags] == ["PARTY"]

    rss = await fetch(instance, "/agenda.rss")
    assert rss.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
    feed = rss.feed()
    assert feed.version == "rss20"
    assert [entry.title for entry in feed.entries] == ["Bal folk", "Rando à Bazouges", "Annulé : Kermesse annulée"]
    assert feed.entries[0].link == bal.url and feed.entries[0].author == "Comité des fêtes"
    assert feed.entries[0].enclosures[0].href == "https://commune-a.test/media/affiche.png"
    assert feed.entries[0].enclosures[0].type == "image/png"

    assert [e.title for e in (await fetch(instance, f"/agenda.rss?commune={BAZOUGES}")).feed().entries] == [
        "Rando à Bazouges"]
    assert (await fetch(instance, "/agenda.atom?commune=00000")).status == 404


async def test_ads_feeds_list_open_unexpired_ads_newest_first_with_price_and_first_photo(town):
    instance, alice, comite = town
    await add_ad(instance, alice, "Canapé", category="vente", price_cents=1250,
                 photos=("https://commune-a.test/media/canape-1.jpg", "https://commune-a.test/media/canape-2.jpg"))
    await add_ad(instance, alice, "Poussette donnée", state="closed")
    await add_ad(instance, alice, "Tondeuse expirée", expires_in=timedelta(days=-1))
    await add_ad(instance, alice, "Perceuse marquée expirée", expired=True)
    await add_ad(instance, comite, "Covoiturage pour Rennes", category="covoiturage", commune=BAZOUGES, free=True)

    atom = await fetch(instance, "/ads.atom")
    assert atom.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    feed = atom.feed()
    assert feed.feed.title == f"Petites annonces – {TERRITORY}"
    assert [entry.title for entry in feed.entries] == ["Covoiturage pour Rennes – gratuit", "Canapé – 12,50\xa0€"]
    sofa = feed.entries[1]
    assert sofa.author == "Alice"
    assert "À venir chercher." in sofa.summary and "<" not in sofa.summary
    assert [link.href for link in sofa.links if link.rel == "enclosure"] == [
        "https://commune-a.test/media/canape-1.jpg"]
    assert [tag.term for tag in sofa.tags] == ["vente", "offre"]

    rss = (await fetch(instance, "/ads.rss")).feed()
    assert [entry.title for entry in rss.entries] == ["Covoiturage pour Rennes – gratuit", "Canapé – 12,50\xa0€"]
    assert rss.entries[1].enclosures[0].href == "https://commune-a.test/media/canape-1.jpg"
    assert [e.title for e in (await fetch(instance, f"/ads.atom?commune={MAEN_ROCH}")).feed().entries] == [
        "Canapé – 12,50\xa0€"]
    assert (await fetch(instance, "/ads.rss?commune=123")).status == 404


async def test_home_page_links_the_feeds(town):
    instance, _, _ = town
    page = (await fetch(instance, "/")).body.decode()
    for kind, path in (("application/atom+xml", "/agenda.atom"), ("application/rss+xml", "/agenda.rss"),
                       ("text/calendar", "/agenda.ics"), ("application/atom+xml", "/ads.atom"),
                       ("application/rss+xml", "/ads.rss")):
        assert f'<link rel="alternate" type="{kind}"' in page and f'href="{path}"' in page


# ---------------------------------------------------------------------------------------------
# End to end, through the client API
# ---------------------------------------------------------------------------------------------


async def api(instance: LiveInstance, method: str, path: str, token: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.request(
            method, instance.base_url + path, headers={"Authorization": f"Bearer {token}"},
            ssl=ssl.create_default_context(), **kwargs) as response:
        return response.status, await response.json()


async def test_events_posted_from_the_api_reach_the_agenda_event_and_going_calendars(town):
    instance, alice, comite = town
    comite_token, alice_token = await issue_token(instance, comite.id), await issue_token(instance, alice.id)
    day = (utcnow() + timedelta(days=20)).date().isoformat()
    code, created = await api(instance, "POST", "/api/v1/events", comite_token, json={
        "title": "Fest-noz", "description": "Sonneurs, danseurs; crêpes", "start": f"{day}T20:30",
        "end": f"{day}T23:30", "category": "PARTY", "place": {"name": "Salle des fêtes"}, "commune": MAEN_ROCH})
    assert code == 200, created
    code, listed = await api(instance, "GET", "/api/v1/events", alice_token)
    assert code == 200 and [event["uri"] for event in listed] == [created["uri"]]

    agenda = (await fetch(instance, "/agenda.ics")).calendar()
    [vevent] = agenda.walk("VEVENT")
    assert str(vevent["UID"]) == created["uri"] and str(vevent["SUMMARY"]) == "Fest-noz"
    assert vevent["DTSTART"].params["TZID"] == PARIS
    assert vevent.decoded("DTSTART").strftime("%Y-%m-%dT%H:%M") == f"{day}T20:30"
    assert str(vevent["DESCRIPTION"]) == "Sonneurs, danseurs; crêpes"
    assert list((await fetch(instance, f"/events/{created['id']}.ics")).events()) == ["Fest-noz"]

    code, _ = await api(instance, "POST", f"/api/v1/events/{created['id']}/join", alice_token)
    assert code == 200
    code, link = await api(instance, "GET", "/api/v1/events/going_feed", alice_token)
    assert code == 200
    going = await fetch(instance, link["https_url"].removeprefix(instance.base_url))
    assert list(going.events()) == ["Fest-noz"]
