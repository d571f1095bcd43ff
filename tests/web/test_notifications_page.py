"""The notifications page, in a real headless Chromium: follows, likes, boosts, replies, private
messages and follow requests said in French and in English, newest first, unread ones said in words
until "mark all as read"; a follow request is accepted from its buttons; pages of older
notifications; "clear" after a confirmation page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from fediverse.models import Actor, Follow, Notification
from outbox.commands import Outbox
from outbox.event_wire import event_spec
from outbox.events import EventCommands
from outbox.participation import ParticipationCommands
from tests.federation_steps import count, make_account
from tests.web.conftest import new_page, sign_in
from tests.web.social_steps import post, signed_client


async def _click(page: Any, selector: str) -> Any:
    async with page.expect_navigation() as navigation:
        await page.click(selector)
    return await navigation.value


async def test_notifications_say_who_did_what_in_french_and_english(make_instance, browser) -> None:
    instance = await make_instance("commune-a.test")
    alice = await make_account(instance, "alice", display_name="Alice Martin")
    bob = await make_account(instance, "bob", display_name="Bob Leroy")
    carol = await make_account(instance, "carol", display_name="Carole Petit")
    dave = await make_account(instance, "dave", display_name="David Roux")
    outbox = Outbox(instance.runtime)
    hello = await post(instance, alice, "Fête des voisins vendredi soir")
    await outbox.follow(bob.id, alice.id)
    await outbox.favourite(bob.id, hello.id)
    await outbox.boost(carol.id, hello.id)
    await post(instance, carol, "@alice J'apporte une tarte !", in_reply_to_id=hello.id)
    await post(instance, bob, "@alice C'est à quelle heure ?", visibility="direct")
    start = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0).isoformat()
    workshop = await EventCommands(instance.runtime).create_event(alice.id, event_spec({
        "title": "Atelier compost", "description": "<p>Au jardin partagé.</p>", "start": start,
        "category": "community", "join_mode": "restricted"}))
    await ParticipationCommands(instance.runtime).join(carol.id, workshop.id)
    async with instance.runtime.transaction() as session:
        (await session.get(Actor, alice.id)).manually_approves_followers = True
    await outbox.follow(dave.id, alice.id)  # waits for alice's answer

    page = await new_page(browser)
    await sign_in(page, instance, "alice", next_path="%2Fnotifications")
    items = await page.locator(".notification-list > li .what").all_inner_texts()
    assert [" ".join(text.split("·")[0].split()) for text in items] == [
        "Nouveau David Roux demande à vous suivre.",
        "Nouveau Carole Petit demande à participer à votre événement « Atelier compost ».",
        "Nouveau Bob Leroy vous a envoyé un message privé.",
        "Nouveau Carole Petit a répondu à votre publication.",
        "Nouveau Carole Petit a partagé votre publication.",
        "Nouveau Bob Leroy a aimé votre publication.",
        "Nouveau Bob Leroy vous suit désormais.",
    ]
    assert "J'apporte une tarte" in await page.inner_text(".notification-list")
    await _click(page, "form[action='/notifications/read'] button")
    assert await page.locator(".notification-list .badge").count() == 0

    await _click(page, f"form[action='/notifications/requests/{dave.id}/authorize'] button")
    async with instance.runtime.sessions() as session:
        follow = await session.scalar(select(Follow).where(Follow.follower_id == dave.id))
    assert follow.state == "accepted"
    request = page.locator(".notification-list > li", has_text="David Roux demande à vous suivre")
    assert "Cette demande a reçu une réponse." in await request.inner_text()
    assert "David Roux vous suit désormais." in await page.inner_text(".notification-list")

    await page.select_option("#language-switch", "en")
    await _click(page, "form[action='/language'] button")
    english = await page.inner_text(".notification-list")
    for sentence in ("Bob Leroy now follows you.", "Bob Leroy liked your post.", "Carole Petit boosted your post.",
                     "Carole Petit replied to your post.", "Bob Leroy sent you a private message.",
                     "David Roux asks to follow you.",
                     "Carole Petit asks to take part in your event “Atelier compost”."):
        assert sentence in english, sentence
    assert await page.title() == "Notifications · commune-a.test"

    await _click(page, "main >> text=Clear all notifications")
    await _click(page, "form[action='/notifications/clear'] button")
    assert "Your notifications have been cleared." in await page.inner_text("[role=status]")
    assert await count(instance, Notification, Notification.recipient_id == alice.id) == 0


async def test_older_notifications_are_on_the_next_pages(make_instance) -> None:
    instance = await make_instance("commune-a.test")
    alice = await make_account(instance, "alice", display_name="Alice Martin")
    bob = await make_account(instance, "bob", display_name="Bob Leroy")
    outbox = Outbox(instance.runtime)
    posts = [await post(instance, alice, f"Annonce numéro {n}") for n in range(32)]
    for status in posts:
        await outbox.favourite(bob.id, status.id)
    async with signed_client(instance, alice) as http:
        status, first = await http.get("/notifications")
        assert status == 200 and first.count("a aimé votre publication") == 30
        assert "Annonce numéro 31" in first and "Annonce numéro 1<" not in first
        older = first.split('href="/notifications?max_id=')[1].split('"')[0]
        status, second = await http.get(f"/notifications?max_id={older}")
        assert status == 200 and second.count("a aimé votre publication") == 2
        assert "Annonce numéro 1<" in second and "Annonce numéro 0<" in second
        assert 'rel="next"' not in second
        assert (await http.get("/notifications?max_id=nope"))[0] == 400
        dismissed = re.search(r'action="/notifications/(\d+)/dismiss"', first).group(1)
        assert (await http.post(f"/notifications/{dismissed}/dismiss"))[0] == 303
        assert (await http.post(f"/notifications/requests/{bob.id}/authorize"))[0] == 404  # no such request
    assert await count(instance, Notification, Notification.recipient_id == alice.id) == 31
