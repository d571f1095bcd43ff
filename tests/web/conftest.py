"""Browser fixtures for the website's tests: a real headless Chromium (Playwright) that resolves the
test host names to their loopback addresses, and the steps most tests share (signing in through the
real form, reading the form's CSRF token)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.live import TEST_HOSTS, LiveInstance

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"  # tests.federation_steps.make_account's password
PHONE = {"width": 360, "height": 740}

playwright_api = pytest.importorskip("playwright.async_api", reason="pip install playwright")
HAVE_CHROMIUM = os.path.exists(CHROMIUM)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not HAVE_CHROMIUM:
        pytest.skip("apt-get install -y chromium")
    async with playwright_api.async_playwright() as playwright:
        rules = ", ".join(f"MAP {host} {ip}" for host, ip in TEST_HOSTS.items())
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  f"--host-resolver-rules={rules}"])
        yield launched
        await launched.close()


async def new_page(browser: Any, **options: Any) -> Any:
    """A page in a fresh context (its own cookies), in French like most of the territory's residents.
    The test CA is not in Chromium's store, so certificate errors are ignored (the host mapping above
    still sends every request to our loopback instance)."""
    context = await browser.new_context(ignore_https_errors=True, locale="fr-FR", **options)
    return await context.new_page()


async def sign_in(page: Any, instance: LiveInstance, login: str, password: str = PASSWORD,
                  next_path: str | None = None) -> Any:
    """Sign in through the real form; the response to the form's POST (after redirects)."""
    url = f"{instance.base_url}/auth/sign_in" + (f"?next={next_path}" if next_path else "")
    await page.goto(url)
    await page.fill("#login", login)
    await page.fill("#password", password)
    async with page.expect_navigation() as navigation:
        await page.click("form[action='/auth/sign_in'] button[type=submit]")
    return await navigation.value


async def csrf_token(page: Any) -> str:
    """The CSRF token of the forms on the page (the session's)."""
    return await page.locator("input[name=csrf_token]").first.get_attribute("value")
