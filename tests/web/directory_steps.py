"""Steps shared by the tests of the home page, the directory, account and group pages and search:
content published through the real outbox commands (posts, events, ads, groups), the files an
association publishes (a photo, a PDF), and plain HTTP requests to a live instance."""

from __future__ import annotations

import io
import ssl
from datetime import timedelta
from typing import Any

import aiohttp
from PIL import Image
from sqlalchemy import select

from actors.groups import create_group
from actors.teams import add_member
from fediverse.db import utcnow
from fediverse.media.attachments import create_attachment
from fediverse.models import Actor, Ad, Event, Status, User
from outbox.ad_commands import post_ad
from outbox.ads import AdSpec
from outbox.commands import Outbox, StatusDraft
from outbox.events import EventCommands, event_spec
from tests.live import LiveInstance

INSECURE = ssl.create_default_context()
INSECURE.check_hostname = False
INSECURE.verify_mode = ssl.CERT_NONE


def png_bytes(colour: str = "red", size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def pdf_bytes(text: str = "Compte rendu") -> bytes:
    """A small, complete PDF (one page with one line of text), written by hand."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


async def user_of(instance: LiveInstance, actor: Actor) -> User:
    async with instance.runtime.sessions() as session:
        return await session.scalar(select(User).where(User.actor_id == actor.id))


async def join_team(instance: LiveInstance, team: Actor, member: Actor, role: str = "editor") -> None:
    async with instance.runtime.transaction() as session:
        await add_member(session, await session.get(Actor, team.id), await user_of(instance, member), role,
                         active=True)


async def update_actor(instance: LiveInstance, actor: Actor, **values: Any) -> None:
    async with instance.runtime.transaction() as session:
        row = await session.get(Actor, actor.id)
        for name, value in values.items():
            setattr(row, name, value)


async def post(instance: LiveInstance, actor: Actor, text: str, **draft: Any) -> Status:
    return await Outbox(instance.runtime).post(actor.id, StatusDraft(text=text, **draft))


async def post_with_file(instance: LiveInstance, actor: Actor, text: str, data: bytes, description: str) -> Status:
    """A post with one attached file, uploaded through the media pipeline as an app would."""
    media = await create_attachment(instance.runtime, actor.id, data, filename="file", description=description)
    return await post(instance, actor, text, media_ids=[media.id])


async def event(instance: LiveInstance, actor: Actor, title: str, *, days: int = 10, commune: str | None = "35257",
                attributed_to: Actor | None = None) -> Event:
    """An event `days` from now at 18:00 (three hours), posted by `actor`, possibly for a group or team."""
    start = (utcnow() + timedelta(days=days)).replace(hour=18, minute=0, second=0, microsecond=0)
    raw: dict[str, Any] = {"title": title, "description": f"<p>{title} : venez nombreux.</p>",
                           "start": start.strftime("%Y-%m-%dT%H:%M"),
                           "end": (start + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"), "category": "party",
                           "place": {"name": "Salle des fêtes"}}
    if commune:
        raw["commune"] = commune
    return await EventCommands(instance.runtime).create_event(
        actor.id, event_spec(raw), attributed_to_id=attributed_to.id if attributed_to is not None else None)


async def ad(instance: LiveInstance, actor: Actor, title: str, description: str = "Très bon état") -> Ad:
    spec = AdSpec(title=title, description=description, category="vente", purpose="offer", price_cents=1500,
                  free=False, expires_at=None)
    return await post_ad(Outbox(instance.runtime), actor.id, spec)


async def group(instance: LiveInstance, name: str, owner: str, **options: Any) -> Actor:
    async with instance.runtime.transaction() as session:
        return await create_group(session, instance.runtime.uris, name, owner=owner, **options)


async def get(instance: LiveInstance, path: str, *, cookie: str | None = None,
              headers: dict[str, str] | None = None) -> tuple[int, str, Any]:
    """(status, body, headers) of a GET without following redirects."""
    cookies = {"fediverse_session": cookie} if cookie else None
    async with aiohttp.ClientSession(cookies=cookies) as http, http.get(
            f"{instance.base_url}{path}", ssl=INSECURE, allow_redirects=False, headers=headers or {}) as response:
        return response.status, await response.text(errors="replace"), response.headers
