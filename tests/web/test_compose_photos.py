"""Posts with photos from the website's compose form, in a real headless Chromium: a photo without a
description is questioned (the photos already sent are kept, nothing typed is lost), then published
with every description; the permalink shows the photos with their alternative text. The author
edits the post (text, a description, a photo removed) and deletes it after a confirmation page:
each change goes through the outbox, so the Update and the Delete are queued for the servers of
the author's followers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from fediverse.models import Attachment, Status, StatusEdit
from tests.federation_steps import count, make_account
from tests.live import LiveInstance
from tests.web.conftest import new_page, sign_in
from tests.web.social_steps import photo, post, queued, remote_follower, signed_client


async def _click(page: Any, selector: str) -> Any:
    async with page.expect_navigation() as navigation:
        await page.click(selector)
    return await navigation.value


async def _attachments(instance: LiveInstance, status_id: int) -> list[Attachment]:
    async with instance.runtime.sessions() as session:
        return list((await session.scalars(select(Attachment).where(Attachment.status_id == status_id)
                                           .order_by(Attachment.position))).all())


async def test_a_photo_without_description_is_questioned_then_the_post_is_published_described(
        make_instance, browser) -> None:
    instance = await make_instance("commune-a.test")
    alice = await make_account(instance, "alice", display_name="Alice Martin")
    page = await new_page(browser)
    await sign_in(page, instance, "alice", next_path="%2Fstatuses%2Fnew")
    await page.fill("#compose-text", "Le marché de Noël est installé place de l'église.")
    await page.set_input_files("#photo-1", files=[{"name": "chalets.png", "mimeType": "image/png",
                                                   "buffer": photo((200, 30, 30))}])
    await page.fill("#photo-1-alt", "Des chalets en bois illuminés devant l'église")
    await page.set_input_files("#photo-2", files=[{"name": "sapin.png", "mimeType": "image/png",
                                                   "buffer": photo((20, 120, 40))}])
    response = await _click(page, "form[action='/statuses'] button[type=submit]")

    assert response.status == 422
    assert "Décrivez chaque photo" in await page.inner_text("#photo-alt-warning")
    assert await _statuses(instance, alice) == []
    assert await page.input_value("#compose-text") == "Le marché de Noël est installé place de l'église."
    kept = await page.locator("input[name=kept_media]").evaluate_all("inputs => inputs.map(i => i.value)")
    assert len(kept) == 2  # both photos were kept: nobody picks the files again
    assert await page.input_value(f"#media-{kept[0]}-alt") == "Des chalets en bois illuminés devant l'église"
    missing = page.locator(f"#media-{kept[1]}-alt")
    assert await missing.get_attribute("aria-invalid") == "true"
    await missing.fill("Un grand sapin décoré de boules rouges")
    await _click(page, "form[action='/statuses'] button[type=submit]")

    [status] = await _statuses(instance, alice)
    assert page.url == f"{instance.base_url}/@alice/{status.id}"
    assert [a.description for a in await _attachments(instance, status.id)] == [
        "Des chalets en bois illuminés devant l'église", "Un grand sapin décoré de boules rouges"]
    images = page.locator(f"#status-{status.id} .media img")
    assert await images.evaluate_all("images => images.map(i => i.alt)") == [
        "Des chalets en bois illuminés devant l'église", "Un grand sapin décoré de boules rouges"]
    assert await images.evaluate_all("images => images.every(i => i.complete && i.naturalWidth > 0)")
    assert "ALT" in await page.inner_text(f"#status-{status.id} .media")
    assert await page.locator("meta[property='og:image']").get_attribute("content") == \
        (await _attachments(instance, status.id))[0].preview_url


async def _statuses(instance: LiveInstance, author: Any) -> list[Status]:
    async with instance.runtime.sessions() as session:
        return list((await session.scalars(select(Status).where(Status.actor_id == author.id)
                                           .order_by(Status.id))).all())


async def test_the_author_edits_then_deletes_a_post_and_the_update_and_delete_are_queued(
        make_instance, browser) -> None:
    instance = await make_instance("commune-a.test")
    alice = await make_account(instance, "alice", display_name="Alice Martin")
    follower = await remote_follower(instance, alice)
    page = await new_page(browser)
    await sign_in(page, instance, "alice", next_path="%2Fstatuses%2Fnew")
    await page.fill("#compose-text", "Perdu : un chat roux")
    for slot, colour in ((1, (250, 140, 20)), (2, (30, 30, 30))):
        await page.set_input_files(f"#photo-{slot}", files=[{"name": f"chat-{slot}.png", "mimeType": "image/png",
                                                             "buffer": photo(colour)}])
        await page.fill(f"#photo-{slot}-alt", f"Photo {slot} du chat")
    await _click(page, "form[action='/statuses'] button[type=submit]")
    [status] = await _statuses(instance, alice)
    first, second = await _attachments(instance, status.id)

    await _click(page, f"#status-{status.id} a[href='/statuses/{status.id}/edit']")
    assert await page.input_value("#compose-text") == "Perdu : un chat roux"
    assert await page.locator("#compose-visibility").count() == 0  # who can see it stays as published
    await page.fill("#compose-text", "Perdu : un chat roux, répond au nom de Caramel")
    await page.fill(f"#attached-{first.id}-alt", "Caramel couché sur un muret")
    await page.check(f"input[name=remove_media][value='{second.id}']")
    await _click(page, "form[action$='/edit'] button[type=submit]")

    assert page.url == f"{instance.base_url}/@alice/{status.id}"
    assert "répond au nom de Caramel" in await page.inner_text(f"#status-{status.id}")
    assert "modifié le" in await page.inner_text(f"#status-{status.id}")
    assert [(a.id, a.description) for a in await _attachments(instance, status.id)] == [
        (first.id, "Caramel couché sur un muret")]
    assert await count(instance, StatusEdit, StatusEdit.status_id == status.id) == 1
    assert follower.shared_inbox_url in await queued(instance, "Update", status.uri)

    await _click(page, f"#status-{status.id} a[href='/statuses/{status.id}/delete']")
    assert "Supprimer cette publication ?" in await page.inner_text("h1")
    assert "répond au nom de Caramel" in await page.inner_text("main")
    await _click(page, f"form[action='/statuses/{status.id}/delete'] button[type=submit]")
    assert page.url == f"{instance.base_url}/@alice"
    assert await count(instance, Status, Status.id == status.id) == 0
    assert follower.shared_inbox_url in await queued(instance, "Delete", status.uri)
    assert (await page.goto(f"{instance.base_url}/@alice/{status.id}")).status == 404


async def test_refused_photo_forms_keep_everything_and_publish_nothing(make_instance) -> None:
    instance = await make_instance("commune-a.test")
    alice = await make_account(instance, "alice", display_name="Alice Martin")
    bob = await make_account(instance, "bob", display_name="Bob Leroy")
    theirs = await post(instance, bob, "Ma publication")
    async with signed_client(instance, alice) as http:
        base = {"acting_id": str(alice.id), "visibility": "public"}
        # Not a picture: refused with the reason, the text kept, nothing published.
        status, page = await http.upload("/statuses", {**base, "status": "Bonjour", "photo_1_alt": "Un chat"},
                                         {"photo_1": ("chat.png", b"not a picture at all", "image/png")})
        assert status == 422 and "Certaines photos n" in page and ">Bonjour</textarea>" in page
        assert "Ce fichier n’est pas une photo dans un format affichable" in page
        assert await count(instance, Status, Status.actor_id == alice.id) == 0
        status, page, _ = await http.post("/statuses", {**base, "status": "Bonjour"})
        assert status == 303  # a plain post without photos still works from a urlencoded form
        status, page, _ = await http.post(f"/statuses/{theirs.id}/edit", {**base, "status": "Piraté"})
        assert status == 404
        status, page, _ = await http.post("/statuses", {**base, "status": "Réponse",
                                                         "in_reply_to_id": "99999999999"})
        assert status == 422 and "n’est plus disponible" in page
        status, page, _ = await http.post("/statuses", {**base, "status": "x", "kept_media": "12345"})
        assert status == 303  # an unknown kept photo is ignored, not attached
    async with instance.runtime.sessions() as session:
        texts = list((await session.scalars(select(Status.content).where(Status.actor_id == alice.id))).all())
        assert await session.scalar(select(Status.content).where(Status.id == theirs.id)) == "<p>Ma publication</p>"
    assert len(texts) == 2 and await count(instance, Attachment) == 0
