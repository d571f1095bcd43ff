"""Every page and form of the website, asked with hostile input, answers with a clear 4xx (or the page
it would show anyway), never a 500: absurd or huge ids, unknown names, markup and control characters
in the path and the query string, junk in every form (with a valid CSRF token, so the form is really
read), anonymous and signed in. The routes are read from the application itself, so a page added later
is swept too."""

from __future__ import annotations

import re
import ssl
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select
from starlette.routing import Route

from fediverse.models import Actor
from fediverse.web.routes import routes
from tests.federation_steps import make_account
from tests.test_locations import with_territory
from tests.web.social_steps import anonymous_client, post, signed_client

JUNK = "<script>alert(1)</script>\x00" + "é" * 300
QUERY = "&".join(f"{name}={quote(value)}" for name, value in {
    "view": "x\x00", "date": "2026-13-45", "commune": "<b>", "category": "ZZZ", "organizer": "abc",
    "q": "x" * 3000, "max_id": "-5", "cursor": "!!", "page": "abc", "radius_km": "1e999", "purpose": "zz",
    "token": "zz", "to": "@@@", "in_reply_to": "abc", "next": "//evil.example", "invite": "\x01"}.items())
FORM = {"title": JUNK, "text": JUNK, "description": JUNK, "start-date": "9999-99-99", "start_date": "0000-00-00",
        "start-time": "25:61", "end-date": "x", "latitude": "1e999", "longitude": "nan", "capacity": "-1",
        "price": "abc", "category": "\x00", "purpose": "zz", "commune": "<b>", "radius_km": "-3",
        "action": "explode", "reason": JUNK, "visibility": "everyone", "language": "klingon", "login": JUNK,
        "password": "x", "email": "not-an-address", "username": "@@", "actor_id": "99999999999999999999",
        "session_id": "abc", "app_id": "-1", "kept_media": "123", "to": "@@@", "message": JUNK,
        "in_reply_to_id": "abc", "expires_at": "yesterday", "max_uses": "-9", "code": JUNK, "role": "emperor"}
SKIPPED = {"/auth/sign_out"}  # would end the sweeping client's own session


def _paths(template: str, known: dict[str, str]) -> list[str]:
    """The route's path with hostile values, and with real ones where the route names a known thing."""
    hostile = [re.sub(r"\{[^}]*:int\}", "9223372036854775807", template),
               re.sub(r"\{[^}]*:int\}", "0", template)]
    real = re.sub(r"\{([^}:]*)(:int)?\}", lambda m: known.get(m.group(1), "1"), template)
    with_names = [re.sub(r"\{[^}]*\}", quote(value, safe=""), path)
                  for path in hostile for value in ("nobody", "<x>\x00")]
    return sorted(set(with_names + [real]))


async def _get_status(client: Any, path: str) -> int:
    """The status of a GET (pages, feeds and archives alike: the body is read as bytes)."""
    async with client.http.get(client.instance.base_url + path, allow_redirects=False,
                               ssl=ssl.create_default_context()) as response:
        await response.read()
        return response.status


async def _sweep(client: Any, known: dict[str, str]) -> list[str]:
    failures = []
    for route in routes:
        if not isinstance(route, Route) or route.path in SKIPPED:
            continue
        for path in _paths(route.path, known):
            if "GET" in (route.methods or set()):
                status = await _get_status(client, f"{path}?{QUERY}")
                if status >= 500:
                    failures.append(f"GET {path} -> {status}")
            if "POST" in (route.methods or set()):
                status, _, _ = await client.post(path, FORM)
                if status >= 500:
                    failures.append(f"POST {path} -> {status}")
    return failures


@pytest.mark.parametrize("signed", [False, True], ids=["anonymous", "signed in"])
async def test_every_page_and_form_answers_hostile_input_without_a_server_error(make_instance, signed: bool) -> None:
    instance = await with_territory(await make_instance("commune-a.test"))
    alice = await make_account(instance, "alice", commune_insee="35257")
    await make_account(instance, "club", kind="association")
    status = await post(instance, alice, "Bonjour #fete")
    known = {"username": "alice", "status_id": str(status.id), "actor_id": str(alice.id), "tag": "fete",
             "insee": "35257", "key": str(status.id), "decision": "approve", "code": "nope"}
    if signed:
        async with signed_client(instance, alice) as client:
            failures = await _sweep(client, known)
    else:
        async with anonymous_client(instance) as client:
            failures = await _sweep(client, known)
    assert failures == []


async def test_a_nul_character_is_dropped_from_stored_and_looked_up_text(make_instance) -> None:
    """PostgreSQL refuses NUL in text (a 500 before); both databases now store and match without it."""
    instance = await make_instance("commune-a.test")
    await make_account(instance, "alice", display_name="Ali\x00ce Martin")
    async with instance.runtime.sessions() as session:
        found = await session.scalar(select(Actor).where(Actor.username_lower == "ali\x00ce"))
    assert found is not None and found.display_name == "Alice Martin"
