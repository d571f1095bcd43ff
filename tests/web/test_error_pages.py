"""Unknown addresses and refused methods answer browsers with a page in the site's layout and their
language, and programs (the API, federation) with JSON, never a bare server page."""

from __future__ import annotations

import ssl

import aiohttp

from tests.live import LiveInstance

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def _fetch(instance: LiveInstance, method: str, path: str, **headers: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl.create_default_context())) as http, \
            http.request(method, f"{instance.base_url}{path}", headers=headers, allow_redirects=False) as response:
        return response.status, response.headers.get("content-type", ""), await response.text()


async def test_unknown_pages_and_refused_methods_get_the_site_layout_in_the_visitor_language(make_instance) -> None:
    instance = await make_instance("commune-a.test")
    status, kind, body = await _fetch(instance, "GET", "/nulle-part", Accept=BROWSER)
    assert status == 404 and kind.startswith("text/html")
    assert '<html lang="fr"' in body and "Page introuvable" in body and '<nav' in body and 'href="/agenda"' in body
    assert "<title>Page introuvable · commune-a.test</title>" in body

    status, _, body = await _fetch(instance, "GET", "/nulle-part", Accept=BROWSER, **{"Accept-Language": "en-GB"})
    assert status == 404 and '<html lang="en"' in body and "Page not found" in body

    status, _, body = await _fetch(instance, "DELETE", "/annuaire", Accept=BROWSER)
    assert status == 405 and "Erreur 405" in body and "n'accepte pas ce type de requête" in body


async def test_programs_keep_their_json_errors(make_instance) -> None:
    instance = await make_instance("commune-a.test")
    status, kind, body = await _fetch(instance, "GET", "/api/v1/nothing-here", Accept=BROWSER)
    assert status == 404 and kind.startswith("application/json") and '"error"' in body
    status, kind, _ = await _fetch(instance, "GET", "/nulle-part", Accept="application/activity+json")
    assert status == 404 and kind.startswith("application/json")
