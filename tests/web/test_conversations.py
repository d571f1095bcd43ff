"""Private messages on the website, between two people in two browsers (each their own cookies): a
new message to @name opens a conversation, the recipient finds it marked unread in words, reads it
(which marks it read) and answers from the conversation page; a third person can neither open the
conversation nor read its messages; a message to nobody, to an unknown account or to oneself is
refused with a readable error and nothing is sent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from fediverse.models import ConversationState, Mention, Status
from tests.federation_steps import count, make_account
from tests.web.conftest import new_page, sign_in
from tests.web.social_steps import signed_client


async def _click(page: Any, selector: str) -> Any:
    async with page.expect_navigation() as navigation:
        await page.click(selector)
    return await navigation.value


async def test_two_residents_exchange_private_messages_in_two_browsers(make_instance, browser) -> None:
    instance = await make_instance("commune-a.test")
    alice = await make_account(instance, "alice", display_name="Alice Martin")
    bob = await make_account(instance, "bob", display_name="Bob Leroy")
    carol = await make_account(instance, "carol", display_name="Carole Petit")

    writer = await new_page(browser)
    await sign_in(writer, instance, "alice")
    await _click(writer, "header >> text=Messages")
    assert "Vous n’avez pas encore de message privé." in await writer.inner_text("main")
    await _click(writer, "main >> text=Nouveau message")
    await writer.fill("#message-to", "@bob")
    await writer.fill("#message-text", "Bonjour Bob, pouvez-vous garder mes clés samedi ?")
    await _click(writer, "form[action='/conversations'] button[type=submit]")
    async with instance.runtime.sessions() as session:
        [message] = (await session.scalars(select(Status).where(Status.actor_id == alice.id))).all()
        assert message.visibility == "direct"
        assert list((await session.scalars(select(Mention.actor_id).where(Mention.status_id == message.id))).all()) \
            == [bob.id]
        state = await session.scalar(select(ConversationState).where(ConversationState.actor_id == alice.id))
    assert writer.url == f"{instance.base_url}/conversations/{state.id}"
    assert "Conversation avec Bob Leroy" in await writer.inner_text("h1")
    assert "pouvez-vous garder mes clés" in await writer.inner_text(".messages")

    reader = await new_page(browser)
    await sign_in(reader, instance, "bob", next_path="%2Fconversations")
    listing = await reader.inner_text(".conversation-list")
    assert "Non lu" in listing and "Avec Alice Martin" in listing and "garder mes clés" in listing
    await _click(reader, ".conversation-list a")
    assert "pouvez-vous garder mes clés" in await reader.inner_text(".messages")
    await reader.fill("#message-text", "Oui, passez vers 10 h.")
    await _click(reader, "#message-form button[type=submit]")
    assert "Oui, passez vers 10 h." in await reader.inner_text(".messages")
    await reader.goto(f"{instance.base_url}/conversations")
    assert "Non lu" not in await reader.inner_text(".conversation-list")  # read when opened
    assert "Vous :" in await reader.inner_text(".conversation-list")

    await writer.goto(f"{instance.base_url}/conversations")
    assert "Non lu" in await writer.inner_text(".conversation-list")
    await _click(writer, ".conversation-list a")
    messages = await writer.inner_text(".messages")
    assert messages.index("garder mes clés") < messages.index("passez vers 10 h")
    async with instance.runtime.sessions() as session:
        answer = await session.scalar(select(Status).where(Status.actor_id == bob.id))
    assert answer.visibility == "direct" and answer.in_reply_to_id == message.id
    assert answer.conversation_uri == message.conversation_uri

    # A third person sees neither the conversation nor its messages.
    async with signed_client(instance, carol) as http:
        assert (await http.get(f"/conversations/{state.id}"))[0] == 404
        assert (await http.post(f"/conversations/{state.id}", {"status": "Je m'incruste"}))[0] == 404
        for status in (message, answer):
            status_code, page = await http.get(f"/statuses/{status.id}")
            assert status_code == 404 and "clés" not in page and "10 h" not in page
        status_code, page = await http.get("/conversations")
        assert status_code == 200 and "clés" not in page
    assert await count(instance, Status, Status.actor_id == carol.id) == 0


async def test_messages_to_nobody_unknown_accounts_or_oneself_are_refused(make_instance) -> None:
    instance = await make_instance("commune-a.test")
    alice = await make_account(instance, "alice", display_name="Alice Martin")
    await make_account(instance, "bob", display_name="Bob Leroy")
    cases = [({"to": "", "status": "Bonjour"}, "Indiquez au moins un destinataire"),
             ({"to": "@personne", "status": "Bonjour"}, "Aucun compte n’a été trouvé pour @personne"),
             ({"to": "@alice", "status": "Bonjour"}, "vous envoyer un message à vous-même"),
             ({"to": "bob!", "status": "Bonjour"}, "n’est pas un nom de compte"),
             ({"to": "@bob", "status": "   "}, "Écrivez quelque chose avant d’envoyer"),
             ({"to": "@bob", "status": "x" * 5001}, "trop long")]
    async with signed_client(instance, alice) as http:
        for fields, message in cases:
            status, page, _ = await http.post("/conversations", fields)
            assert status == 422 and message in page and 'role="alert"' in page, fields
            assert f'value="{fields["to"]}"' in page, fields  # what was typed comes back
        status, page, _ = await http.post("/conversations", {"to": "@bob", "status": "Salut"}, csrf="forged")
        assert status == 403
    assert await count(instance, Status) == 0
