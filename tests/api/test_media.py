"""Media uploads through the client API: the real Mastodon.py against a live instance over HTTPS."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from io import BytesIO
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import select

from fediverse.models import Actor, Attachment
from tests.conftest import issue_token
from tests.federation_steps import first, make_account
from tests.live import LiveInstance
from tests.test_media_processing import BLUE, GPS_NAME, close_to, encode, mp4_video, phone_photo, two_halves

MEDIA_KEYS = {"id", "type", "url", "preview_url", "remote_url", "preview_remote_url", "text_url", "meta",
              "description", "blurhash"}


async def request(instance: LiveInstance, method: str, path_or_url: str, token: str | None = None,
                  **kwargs: Any) -> tuple[int, Any, Any, bytes]:
    """One HTTP request without a client library: status, JSON body (if any), headers, raw bytes."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = path_or_url if path_or_url.startswith("https://") else instance.base_url + path_or_url
    async with aiohttp.ClientSession() as session, session.request(
            method, url, headers=headers, ssl=ssl.create_default_context(), **kwargs) as resp:
        body = await resp.read()
        parsed = json.loads(body) if body and resp.content_type == "application/json" else None
        return resp.status, parsed, resp.headers, body


def upload_form(data: bytes, filename: str, content_type: str, **fields: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type=content_type)
    for name, value in fields.items():
        form.add_field(name, value)
    return form


@pytest.fixture
async def site(make_instance: Any, mastodon_client: Any) -> AsyncIterator[tuple[LiveInstance, Actor, Any]]:
    # Uploads are bigger than the default 1 MB request cap (see the report: per-path cap for media).
    instance = await make_instance("commune-a.test", max_body_bytes=20_000_000)
    alice = await make_account(instance, "alice")
    client = await mastodon_client(instance, alice.id)
    yield instance, alice, client
    # Close the client's kept-alive TLS connection before the server stops (it waits for it otherwise).
    client.sync.session.close()


async def test_media_post_from_a_file_returns_a_cleaned_image_served_with_cache_headers(
        site: tuple[LiveInstance, Actor, Any], tmp_path: Path) -> None:
    instance, alice, client = site
    path = tmp_path / "IMG_0001.jpg"
    path.write_bytes(phone_photo())
    media = await client.media_post(str(path), description="La mairie, façade est", focus=(0.5, -0.25))
    assert media["type"] == "image"
    assert media["url"].startswith("https://commune-a.test/media/attachments/")
    assert media["preview_url"].startswith("https://commune-a.test/media/attachments/")
    assert media["description"] == "La mairie, façade est"
    assert media["meta"]["original"]["size"] == "200x300"
    assert media["meta"]["small"]["size"] == "200x300"
    assert media["meta"]["focus"] == {"x": 0.5, "y": -0.25}
    assert media["blurhash"] and len(media["blurhash"]) == 36
    status, _, headers, body = await request(instance, "GET", media["url"])
    assert status == 200
    assert headers["Content-Type"] == "image/jpeg"
    assert "max-age" in headers["Cache-Control"]
    with Image.open(BytesIO(body)) as image:
        assert image.size == (200, 300) and len(image.getexif()) == 0
        assert close_to(image.convert("RGB").getpixel((100, 40)), BLUE)
    assert GPS_NAME not in body and b"Exif" not in body
    row = await first(instance, select(Attachment).where(Attachment.id == int(media["id"])))
    assert row.actor_id == alice.id and row.status_id is None and row.media_type == "image/jpeg"


async def test_media_post_with_bytes_trusts_the_content_not_the_mime_type(
        site: tuple[LiveInstance, Actor, Any]) -> None:
    _, _, client = site
    png = encode(two_halves(80, 60), "PNG")
    media = await client.media_post(png, mime_type="image/png")
    assert media["type"] == "image" and media["url"].endswith(".png")
    disguised = await client.media_post(png, mime_type="video/mp4", file_name="clip.mp4")
    assert disguised["type"] == "image" and disguised["url"].endswith(".png")


