"""Leaving with one's data, then leaving for good, in a real headless Chromium against live instances:
the archive downloaded from the export page parses and holds the person's posts and photos; deleting
the account asks for the password, signs the browser out, refuses the next sign-in, removes the profile,
the actor document and the WebFinger answer, and sends a `Delete` that the follower's server (a second
live instance) acts on."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from actors.accounts import AccountError, create_account
from fediverse.media import create_attachment, media_storage
from fediverse.models import Actor, Delivery, Follow, OutgoingActivity, Status
from outbox.commands import StatusDraft
from tests.federation_steps import first, make_account, outbox, remote_actor
from tests.live import eventually
from tests.test_export import png, stored_bytes
from tests.web.conftest import PASSWORD, new_page, sign_in

AP_JSON = "application/activity+json"


async def test_the_downloaded_archive_parses_and_holds_the_posts_and_their_photos(
        make_instance, browser, tmp_path: Path) -> None:
    instance = await make_instance("commune-a.test")
    alice = await make_account(instance, "alice", display_name="Alice")
    bob = await make_account(instance, "bob", display_name="Bob")
    photo = await create_attachment(instance.runtime, alice.id, png((30, 160, 60)), filename="potager.png",
                                    description="Les tomates du potager")
    post = await outbox(instance).post(alice.id, StatusDraft(text="Récolte au jardin partagé", media_ids=[photo.id]))
    await outbox(instance).follow(alice.id, bob.id)

    page = await new_page(browser)
    await sign_in(page, instance, "alice")
    await page.goto(f"{instance.base_url}/settings/export")
    assert await page.title() == f"Exporter vos données · {instance.domain}"
    assert "vos 1 publications et partages" in await page.inner_text("main")
    async with page.expect_download() as started:
        await page.click("text=Télécharger mon archive")
    download = await started.value
    assert download.suggested_filename.startswith("archive-alice-") and download.suggested_filename.endswith(".zip")
    saved = tmp_path / "archive.zip"
    await download.save_as(saved)

    with zipfile.ZipFile(saved) as archive:
        assert json.loads(archive.read("actor.json"))["preferredUsername"] == "alice"
        items = json.loads(archive.read("outbox.json"))["orderedItems"]
        assert [(item["type"], item["object"]["id"]) for item in items] == [("Create", post.uri)]
        assert "Récolte au jardin partagé" in items[0]["object"]["content"]
        attached = items[0]["object"]["attachment"][0]
        assert attached["name"] == "Les tomates du potager"
        name = media_storage(instance.runtime.settings).name_for_url(attached["url"])
        assert archive.read(f"media_attachments/{name}") == stored_bytes(instance.runtime, attached["url"])
        following = list(csv.reader(io.StringIO(archive.read("following_accounts.csv").decode())))
        assert following[1][0] == f"bob@{instance.domain}"

    response = await page.request.get(f"{instance.base_url}/settings/export/archive")
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["cache-control"] == "no-store"
    anonymous = await (await browser.new_context(ignore_https_errors=True)).request.get(
        f"{instance.base_url}/settings/export/archive", max_redirects=0)
    assert anonymous.status == 303 and "/auth/sign_in" in anonymous.headers["location"]


async def test_deleting_the_account_signs_out_removes_it_and_tells_the_followers_server(
        make_instance, browser) -> None:
    a = await make_instance("commune-a.test")
    b = await make_instance("commune-b.test")
    alice = await make_account(a, "alice", display_name="Alice Martin")
    rosa = await make_account(b, "rosa", display_name="Rosa")
    post = await outbox(a).post(alice.id, StatusDraft(text="Bonjour de Maen Roch"))
    alice_on_b = await remote_actor(b, "alice@commune-a.test")
    await outbox(b).follow(rosa.id, alice_on_b.id)
    await eventually(lambda: first(b, select(Follow.state).where(Follow.follower_id == rosa.id,
                                                                 Follow.state == "accepted")),
                     what="alice to accept rosa's follow")

    page = await new_page(browser)
    await sign_in(page, a, "alice")
    await page.goto(f"{a.base_url}/settings/delete")
    main = await page.inner_text("main")
    assert "ne pourra plus jamais être utilisé" in main and "Exporter vos données" in main
    forged = await page.request.post(f"{a.base_url}/settings/delete", form={"csrf_token": "x", "password": PASSWORD},
                                     max_redirects=0)
    assert forged.status == 403
    await page.fill("#password", "pas le bon mot de passe")
    async with page.expect_navigation() as navigation:
        await page.click("text=Supprimer définitivement mon compte")
    assert (await navigation.value).status == 422
    assert "Le mot de passe n’est pas le bon" in await page.inner_text("[role=alert]")
    assert (await first(a, select(Actor.deleted_at).where(Actor.id == alice.id))) is None

    await page.fill("#password", PASSWORD)
    async with page.expect_navigation() as navigation:
        await page.click("text=Supprimer définitivement mon compte")
    assert (await navigation.value).status == 200
    assert await page.locator("h1").inner_text() == "Votre compte a été supprimé"
    assert await page.locator("header >> text=Se connecter").count() == 1  # signed out

    response = await sign_in(page, a, "alice")
    assert response.status == 422 and "/auth/sign_in" in page.url
    assert (await page.request.get(f"{a.base_url}/@alice")).status == 404
    assert (await page.request.get(alice.uri, headers={"Accept": AP_JSON})).status in (404, 410)
    webfinger = await page.request.get(f"{a.base_url}/.well-known/webfinger?resource=acct:alice@commune-a.test")
    assert webfinger.status == 404
    assert await first(a, select(Status.id).where(Status.uri == post.uri)) is None

    async with a.runtime.sessions() as session:
        delete = await session.scalar(select(OutgoingActivity).where(
            OutgoingActivity.actor_id == alice.id, OutgoingActivity.activity_type == "Delete"))
        assert json.loads(delete.body)["object"] == alice.uri
        inboxes = (await session.scalars(select(Delivery.inbox_url).where(Delivery.activity_id == delete.id))).all()
    assert inboxes == ["https://commune-b.test/inbox"]
    await eventually(lambda: first(b, select(Actor.deleted_at).where(Actor.uri == alice.uri)),
                     what="commune-b to delete alice after her Delete")
    assert await first(b, select(Follow.id).where(Follow.follower_id == rosa.id)) is None

    # The username stays taken: nobody can open a new account as @alice and pass for her.
    async with a.runtime.transaction() as session:
        with pytest.raises(AccountError, match="already taken"):
            await create_account(session, a.runtime.uris, "alice", email="autre@example.test", password=PASSWORD)
