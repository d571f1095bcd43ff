"""The account archive (outbox/export.py) reads back: every JSON file parses, the outbox holds the
person's posts and boosts as the serializers federate them, the CSV files are in Mastodon's import
shapes, and the posts' files, avatar and header are in it byte for byte."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

from PIL import Image

from actors.accounts import create_account
from actors.bookmarks import bookmark
from actors.relationships import mute
from actors.timelines.lists import add_list_accounts, create_list
from fediverse.media import create_attachment, media_storage
from fediverse.models import Actor
from fediverse.runtime import Runtime
from outbox.commands import Outbox, StatusDraft
from outbox.export import AccountArchive
from outbox.profile_edit import PictureUpload, ProfileEdit, ProfileField, save_profile


def png(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


async def account(runtime: Runtime, username: str) -> Actor:
    async with runtime.transaction() as session:
        actor, _ = await create_account(session, runtime.uris, username, email=f"{username}@example.test",
                                        password="correct horse battery", display_name=username.title())
    return actor


def stored_bytes(runtime: Runtime, url: str) -> bytes:
    storage = media_storage(runtime.settings)
    name = storage.name_for_url(url)
    assert name is not None
    return Path(runtime.settings.data_dir, "media", name).read_bytes()


async def test_the_archive_holds_posts_media_likes_relations_and_lists_and_parses_back(
        runtime: Runtime, tmp_path: Path) -> None:
    alice, bob, carol, dave, erin = [await account(runtime, name) for name in ("alice", "bob", "carol", "dave", "erin")]
    outbox = Outbox(runtime)
    await save_profile(runtime, alice.id, ProfileEdit(
        display_name="Alice Martin", note="Bénévole au club", fields=[ProfileField("Site", "https://alice.example")],
        pictures={"avatar": PictureUpload(png((200, 40, 40)), "a.png", "image/png"),
                  "header": PictureUpload(png((40, 40, 200), (300, 100)), "h.png", "image/png")}))
    photo = await create_attachment(runtime, alice.id, png((10, 150, 10)), filename="jardin.png",
                                    description="Le jardin partagé")
    with_photo = await outbox.post(alice.id, StatusDraft(text="Le jardin partagé est ouvert", media_ids=[photo.id]))
    private = await outbox.post(alice.id, StatusDraft(text="Pour mes abonnés", visibility="private"))
    bobs = await outbox.post(bob.id, StatusDraft(text="Vide-grenier dimanche"))
    boost = await outbox.boost(alice.id, bobs.id)
    await outbox.favourite(alice.id, bobs.id)
    await bookmark(runtime, alice.id, bobs.id)
    await outbox.follow(alice.id, bob.id)
    await outbox.follow(carol.id, alice.id)
    await outbox.block(alice.id, dave.id)
    await mute(runtime, alice.id, erin.id, notifications=False)
    async with runtime.transaction() as session:
        voisins = await create_list(session, alice.id, "Voisins")
        await add_list_accounts(session, alice.id, voisins.id, [bob.id])

    path = tmp_path / "archive.zip"
    with path.open("wb") as target:
        summary = await AccountArchive(runtime, alice.id).write(target)
    assert summary.statuses == 3 and summary.media_files == 3

    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        actor = json.loads(archive.read("actor.json"))
        assert actor["id"] == alice.uri and actor["name"] == "Alice Martin"
        assert actor["attachment"][0]["name"] == "Site" and "https://alice.example" in actor["attachment"][0]["value"]

        outbox_doc = json.loads(archive.read("outbox.json"))
        assert outbox_doc["type"] == "OrderedCollection" and outbox_doc["totalItems"] == 3
        items = outbox_doc["orderedItems"]
        creates = {item["object"]["id"]: item for item in items if item["type"] == "Create"}
        assert set(creates) == {with_photo.uri, private.uri}
        assert "Le jardin partagé est ouvert" in creates[with_photo.uri]["object"]["content"]
        assert creates[private.uri]["object"]["to"] == [alice.followers_url]  # addressed as it was federated
        attachment = creates[with_photo.uri]["object"]["attachment"][0]
        assert attachment["name"] == "Le jardin partagé"
        announces = [item for item in items if item["type"] == "Announce"]
        assert [a["object"] for a in announces] == [bobs.uri] and announces[0]["id"] == boost.activity_uri

        assert json.loads(archive.read("likes.json"))["orderedItems"] == [bobs.uri]
        assert json.loads(archive.read("bookmarks.json"))["orderedItems"] == [bobs.uri]

        def rows(name: str) -> list[list[str]]:
            return list(csv.reader(io.StringIO(archive.read(name).decode())))

        domain = runtime.settings.domain
        assert rows("following_accounts.csv") == [
            ["Account address", "Show boosts", "Notify on new posts", "Languages"],
            [f"bob@{domain}", "true", "false", ""]]
        assert rows("followers.csv") == [["Account address"], [f"carol@{domain}"]]
        assert rows("blocked_accounts.csv") == [[f"dave@{domain}"]]
        assert rows("muted_accounts.csv") == [["Account address", "Hide notifications"], [f"erin@{domain}", "false"]]
        assert rows("lists.csv") == [["Voisins", f"bob@{domain}"]]

        storage = media_storage(runtime.settings)
        photo_name = f"media_attachments/{storage.name_for_url(attachment['url'])}"
        assert archive.read(photo_name) == stored_bytes(runtime, attachment["url"])
        avatar = next(name for name in names if name.startswith("avatar."))
        header = next(name for name in names if name.startswith("header."))
        assert archive.read(avatar) == stored_bytes(runtime, actor["icon"]["url"])
        assert archive.read(header) == stored_bytes(runtime, actor["image"]["url"])
        assert archive.testzip() is None


async def test_an_account_without_lists_gets_no_lists_file_and_empty_collections(runtime: Runtime,
                                                                                 tmp_path: Path) -> None:
    quiet = await account(runtime, "quiet")
    path = tmp_path / "archive.zip"
    with path.open("wb") as target:
        summary = await AccountArchive(runtime, quiet.id).write(target)
    assert summary.statuses == 0 and summary.media_files == 0
    with zipfile.ZipFile(path) as archive:
        assert "lists.csv" not in archive.namelist()
        assert json.loads(archive.read("outbox.json"))["orderedItems"] == []
        assert json.loads(archive.read("likes.json"))["totalItems"] == 0
        assert archive.read("blocked_accounts.csv") == b""