async def test_media_update_sets_description_and_focus(site: tuple[LiveInstance, Actor, Any]) -> None:
    _, _, client = site
    media = await client.media_post(encode(two_halves(80, 60), "JPEG"), mime_type="image/jpeg")
    assert media["description"] is None and media["meta"].get("focus") is None
    updated = await client.media_update(media, description="Plan du marché", focus=(-1.0, 0.75))
    assert updated["id"] == media["id"]
    assert updated["description"] == "Plan du marché"
    assert updated["meta"]["focus"] == {"x": -1.0, "y": 0.75}
    fetched = await client.media(media["id"])
    assert fetched["description"] == "Plan du marché" and fetched["url"] == media["url"]


async def test_media_update_accepts_json_and_a_custom_thumbnail(site: tuple[LiveInstance, Actor, Any]) -> None:
    instance, alice, client = site
    video = await client.media_post(mp4_video(), mime_type="video/mp4")
    assert video["type"] == "video" and video["preview_url"] is None
    assert video["meta"]["original"]["width"] == 640 and video["meta"]["original"]["duration"] == 3.0
    with_thumbnail = await client.media_update(video, thumbnail=encode(two_halves(1280, 720), "JPEG"),
                                               thumbnail_mime_type="image/jpeg")
    assert with_thumbnail["preview_url"] and with_thumbnail["meta"]["small"]["size"] == "640x360"
    assert with_thumbnail["blurhash"]
    token = await issue_token(instance, alice.id, "write:media")
    status, body, _, _ = await request(instance, "PUT", f"/api/v1/media/{video['id']}", token,
                                       json={"description": "Conseil municipal", "focus": "0,0"})
    assert status == 200 and body["description"] == "Conseil municipal" and body["meta"]["focus"] == {"x": 0, "y": 0}


async def test_v1_and_v2_upload_answer_the_mastodon_media_entity(site: tuple[LiveInstance, Actor, Any]) -> None:
    instance, alice, _ = site
    token = await issue_token(instance, alice.id, "write:media")
    for path in ("/api/v1/media", "/api/v2/media"):
        status, body, _, _ = await request(instance, "POST", path, token, data=upload_form(
            encode(two_halves(64, 48), "WEBP"), "x.webp", "image/webp", description="carte"))
        assert status == 200, body
        assert set(body) == MEDIA_KEYS
        assert isinstance(body["id"], str) and body["url"].endswith(".webp")
        assert body["remote_url"] is None and body["description"] == "carte"


async def test_a_video_larger_than_the_default_body_cap_uploads(site: tuple[LiveInstance, Actor, Any]) -> None:
    _, _, client = site
    big = mp4_video() + bytes(3 * 1024 * 1024)  # trailing bytes after the boxes: still a valid MP4 for us
    media = await client.media_post(big, mime_type="video/mp4")
    assert media["type"] == "video" and media["url"].endswith(".mp4")


async def test_posting_a_status_with_the_upload_attaches_it(site: tuple[LiveInstance, Actor, Any]) -> None:
    instance, alice, client = site
    token = await issue_token(instance, alice.id, "write:media")
    media = await client.media_post(encode(two_halves(120, 90), "JPEG"), mime_type="image/jpeg",
                                    description="Affiche")
    posted = await client.status_post("Fête de la musique", media_ids=[media["id"]])
    attachments = posted["media_attachments"]
    assert [a["id"] for a in attachments] == [media["id"]]
    assert attachments[0]["url"] == media["url"] and attachments[0]["description"] == "Affiche"
    row = await first(instance, select(Attachment).where(Attachment.id == int(media["id"])))
    assert row.status_id == int(posted["id"])
    # Mastodon: once posted, the upload is no longer reachable here, nor deletable on its own.
    assert (await request(instance, "GET", f"/api/v1/media/{media['id']}", token))[0] == 404
    status_code, body, _, _ = await request(instance, "DELETE", f"/api/v1/media/{media['id']}", token)
    assert status_code == 422 and body["error"] == "Media attachment is currently used by a status"


