"""Kinds of accounts and association teams as Mastodon apps see them, driven by the real Mastodon.py
against a live instance; the administrator's side runs the real `fediverse` command on the instance's
own data directory."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import sys
from typing import Any

import aiohttp
import pytest
from mastodon import Mastodon, MastodonUnauthorizedError
from sqlalchemy import select, update

from fediverse.models import Actor, OAuthToken, User
from tests.conftest import issue_token
from tests.federation_steps import first, make_account
from tests.live import LiveInstance


@pytest.fixture
async def commune_a(make_instance):
    return await make_instance("commune-a.test")


async def fediverse_cli(instance: LiveInstance, *args: str) -> tuple[int, str, str]:
    """The admin command on the live instance's database (SQLite in WAL mode takes both processes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDIVERSE_")}
    env.update({"FEDIVERSE_DATA_DIR": str(instance.data_dir), "FEDIVERSE_DOMAIN": instance.domain,
                "FEDIVERSE_DATABASE_URL": instance.settings.database_url})
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "fediverse", *args, env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode(), err.decode()


async def raw(instance: LiveInstance, path: str, token: str | None = None, **params: str) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.get(
            instance.base_url + path, headers=headers, params=params, ssl=ssl.create_default_context()) as resp:
        return resp.status, await resp.json(content_type=None)


async def token_as(instance: LiveInstance, member: Actor, account: Actor) -> str:
    """A token for `member`'s login acting as `account`, as the OAuth consent page issues it."""
    token = await issue_token(instance, account.id)
    user_id = await first(instance, select(User.id).where(User.actor_id == member.id))
    async with instance.runtime.sessions() as session, session.begin():
        await session.execute(update(OAuthToken).where(OAuthToken.actor_id == account.id)
                              .values(user_id=user_id))
    return token


def client_for(instance: LiveInstance, token: str) -> Mastodon:
    client = Mastodon(api_base_url=instance.base_url, access_token=token, version_check_mode="none",
                      request_timeout=30)
    client.session.headers["Connection"] = "close"
    return client


async def test_an_editor_posts_as_the_association_until_removed_from_its_team(commune_a):
    club = await make_account(commune_a, "club", kind="association", display_name="Club de foot")
    alice = await make_account(commune_a, "alice")
    bruno = await make_account(commune_a, "bruno")
    for user, role in (("alice", "admin"), ("bruno", "editor")):
        code, _, err = await fediverse_cli(commune_a, "teams", "add", "club", user, "--role", role)
        assert code == 0, err
    client = client_for(commune_a, await token_as(commune_a, bruno, club))
    try:
        me = await asyncio.to_thread(client.account_verify_credentials)
        assert me["id"] == str(club.id) and me["group"] is True
        posted = await asyncio.to_thread(client.status_post, "Entraînement samedi à 10h")
        assert posted["account"]["id"] == str(club.id) and posted["account"]["acct"] == "club"

        code, out, err = await fediverse_cli(commune_a, "teams", "remove", "club", "bruno")
        assert code == 0 and "1 app token(s) revoked" in out, err
        with pytest.raises(MastodonUnauthorizedError):
            await asyncio.to_thread(client.status_post, "Encore moi")
        with pytest.raises(MastodonUnauthorizedError):
            await asyncio.to_thread(client.account_verify_credentials)
    finally:
        client.session.close()
    assert alice.id != bruno.id


