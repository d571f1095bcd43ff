"""Institutional messages: the collectivity's themed public statuses, federated to its followers on
another live instance, highlighted for residents in Mastodon apps (real Mastodon.py), on the web
home page and pinned on the profile while they last."""

from __future__ import annotations

import ssl
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select, update

from fediverse.db import utcnow
from fediverse.models import Announcement, AnnouncementRead, FeaturedStatus, Follow, Status
from outbox.institutional import expire_institutional_messages
from outbox.limits import MAX_PINNED
from tests.api.test_announcements import cli
from tests.federation_steps import count, first, make_account, outbox, remote_actor
from tests.live import LiveInstance, eventually


async def home_page(instance: LiveInstance) -> str:
    async with aiohttp.ClientSession() as session, session.get(
            instance.base_url + "/", ssl=ssl.create_default_context()) as resp:
        assert resp.status == 200
        return await resp.text()


async def announcement_of(instance: LiveInstance, status_id: int) -> Announcement | None:
    return await first(instance, select(Announcement).where(Announcement.status_id == status_id))


async def pinned(instance: LiveInstance, status_id: int) -> bool:
    return await count(instance, FeaturedStatus, FeaturedStatus.status_id == status_id) == 1


@pytest.fixture
async def commune_a(make_instance):
    return await make_instance("commune-a.test")


async def test_cli_message_federates_to_a_follower_and_is_highlighted_for_residents(make_instance, mastodon_client):
    a = await make_instance("commune-a.test")
    b = await make_instance("commune-b.test")
    mairie = await make_account(a, "mairie", kind="collectivity", display_name="Mairie de Saint-Ouen")
    alice = await make_account(a, "alice")
    bob = await make_account(b, "bob")
    mairie_on_b = await remote_actor(b, "mairie@commune-a.test")
    await outbox(b).follow(bob.id, mairie_on_b.id)
    await eventually(lambda: first(b, select(Follow.state).where(
        Follow.follower_id == bob.id, Follow.state == "accepted")), what="bob follows the mairie")

    code, out, err = await cli(a, "announcements", "create", "--from", "mairie", "--theme", "travaux", "--urgent",
                               "--until", "2099-06-07", "--text", "Route de Rennes fermée du 3 au 7 juin.")
    assert code == 0, err
    assert "[travaux] (urgent)" in out and "(pinned)" in out
    row = await first(a, select(Announcement))
    status = await first(a, select(Status).where(Status.id == row.status_id))
    assert status.visibility == "public" and status.actor_id == mairie.id
    assert status.source_text == "Route de Rennes fermée du 3 au 7 juin.\n\n#Travaux"
    assert row.theme == "travaux" and row.urgent

    # Like any post: the follower's instance gets it, with its hashtag, and the pin.
    on_b = await eventually(lambda: first(b, select(Status).where(Status.uri == status.uri)),
                            what="the message on commune-b")
    assert "Route de Rennes fermée" in on_b.content and on_b.visibility == "public"
    await eventually(lambda: pinned(b, on_b.id), what="the pin (Add to featured) on commune-b")

    client = await mastodon_client(a, alice.id)
    (listed,) = await client.announcements()
    assert str(listed["id"]) == str(row.id) and listed["urgent"] is True and listed["theme"] == "travaux"
    assert [str(s["id"]) for s in listed["statuses"]] == [str(status.id)]
    assert [t["name"] for t in listed["tags"]] == ["travaux"]
    assert "Route de Rennes fermée du 3 au 7 juin." in listed["content"]
    assert [str(s["id"]) for s in await client.account_statuses(mairie.id, pinned=True)] == [str(status.id)]

    page = await home_page(a)
    highlighted = page.split('<section class="announcements"', 1)[1].split("</section>", 1)[0]
    assert 'role="alert"' in highlighted and "Route de Rennes fermée du 3 au 7 juin." in highlighted
    # French by default.
    assert "Messages de la collectivité" in page and "Travaux" in highlighted and "07/06/2099" in page
    assert page.index("Messages de la collectivité") < page.index("Dernières publications")


