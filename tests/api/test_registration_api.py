"""Signing up from an app (`POST /api/v1/accounts`) with the real Mastodon.py client: the website's
registration rules, the same confirmation mail (through a real local SMTP server), and a token that
works once the address is confirmed."""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
from mastodon import Mastodon
from sqlalchemy import select

from fediverse.models import Actor, User
from tests.federation_steps import make_account
from tests.smtp_steps import instance_settings, link_in, smtp_server

PASSWORD = "les lavoirs du couesnon"


def _app(instance) -> Mastodon:
    client_id, client_secret = Mastodon.create_app("Appli d'inscription", api_base_url=instance.base_url,
                                                   scopes=["read", "write", "follow", "push"], request_timeout=30)
    return Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=instance.base_url,
                    version_check_mode="none", request_timeout=30)


async def test_an_app_signs_a_resident_up_whose_token_works_once_the_mailed_link_is_followed(make_instance) -> None:
    with smtp_server() as mailbox:
        instance = await make_instance("commune-a.test", **instance_settings(mailbox, "open"))
        app = await asyncio.to_thread(_app, instance)
        token = await asyncio.to_thread(app.create_account, "lucie", PASSWORD, "lucie@example.fr",
                                        agreement=True, locale="fr")
        async with instance.runtime.sessions() as session:
            user, actor = (await session.execute(select(User, Actor).join(Actor, Actor.id == User.actor_id)
                                                 .where(Actor.username == "lucie"))).one()
        assert user.email_confirmed_at is None and user.terms_accepted_at is not None and actor.kind == "resident"

        signed_up = Mastodon(access_token=token, api_base_url=instance.base_url, version_check_mode="none",
                             request_timeout=30)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl.create_default_context())) as http:
            async with http.get(f"{instance.base_url}/api/v1/accounts/verify_credentials",
                                headers={"Authorization": f"Bearer {token}"}) as refused:
                assert refused.status == 403
                assert (await refused.json())["error"] == "Your login is missing a confirmed e-mail address"
            mail = await mailbox.wait_for("lucie@example.fr")
            async with http.get(link_in(mail, "/auth/confirmation")) as confirmed:
                assert confirmed.status == 200
        me = await asyncio.to_thread(signed_up.account_verify_credentials)
        assert me["username"] == "lucie"


async def test_the_api_refuses_what_the_website_refuses_with_mastodon_validation_details(make_instance) -> None:
    instance = await make_instance("commune-a.test", registration="open")
    await make_account(instance, "alice")
    app = await asyncio.to_thread(_app, instance)
    token, error = await asyncio.to_thread(app.create_account, "alice", "court", "pas-une-adresse",
                                           agreement=False, return_detailed_error=True)
    assert token is None
    assert error["details"]["username"][0]["error"] == "ERR_TAKEN"
    assert error["details"]["agreement"][0]["error"] == "ERR_ACCEPTED"
    assert {"email", "password"} <= set(error["details"])
    async with instance.runtime.sessions() as session:
        assert await session.scalar(select(User).where(User.email == "pas-une-adresse")) is None

    closed = await make_instance("commune-b.test", registration="closed")
    closed_app = await asyncio.to_thread(_app, closed)
    token, error = await asyncio.to_thread(closed_app.create_account, "lucie", PASSWORD, "lucie@example.fr",
                                           agreement=True, return_detailed_error=True)
    assert token is None and error["error"] == "Registrations are closed on this instance"