async def test_shared_account_actions_are_logged_for_the_team_only(commune_a):
    club = await make_account(commune_a, "club", kind="association")
    alice = await make_account(commune_a, "alice")
    bruno = await make_account(commune_a, "bruno")
    outsider = await make_account(commune_a, "zoe")
    for user, role in (("alice", "admin"), ("bruno", "editor")):
        code, _, err = await fediverse_cli(commune_a, "teams", "add", "club", user, "--role", role)
        assert code == 0, err
    client = client_for(commune_a, await token_as(commune_a, bruno, club))
    try:
        posted = await asyncio.to_thread(client.status_post, "Tournoi dimanche")
        await asyncio.to_thread(client.status_delete, posted["id"])
    finally:
        client.session.close()
    alice_token = await issue_token(commune_a, alice.id)
    status, teams = await raw(commune_a, "/api/v1/teams", alice_token)
    assert status == 200
    assert [(t["account"]["id"], t["role"], t["state"]) for t in teams] == [(str(club.id), "admin", "active")]
    status, log = await raw(commune_a, f"/api/v1/teams/{club.id}/actions", alice_token)
    assert status == 200
    assert [(e["action"], e["member"]["id"]) for e in log] == [("status.delete", str(bruno.id)),
                                                                ("status.create", str(bruno.id))]
    assert all(e["object_uri"] == posted["uri"] for e in log)
    status, _ = await raw(commune_a, f"/api/v1/teams/{club.id}/actions", await issue_token(commune_a, outsider.id))
    assert status == 404


async def test_verified_badge_is_a_profile_field_set_only_by_the_admin_command(commune_a, mastodon_client):
    mairie = await make_account(commune_a, "mairie", kind="collectivity")
    alice = await make_account(commune_a, "alice")
    client = await mastodon_client(commune_a, alice.id)
    before = await client.account(mairie.id)
    assert before["verified"] is False and before["kind"] == "collectivity"
    assert [(f["name"], f["value"], f["verified_at"]) for f in before["fields"]] == [
        ("Type de compte", "Collectivité", None)]

    code, out, err = await fediverse_cli(commune_a, "accounts", "verify", "mairie")
    assert code == 0 and "Verified mairie@commune-a.test (collectivity)" in out, err
    after = await client.account(mairie.id)
    assert after["verified"] is True and after["fields"][-1]["verified_at"] is not None

    code, _, err = await fediverse_cli(commune_a, "accounts", "verify", "alice")
    assert code == 2 and "resident" in err
    mine = await client.account_verify_credentials()
    assert mine["verified"] is False and mine["fields"] == [] and mine["source"]["fields"] == []
    # The API has no way to change one's kind: an app sending it changes nothing.
    await client.account_update_credentials(note="Habitante", fields=[("Quartier", "Centre")])
    status, me = await raw(commune_a, "/api/v1/accounts/verify_credentials", await issue_token(commune_a, alice.id))
    assert status == 200 and me["kind"] == "resident" and me["verified"] is False
    assert [(f["name"], f["verified_at"]) for f in me["source"]["fields"]] == [("Quartier", None)]

    code, _, err = await fediverse_cli(commune_a, "accounts", "verify", "mairie", "--undo")
    assert code == 0, err
    assert (await client.account(mairie.id))["verified"] is False


async def test_directory_filters_by_kind_theme_and_verification(commune_a):
    foot = await make_account(commune_a, "foot", kind="association")
    theatre = await make_account(commune_a, "theatre", kind="association")
    boulangerie = await make_account(commune_a, "boulangerie", kind="shop")
    await make_account(commune_a, "alice")
    async with commune_a.runtime.sessions() as session, session.begin():
        await session.execute(update(Actor).where(Actor.id == foot.id).values(theme="sport"))
        await session.execute(update(Actor).where(Actor.id == theatre.id).values(theme="culture"))
    code, _, err = await fediverse_cli(commune_a, "accounts", "verify", "theatre")
    assert code == 0, err

    status, body = await raw(commune_a, "/api/v1/directory", local="true", kind="association", theme="sport")
    assert status == 200 and [a["id"] for a in body] == [str(foot.id)]
    _, body = await raw(commune_a, "/api/v1/directory", local="true", kind="association", verified="true")
    assert [a["id"] for a in body] == [str(theatre.id)] and body[0]["verified"] is True
    _, body = await raw(commune_a, "/api/v1/directory", local="true", kind="shop")
    assert [a["id"] for a in body] == [str(boulangerie.id)]
    assert json.dumps(body[0]["fields"], ensure_ascii=False).count("Commerce") == 1
