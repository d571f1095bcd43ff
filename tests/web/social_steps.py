"""Steps the social pages' tests share: posting as someone, a signed-in HTTP client (the cookie the
sign-in page sets), small generated photos, and a remote follower whose inbox receives the
deliveries of a local account's posts."""

from __future__ import annotations

import io
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from PIL import Image
from sqlalchemy import select

from actors.follows import accept_follow
from fediverse.ids import new_id
from fediverse.models import Actor, Delivery, Follow, OutgoingActivity, Status
from fediverse.web.session import COOKIE_NAME
from outbox.commands import Outbox, StatusDraft
from tests.live import LiveInstance
from tests.web.test_neighbourhood_pages import session_cookie, user_of


async def post(instance: LiveInstance, author: Actor, text: str, **draft: Any) -> Status:
    """A post written through the outbox, as an app would."""
    return await Outbox(instance.runtime).post(author.id, StatusDraft(text=text, **draft))


def photo(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    """A small PNG of one colour."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


class SignedClient:
    """Plain HTTP requests as a signed-in person, with their session's CSRF token."""

    def __init__(self, instance: LiveInstance, http: aiohttp.ClientSession, csrf: str) -> None:
        self.instance = instance
        self.http = http
        self.csrf = csrf

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.instance.base_url + path, allow_redirects=False,
                                 ssl=ssl.create_default_context()) as response:
            return response.status, await response.text()

    async def post(self, path: str, fields: dict[str, str] | None = None, *,
                   csrf: str | None = None) -> tuple[int, str, str]:
        """Status, body and Location of a form POST (the session's token unless `csrf` is given)."""
        data = {"csrf_token": self.csrf if csrf is None else csrf, **(fields or {})}
        async with self.http.post(self.instance.base_url + path, data=data, allow_redirects=False,
                                  ssl=ssl.create_default_context()) as response:
            return response.status, await response.text(), response.headers.get("location", "")


    async def upload(self, path: str, fields: dict[str, str],
                     files: dict[str, tuple[str, bytes, str]]) -> tuple[int, str]:
        """A multipart form (`files`: field -> (file name, bytes, type)) with the session's token."""
        form = aiohttp.FormData()
        for name, value in {"csrf_token": self.csrf, **fields}.items():
            form.add_field(name, value)
        for name, (filename, data, content_type) in files.items():
            form.add_field(name, data, filename=filename, content_type=content_type)
        async with self.http.post(self.instance.base_url + path, data=form, allow_redirects=False,
                                  ssl=ssl.create_default_context()) as response:
            return response.status, await response.text()


@asynccontextmanager
async def signed_client(instance: LiveInstance, actor: Actor) -> AsyncIterator[SignedClient]:
    cookie, csrf = await session_cookie(instance, (await user_of(instance, actor)).id)
    async with aiohttp.ClientSession(cookies={COOKIE_NAME: cookie}) as http:
        yield SignedClient(instance, http, csrf)


@asynccontextmanager
async def anonymous_client(instance: LiveInstance) -> AsyncIterator[SignedClient]:
    async with aiohttp.ClientSession() as http:
        yield SignedClient(instance, http, "")


async def remote_follower(instance: LiveInstance, followed: Actor, username: str = "lea") -> Actor:
    """An account of another server (never contacted: its deliveries just wait in the queue) that
    follows `followed`."""
    domain = "ailleurs.example"
    async with instance.runtime.transaction() as session:
        remote = Actor(id=new_id(), uri=f"https://{domain}/users/{username}", username=username,
                       username_lower=username, domain=domain, domain_key=domain, display_name=username.title(),
                       inbox_url=f"https://{domain}/users/{username}/inbox",
                       shared_inbox_url=f"https://{domain}/inbox", url=f"https://{domain}/@{username}")
        session.add(remote)
        await session.flush()
        follow = Follow(id=new_id(), uri=f"https://{domain}/follows/{new_id()}", follower_id=remote.id,
                        followee_id=followed.id)
        session.add(follow)
        await session.flush()
        await accept_follow(session, follow)
    return remote


async def queued(instance: LiveInstance, activity_type: str, object_uri: str) -> list[str]:
    """The inboxes an activity of this type about `object_uri` was queued for."""
    async with instance.runtime.sessions() as session:
        return list((await session.scalars(select(Delivery.inbox_url).join(
            OutgoingActivity, OutgoingActivity.id == Delivery.activity_id).where(
            OutgoingActivity.activity_type == activity_type, OutgoingActivity.object_uri == object_uri))).all())
