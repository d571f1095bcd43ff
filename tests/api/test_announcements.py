"""Announcements of the collectivity: institutional messages written with the `fediverse announcements`
command against the live instance's data (and notices without a status), read and dismissed by the
real Mastodon.py."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta

import pytest
from mastodon import MastodonAPIError, MastodonNotFoundError
from sqlalchemy import select

from actors.announcements import Moment, create_announcement
from fediverse.models import Announcement, AnnouncementRead
from tests.api.test_accounts import raw, start  # noqa: F401  (fixture: SQLite, or PostgreSQL when configured)
from tests.conftest import issue_token
from tests.federation_steps import count, first, make_account
from tests.live import LiveInstance

ENTITY_KEYS = {"id", "content", "starts_at", "ends_at", "all_day", "published_at", "updated_at", "read", "mentions",
               "statuses", "tags", "emojis", "reactions", "urgent", "theme"}


async def cli(instance: LiveInstance, *args: str) -> tuple[int, str, str]:
    """`python -m fediverse ...` in its own process, on the live instance's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDIVERSE_")}
    env.update({"FEDIVERSE_DATA_DIR": str(instance.settings.data_dir), "FEDIVERSE_DOMAIN": instance.domain,
                "FEDIVERSE_DATABASE_URL": instance.settings.database_url})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fediverse", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def commune_a(start):  # noqa: F811
    return await start("commune-a.test")


async def test_cli_announcements_are_listed_urgent_first_and_dismissed_per_reader(commune_a, mastodon_client):
    mairie = await make_account(commune_a, "mairie", kind="collectivity")
    alice = await make_account(commune_a, "alice")
    bernard = await make_account(commune_a, "bernard")
    code, out, err = await cli(commune_a, "announcements", "create", "--from", "mairie", "--urgent", "--text",
                               "Coupure d'eau rue des Lilas demain matin.\n\nDétails : https://mairie.example/eau",
                               "--until", "2099-06-01")
    assert code == 0, err
    code, out, err = await cli(commune_a, "announcements", "create", "--from", "mairie",
                               "--text", "Fête du village samedi <b>sur la place</b>")
    assert code == 0, err
    assert "Published announcement" in out
    async with commune_a.runtime.sessions() as session:
        water, fete = (await session.scalars(select(Announcement).order_by(Announcement.published_at))).all()
    assert water.actor_id == mairie.id and water.urgent and not fete.urgent
    assert water.theme == "alerte" and fete.theme is None and water.status_id and fete.status_id

    client = await mastodon_client(commune_a, alice.id)
    listed = await client.announcements()
    # The urgent one comes first although the other one is newer.
    assert [str(a["id"]) for a in listed] == [str(water.id), str(fete.id)]
    urgent = listed[0]
    # The content is the status's: paragraphs, links, and the theme's hashtag added by the command.
    assert urgent["content"].startswith("<p>Coupure d&#x27;eau rue des Lilas demain matin.</p><p>Détails : <a ")
    assert '<a href="https://mairie.example/eau"' in urgent["content"] and urgent["content"].count("<p>") == 3
    assert 'href="https://commune-a.test/tags/alerte"' in urgent["content"]
    assert "<b>" not in listed[1]["content"] and "&lt;b&gt;" in listed[1]["content"]
    assert urgent["all_day"] is True and urgent["read"] is False and urgent["starts_at"] is None
    # "until 2099-06-01": to the end of that day in France (summer time, UTC+2).
    assert urgent["ends_at"] == datetime(2099, 6, 1, 21, 59, 59, tzinfo=UTC)
    assert listed[1]["ends_at"] is None and listed[1]["all_day"] is False
    assert [str(s["id"]) for s in urgent["statuses"]] == [str(water.status_id)]
    assert urgent["statuses"][0]["url"] == f"https://commune-a.test/@mairie/{water.status_id}"
    assert [t["name"] for t in urgent["tags"]] == ["alerte"] and listed[1]["tags"] == []
    for key in ("mentions", "emojis", "reactions"):
        assert urgent[key] == []

    token = await issue_token(commune_a, alice.id)
    status, body, _ = await raw(commune_a, "GET", "/api/v1/announcements", token)
    assert status == 200 and set(body[0]) == ENTITY_KEYS and body[0]["id"] == str(water.id)
    assert body[0]["ends_at"] == "2099-06-01T21:59:59.000Z" and body[0]["urgent"] is True
    assert body[0]["theme"] == "alerte" and body[1]["theme"] is None
    assert isinstance(body[0]["published_at"], str) and body[0]["published_at"].endswith("Z")

    await client.announcement_dismiss(water.id)
    await client.announcement_dismiss(water.id)  # again: no error, one row
    assert await count(commune_a, AnnouncementRead, AnnouncementRead.announcement_id == water.id) == 1
    after = {str(a["id"]): a["read"] for a in await client.announcements()}
    assert after == {str(water.id): True, str(fete.id): False}
    status, body, _ = await raw(commune_a, "GET", "/api/v1/announcements?with_dismissed=false", token)
    assert status == 200 and [a["id"] for a in body] == [str(fete.id)]
    # Read state is per reader.
    other = await mastodon_client(commune_a, bernard.id)
    assert [a["read"] for a in await other.announcements()] == [False, False]


async def test_ended_announcements_disappear_and_unknown_ids_answer_404(commune_a, mastodon_client):
    await make_account(commune_a, "mairie", kind="collectivity")
    alice = await make_account(commune_a, "alice")
    long_ago = datetime.now(UTC) - timedelta(days=30)
    async with commune_a.runtime.sessions() as session, session.begin():
        ended = await create_announcement(session, "mairie", "Travaux terminés", now=long_ago,
                                          ends_at=Moment(long_ago + timedelta(days=2), False))
        current = await create_announcement(session, "mairie", "Marché de Noël",
                                            ends_at=Moment(datetime.now(UTC) + timedelta(days=3), False))
    client = await mastodon_client(commune_a, alice.id)
    assert [str(a["id"]) for a in await client.announcements()] == [str(current.id)]
    with pytest.raises(MastodonNotFoundError):
        await client.announcement_dismiss(123456789)
    token = await issue_token(commune_a, alice.id)
    status, body, _ = await raw(commune_a, "POST", "/api/v1/announcements/not-an-id/dismiss", token)
    assert status == 404 and "error" in body
    # Reactions are accepted without being stored; an unknown announcement is still a 404.
    await client.announcement_reaction_create(current.id, "👍")
    status, body, _ = await raw(commune_a, "PUT", f"/api/v1/announcements/{current.id}/reactions/👍", token)
    assert status == 200 and body == {}
    status, body, _ = await raw(commune_a, "DELETE", f"/api/v1/announcements/{current.id}/reactions/👍", token)
    assert status == 200 and body == {}
    status, body, _ = await raw(commune_a, "PUT", "/api/v1/announcements/123456789/reactions/👍", token)
    assert status == 404 and "error" in body
    # Dismissing needs write:accounts; reading needs a user token and nothing more.
    read_only = await mastodon_client(commune_a, alice.id, "read")
    with pytest.raises(MastodonAPIError) as refused:
        await read_only.announcement_dismiss(current.id)
    assert refused.value.args[1] == 403
    assert await first(commune_a, select(AnnouncementRead.id)) is None
    status, body, _ = await raw(commune_a, "GET", "/api/v1/announcements")
    assert status == 401 and "error" in body
    assert ended.id not in {int(a["id"]) for a in await read_only.announcements()}