async def test_a_themed_post_from_an_app_becomes_a_message_only_from_the_collectivity(commune_a, mastodon_client):
    a = commune_a
    mairie = await make_account(a, "mairie", kind="collectivity")
    alice = await make_account(a, "alice")
    town_hall = await mastodon_client(a, mairie.id)
    resident = await mastodon_client(a, alice.id)

    works = await town_hall.status_post("Travaux rue Victor Hugo lundi et mardi #travaux #Sante")
    row = await eventually(lambda: announcement_of(a, int(works["id"])), what="the announcement")
    assert row.theme == "travaux" and not row.urgent and row.actor_id == mairie.id
    # No end was chosen in the app: highlighted for 30 days.
    assert row.ends_at == row.published_at + timedelta(days=30)
    assert await pinned(a, int(works["id"]))

    neighbour = await resident.status_post("Travaux chez moi, désolé pour le bruit #travaux")
    untagged = await town_hall.status_post("Bonne journée à tous")
    private = await town_hall.status_post("Réunion interne #emploi", visibility="private")
    reply = await town_hall.status_post("Merci, c'est noté #travaux", in_reply_to_id=neighbour["id"])
    for other in (neighbour, untagged, private, reply):
        assert await announcement_of(a, int(other["id"])) is None
    assert [str(x["id"]) for x in await resident.announcements()] == [str(row.id)]

    # An edit of the status changes what residents read.
    await town_hall.status_update(works["id"], "Travaux rue Victor Hugo reportés à jeudi #travaux")
    (listed,) = await resident.announcements()
    assert "reportés à jeudi" in listed["content"] and "lundi" not in listed["content"]
    assert "reportés à jeudi" in await home_page(a)


async def test_alerte_is_urgent_first_and_ends_unpinned_and_hidden(commune_a, mastodon_client):
    a = commune_a
    mairie = await make_account(a, "mairie", kind="collectivity")
    alice = await make_account(a, "alice")
    town_hall = await mastodon_client(a, mairie.id)
    resident = await mastodon_client(a, alice.id)
    market = await town_hall.status_post("Marché de Noël samedi #culture")
    flood = await town_hall.status_post("Crue du Couesnon : évitez les berges #Alerte")
    alert = await announcement_of(a, int(flood["id"]))
    assert alert is not None and alert.urgent and alert.theme == "alerte"
    assert alert.ends_at == alert.published_at + timedelta(hours=72)
    assert [x["theme"] for x in await resident.announcements()] == ["alerte", "culture"]
    assert await pinned(a, int(flood["id"])) and await pinned(a, int(market["id"]))
    # Nothing has ended yet: the expiry step leaves both pinned.
    assert await expire_institutional_messages(a.runtime) == 0

    # Three days later (the end moved to the past): hidden everywhere, then unpinned by the clock step.
    async with a.runtime.transaction() as session:
        await session.execute(update(Announcement).where(Announcement.id == alert.id)
                              .values(ends_at=utcnow() - timedelta(minutes=1)))
    assert [x["theme"] for x in await resident.announcements()] == ["culture"]
    page = await home_page(a)
    assert 'role="alert"' not in page and "Marché de Noël" in page.split("</section>", 1)[0]
    assert await expire_institutional_messages(a.runtime) == 1
    assert not await pinned(a, int(flood["id"])) and await pinned(a, int(market["id"]))
    assert await expire_institutional_messages(a.runtime) == 0
    # The status itself stays: only the highlight ended.
    assert await count(a, Status, Status.id == int(flood["id"])) == 1


async def test_deleting_the_status_removes_the_announcement(commune_a, mastodon_client):
    a = commune_a
    mairie = await make_account(a, "mairie", kind="collectivity")
    alice = await make_account(a, "alice")
    town_hall = await mastodon_client(a, mairie.id)
    resident = await mastodon_client(a, alice.id)
    housing = await town_hall.status_post("Permanence logement mercredi #logement")
    row = await announcement_of(a, int(housing["id"]))
    assert row is not None
    await resident.announcement_dismiss(row.id)
    await town_hall.status_delete(housing["id"])
    assert await count(a, Announcement) == 0 and await count(a, AnnouncementRead) == 0
    assert await resident.announcements() == []
    assert "Permanence logement" not in await home_page(a)


async def test_messages_beyond_the_pin_limit_are_highlighted_but_not_pinned(commune_a, mastodon_client):
    a = commune_a
    mairie = await make_account(a, "mairie", kind="collectivity")
    town_hall = await mastodon_client(a, mairie.id)
    for n in range(MAX_PINNED):
        post = await town_hall.status_post(f"Horaires d'été, partie {n}")
        await town_hall.status_pin(post["id"])
    youth = await town_hall.status_post("Inscriptions au centre de loisirs #jeunesse")
    assert await announcement_of(a, int(youth["id"])) is not None
    assert not await pinned(a, int(youth["id"]))
    assert await count(a, FeaturedStatus, FeaturedStatus.actor_id == mairie.id) == MAX_PINNED