async def test_delete_removes_an_unposted_upload_and_its_file(site: tuple[LiveInstance, Actor, Any]) -> None:
    instance, alice, client = site
    token = await issue_token(instance, alice.id, "write:media")
    media = await client.media_post(encode(two_halves(64, 48), "PNG"), mime_type="image/png")
    assert (await request(instance, "GET", media["url"]))[0] == 200
    status, body, _, _ = await request(instance, "DELETE", f"/api/v1/media/{media['id']}", token)
    assert (status, body) == (200, {})
    assert (await request(instance, "GET", media["url"]))[0] == 404
    assert (await request(instance, "GET", f"/api/v1/media/{media['id']}", token))[0] == 404


async def test_someone_elses_upload_is_not_found(site: tuple[LiveInstance, Actor, Any]) -> None:
    instance, _, client = site
    media = await client.media_post(encode(two_halves(64, 48), "PNG"), mime_type="image/png")
    bob = await make_account(instance, "bob")
    token = await issue_token(instance, bob.id, "write:media")
    path = f"/api/v1/media/{media['id']}"
    assert (await request(instance, "GET", path, token))[0] == 404
    assert (await request(instance, "PUT", path, token, data={"description": "vandalisme"}))[0] == 404
    assert (await request(instance, "DELETE", path, token))[0] == 404
    assert (await request(instance, "GET", "/api/v1/media/not-a-number", token))[0] == 404


async def test_upload_requires_a_token_and_the_write_media_scope(site: tuple[LiveInstance, Actor, Any]) -> None:
    instance, alice, _ = site
    png = encode(two_halves(64, 48), "PNG")
    status, body, _, _ = await request(instance, "POST", "/api/v2/media",
                                       data=upload_form(png, "x.png", "image/png"))
    assert status == 401 and "error" in body
    read_only = await issue_token(instance, alice.id, "read write:statuses")
    status, body, _, _ = await request(instance, "POST", "/api/v2/media", read_only,
                                       data=upload_form(png, "x.png", "image/png"))
    assert status == 403 and "error" in body
    granular = await issue_token(instance, alice.id, "write:media")
    status, _, _, _ = await request(instance, "POST", "/api/v2/media", granular,
                                    data=upload_form(png, "x.png", "image/png"))
    assert status == 200


async def test_unsupported_or_invalid_uploads_are_422(site: tuple[LiveInstance, Actor, Any]) -> None:
    instance, alice, _ = site
    token = await issue_token(instance, alice.id, "write:media")
    status, body, _, _ = await request(instance, "POST", "/api/v2/media", token, data=upload_form(
        b"Bonjour, ceci n'est pas une image.\n" * 10, "photo.jpg", "image/jpeg"))
    assert status == 422
    assert body["error"].startswith("Validation failed: File type not supported")
    assert body["details"]["file"][0]["error"] == "ERR_INVALID"
    png = encode(two_halves(64, 48), "PNG")
    status, body, _, _ = await request(instance, "POST", "/api/v2/media", token,
                                       data=upload_form(png, "x.png", "image/png", focus="3,0"))
    assert status == 422 and "focus" in body["details"]
    status, body, _, _ = await request(instance, "POST", "/api/v2/media", token,
                                       data=upload_form(png, "x.png", "image/png", description="x" * 1501))
    assert status == 422 and "description" in body["details"]
    status, body, _, _ = await request(instance, "POST", "/api/v2/media", token, data={"description": "no file"})
    assert status == 422 and body["error"] == "Validation failed: File can't be blank"
    async with instance.runtime.sessions() as session:
        assert list(await session.scalars(select(Attachment.id))) == []
