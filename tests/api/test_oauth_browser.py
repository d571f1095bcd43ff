"""The authorize pages in a real browser (headless Chromium through Playwright): log in, choose the
association the user's team manages on the consent page, approve, and exchange the code with Mastodon.py.
The token must act as the association."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from aiohttp import web
from sqlalchemy import select

from fediverse.api.auth import hash_secret
from fediverse.models import OAuthToken, TeamMember, User
from tests.api.test_oauth import PASSWORD, client, register
from tests.federation_steps import first, make_account
from tests.live import TEST_HOSTS

CHROMIUM = "/usr/bin/chromium"
APP_HOST = "commune-c.test"  # the client app's own little web page, on a loopback address of the test hosts

playwright_api = pytest.importorskip("playwright.async_api", reason="pip install playwright")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="apt-get install -y chromium")


@pytest.fixture
async def app_page():
    """A tiny web page standing for the client app's redirect URI; it records the URLs it is called with."""
    arrived: list[str] = []

    async def callback(request: web.Request) -> web.Response:
        arrived.append(str(request.url))
        return web.Response(text="<p>Application : connexion reçue</p>", content_type="text/html")

    server = web.Application()
    server.router.add_get("/callback", callback)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, TEST_HOSTS[APP_HOST], 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://{APP_HOST}:{port}/callback", arrived
    await runner.cleanup()


@pytest.fixture
async def browser():
    async with playwright_api.async_playwright() as playwright:
        rules = ", ".join(f"MAP {host} {ip}" for host, ip in TEST_HOSTS.items())
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  f"--host-resolver-rules={rules}"])
        yield launched
        await launched.close()


async def test_team_member_authorizes_an_app_to_act_as_the_association_in_a_browser(make_instance, browser, app_page,
                                                                                      tmp_path: Path):
    callback_url, arrived = app_page
    instance = await make_instance("commune-a.test")
    alice = await make_account(instance, "alice", display_name="Alice Martin")
    club = await make_account(instance, "club_de_foot", kind="association", display_name="Club de foot")
    async with instance.runtime.sessions() as session, session.begin():
        user_id = await session.scalar(select(User.id).where(User.actor_id == alice.id))
        session.add(TeamMember(actor_id=club.id, user_id=user_id, role="editor"))
    client_id, client_secret = await register(instance, redirect_uris=callback_url)
    state = secrets.token_urlsafe(8)

    context = await browser.new_context(ignore_https_errors=True, locale="fr-FR")
    page = await context.new_page()
    query = urlencode({"client_id": client_id, "redirect_uri": callback_url, "response_type": "code",
                       "scope": "read write", "state": state})
    await page.goto(f"{instance.base_url}/oauth/authorize?{query}")
    assert await page.locator("html").get_attribute("lang") == "fr"
    await page.fill("input[name=login]", "alice@commune-a.test")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[value=login]")

    identity = page.locator(f"input[name=actor_id][value='{club.id}']")
    await identity.wait_for()
    assert await page.locator(f"input[name=actor_id][value='{alice.id}']").is_checked()
    assert "Appli de test" in await page.content()
    await identity.check()
    screenshot = tmp_path / "consent.png"
    await page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 0
    await page.click("button[value=approve]")
    await page.wait_for_url(f"{callback_url}?*")
    assert "connexion reçue" in await page.content()
    await context.close()

    assert len(arrived) == 1
    query_back = parse_qs(urlsplit(arrived[0]).query)
    assert query_back["state"] == [state]
    app = client(instance, client_id, client_secret)
    token = await app.log_in(code=query_back["code"][0], redirect_uri=callback_url, scopes=["read", "write"])
    stored = await first(instance, select(OAuthToken).where(OAuthToken.token_hash == hash_secret(token)))
    assert stored.actor_id == club.id and stored.user_id == user_id
    account = await app.account_verify_credentials()
    assert account["username"] == "club_de_foot" and account["id"] == str(club.id)
