"""The neighbourhood on the website, in a real headless Chromium through Playwright: the "voisinage"
timeline (posts of the communes within the resident's radius only, paging, empty state) and the
settings page (live preview with and without JavaScript, saving, refused input, phone width), on a
live instance serving Couesnon Marches de Bretagne with a neighbour instance's communes known.

One test signs in through the real sign-in page; the others set the session cookie that page sets
(signed with the instance's key), which keeps them about the neighbourhood pages."""

from __future__ import annotations

import ssl
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from actors.browser_sessions import open_browser_session
from actors.neighbourhood import DEFAULT_RADIUS_KM, load_neighbourhood
from fediverse.models import Actor, User
from fediverse.web.session import COOKIE_NAME, WebSession, sign
from tests.api.test_neighbourhood import (
    BAZOUGES,
    FOUGERES_TOWN,
    LE_CHATELLIER,
    MAEN_ROCH,
    SAINT_GERMAIN,
    add_neighbour_communes,
    located_post,
)
from tests.api.test_timelines import raw
from tests.conftest import issue_token
from tests.federation_steps import make_account
from tests.live import LiveInstance
from tests.test_locations import with_territory
from tests.web.conftest import PASSWORD, PHONE, new_page


@pytest.fixture
async def territory(make_instance):
    """alice lives in Maen Roch (default radius 10 km); bob in Bazouges-la-Pérouse, 15.5 km away."""
    instance = await with_territory(await make_instance("commune-a.test"))
    await add_neighbour_communes(instance)
    alice = await make_account(instance, "alice", commune_insee=MAEN_ROCH, display_name="Alice")
    bob = await make_account(instance, "bob", commune_insee=BAZOUGES, display_name="Bob")
    return instance, alice, bob


async def session_cookie(instance: LiveInstance, user_id: int) -> tuple[str, str]:
    """The cookie the sign-in page sets for this user (with its browser-session row), and its CSRF token."""
    async with instance.runtime.transaction() as session:
        key = await open_browser_session(session, await session.get(User, user_id), user_agent="test", ip=None)
    web = WebSession()
    web.log_in(user_id, key)
    value = sign(instance.runtime.settings, {**web.data, "exp": int(time.time()) + 3600})
    return value, web.csrf_token


async def user_of(instance: LiveInstance, actor: Actor) -> User:
    async with instance.runtime.sessions() as session:
        return await session.scalar(select(User).where(User.actor_id == actor.id))


async def signed_in_context(browser: Any, instance: LiveInstance, actor: Actor, **options: Any) -> Any:
    context = await browser.new_context(ignore_https_errors=True, locale="fr-FR", **options)
    value, _ = await session_cookie(instance, (await user_of(instance, actor)).id)
    await context.add_cookies([{"name": COOKIE_NAME, "value": value, "url": instance.base_url, "secure": True,
                                "httpOnly": True, "sameSite": "Lax"}])
    return context


async def saved_settings(instance: LiveInstance, actor: Actor) -> tuple[str | None, float | None, str | None]:
    async with instance.runtime.sessions() as session:
        user = await session.scalar(select(User).where(User.actor_id == actor.id))
        home = await session.scalar(select(Actor.commune_insee).where(Actor.id == actor.id))
    return home, user.neighbourhood_radius_km, user.neighbourhood_communes_json


async def preview_codes(page: Any) -> list[str]:
    return await page.locator("#commune-preview li[data-insee]").evaluate_all(
        "items => items.map(item => item.dataset.insee)")


async def fits_phone_width(page: Any) -> bool:
    return await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


# ---------------------------------------------------------------------------------------------
# The voisinage timeline
# ---------------------------------------------------------------------------------------------


async def test_anonymous_visitors_are_sent_to_sign_in_and_come_back_signed_in(territory, browser):
    instance, _alice, _bob = territory
    page = await new_page(browser)
    await page.goto(f"{instance.base_url}/voisinage")
    assert page.url == f"{instance.base_url}/auth/sign_in?next=%2Fvoisinage"
    await page.fill("#login", "alice")  # the sign-in form the redirect led to, which carries `next`
    await page.fill("#password", PASSWORD)
    async with page.expect_navigation() as navigation:
        await page.click("form[action^='/auth/sign_in'] button[type=submit]")
    assert (await navigation.value).status == 200 and page.url == f"{instance.base_url}/voisinage"
    assert await page.get_by_role("heading", level=1).inner_text() == "Mon voisinage"
    await page.context.close()


async def test_anonymous_requests_get_nothing(territory):
    instance, _alice, _bob = territory
    async with aiohttp.ClientSession() as http:
        for method, path in (("GET", "/voisinage"), ("GET", "/settings/neighbourhood?saved=1"),
                             ("POST", "/settings/neighbourhood")):
            async with http.request(method, instance.base_url + path, allow_redirects=False,
                                    ssl=ssl.create_default_context()) as response:
                assert response.status == 303, path
                assert response.headers["Location"].startswith("/auth/sign_in?next=%2F"), path
        async with http.get(f"{instance.base_url}/voisinage", allow_redirects=False,
                            ssl=ssl.create_default_context()) as response:
            assert response.headers["Location"] == "/auth/sign_in?next=%2Fvoisinage"
        async with http.get(f"{instance.base_url}/settings/neighbourhood/preview?home={MAEN_ROCH}&radius_km=10",
                            allow_redirects=False, ssl=ssl.create_default_context()) as response:
            assert response.status == 401 and await response.text() == ""


async def test_resident_sees_the_posts_of_communes_within_the_radius_and_not_beyond(territory, browser):
    instance, alice, bob = territory
    bob_token = await issue_token(instance, bob.id)
    await located_post(instance, bob_token, "Vide-grenier à Saint-Germain", SAINT_GERMAIN)
    await located_post(instance, bob_token, "Concert à Maen Roch", MAEN_ROCH)
    await located_post(instance, bob_token, "Fête à Bazouges")  # bob's commune, 15.5 km from alice
    await located_post(instance, bob_token, "Brocante au Châtellier", LE_CHATELLIER, visibility="private")
    async with instance.runtime.sessions() as session:
        neighbours = len((await load_neighbourhood(session, alice.id)).included) - 1

    context = await signed_in_context(browser, instance, alice)
    page = await context.new_page()
    response = await page.goto(f"{instance.base_url}/voisinage")
    assert response.status == 200
    assert await page.locator("html").get_attribute("lang") == "fr"
    assert await page.title() == "Mon voisinage · commune-a.test"
    posts = page.locator("main article .content")
    assert await posts.all_inner_texts() == ["Concert à Maen Roch", "Vide-grenier à Saint-Germain"]
    assert "Fête à Bazouges" not in await page.content()
    assert "Brocante" not in await page.content()
    summary = page.locator("details.hood-summary summary")
    assert await summary.inner_text() == f"Maen Roch et {neighbours} communes voisines, rayon 10 km"
    assert await page.locator("main p.place").all_inner_texts() == ["à Maen Roch", "à Saint-Germain-en-Coglès"]
    assert all("Bob" in text for text in await page.locator("main article").all_inner_texts())
    await summary.click()
    assert await page.locator("details.hood-summary li[data-insee]").count() == neighbours + 1
    assert await page.get_by_role("link", name="Modifier mon voisinage").get_attribute("href") \
        == "/settings/neighbourhood"
    await context.close()


async def test_timeline_pages_with_older_links(territory, browser):
    instance, alice, bob = territory
    bob_token = await issue_token(instance, bob.id)
    for n in range(23):
        await located_post(instance, bob_token, f"Annonce numéro {n}", LE_CHATELLIER)
    context = await signed_in_context(browser, instance, alice)
    page = await context.new_page()
    await page.goto(f"{instance.base_url}/voisinage")
    texts = await page.locator("main article .content").all_inner_texts()
    assert texts == [f"Annonce numéro {n}" for n in range(22, 2, -1)]
    await page.get_by_role("link", name="Plus anciens").click()
    await page.wait_for_url("**/voisinage?max_id=*")
    texts = await page.locator("main article .content").all_inner_texts()
    assert texts == ["Annonce numéro 2", "Annonce numéro 1", "Annonce numéro 0"]
    assert await page.get_by_role("link", name="Plus anciens").count() == 0
    await page.get_by_role("link", name="Dernières publications").click()
    await page.wait_for_url(f"{instance.base_url}/voisinage")
    assert await page.locator("main article").count() == 20
    response = await page.goto(f"{instance.base_url}/voisinage?max_id=abc")
    assert response.status == 400 and "Ce lien de page n'est pas valide." in await page.content()
    await context.close()


async def test_an_empty_neighbourhood_explains_how_to_widen_it(territory, browser):
    instance, alice, bob = territory
    bob_token = await issue_token(instance, bob.id)
    await located_post(instance, bob_token, "Fête à Bazouges")
    context = await signed_in_context(browser, instance, alice)
    page = await context.new_page()
    await page.goto(f"{instance.base_url}/voisinage")
    assert await page.locator("main article").count() == 0
    assert "Rien n'a encore été publié dans votre voisinage." in await page.inner_text("main")
    await page.get_by_role("link", name="Élargir mon voisinage").click()
    await page.wait_for_url(f"{instance.base_url}/settings/neighbourhood")
    assert await page.get_by_role("heading", level=1).inner_text() == "Réglages du voisinage"
    await context.close()


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------


async def test_live_preview_follows_the_radius_without_saving_and_save_keeps_it(territory, browser):
    instance, alice, _bob = territory
    context = await signed_in_context(browser, instance, alice)
    page = await context.new_page()
    await page.goto(f"{instance.base_url}/settings/neighbourhood")
    assert await page.locator("#preview-button").is_hidden()  # the preview is live
    assert await page.get_by_label("Commune de résidence", exact=True).input_value() == MAEN_ROCH
    assert await page.get_by_label("Rayon (km)").input_value() == f"{DEFAULT_RADIUS_KM:g}"
    before = await preview_codes(page)
    assert before[0] == MAEN_ROCH and SAINT_GERMAIN in before and FOUGERES_TOWN not in before

    await page.get_by_label("Rayon (km)").fill("15")
    fougeres = page.locator(f"#commune-preview li[data-insee='{FOUGERES_TOWN}']")
    await fougeres.wait_for()
    assert "fougeres.test" in await fougeres.inner_text()
    wider = await preview_codes(page)
    assert BAZOUGES not in wider
    assert await page.locator("#commune-preview .summary").inner_text() \
        == f"Maen Roch et {len(wider) - 1} communes voisines, rayon 15 km"
    assert await page.locator("#commune-preview").get_attribute("aria-live") == "polite"
    assert page.url == f"{instance.base_url}/settings/neighbourhood"
    assert await saved_settings(instance, alice) == (MAEN_ROCH, None, None)  # a preview saves nothing

    await page.get_by_role("button", name="Enregistrer").click()
    await page.wait_for_url("**/settings/neighbourhood?saved=1")
    assert "Votre voisinage a été enregistré." in await page.inner_text("main")
    assert await page.get_by_label("Rayon (km)").input_value() == "15"
    token = await issue_token(instance, alice.id)
    status, body, _ = await raw(instance, "GET", "/api/v1/neighbourhood", token)
    assert status == 200 and body["radius_km"] == 15.0 and body["communes"] is None
    assert [item["insee"] for item in body["included"]] == await preview_codes(page)
    await context.close()


async def test_chosen_communes_mode_with_two_communes_of_either_territory(territory, browser):
    instance, alice, _bob = territory
    context = await signed_in_context(browser, instance, alice)
    page = await context.new_page()
    await page.goto(f"{instance.base_url}/settings/neighbourhood")
    communes = page.locator("#communes-field")
    assert await communes.is_hidden()  # radius mode: the list is not in the way
    await page.get_by_label("Uniquement les communes que je choisis (et ma commune de résidence)").check()
    assert await communes.is_visible() and await page.get_by_label("Rayon (km)").is_hidden()
    await page.get_by_label("Bazouges-la-Pérouse").check()
    await page.locator(f"#commune-{FOUGERES_TOWN}").check()
    await page.wait_for_function(
        "codes => codes.every(code => document.querySelector(`#commune-preview li[data-insee='${code}']`))"
        " && document.querySelectorAll('#commune-preview li[data-insee]').length === 3",
        arg=[MAEN_ROCH, BAZOUGES, FOUGERES_TOWN])
    assert await preview_codes(page) == [MAEN_ROCH, FOUGERES_TOWN, BAZOUGES]  # nearest first
    assert await page.locator("#commune-preview .summary").inner_text() == "Maen Roch et 2 communes choisies"
    assert await saved_settings(instance, alice) == (MAEN_ROCH, None, None)

    await page.get_by_role("button", name="Enregistrer").click()
    await page.wait_for_url("**/settings/neighbourhood?saved=1")
    assert await saved_settings(instance, alice) == (MAEN_ROCH, None, f'["{BAZOUGES}", "{FOUGERES_TOWN}"]')
    assert await page.locator(f"#commune-{BAZOUGES}").is_checked()
    assert await page.locator(f"#commune-{FOUGERES_TOWN}").is_checked()
    await page.goto(f"{instance.base_url}/voisinage")
    assert await page.locator("details.hood-summary summary").inner_text() == "Maen Roch et 2 communes choisies"
    await context.close()


async def test_without_javascript_the_preview_button_previews_and_saving_works(territory, browser):
    instance, alice, _bob = territory
    context = await signed_in_context(browser, instance, alice, java_script_enabled=False)
    page = await context.new_page()
    await page.goto(f"{instance.base_url}/settings/neighbourhood")
    assert await page.locator("#communes-field").is_visible()  # both modes' inputs are there
    await page.get_by_label("Commune de résidence", exact=True).select_option(SAINT_GERMAIN)
    await page.get_by_label("Rayon (km)").fill("5")
    await page.get_by_role("button", name="Prévisualiser").click()
    await page.wait_for_load_state()
    assert "Ceci est un aperçu : rien n'a encore été enregistré." in await page.inner_text("main")
    codes = await preview_codes(page)
    assert codes[0] == SAINT_GERMAIN and MAEN_ROCH not in codes  # Maen Roch is 7.6 km away
    assert await page.get_by_label("Rayon (km)").input_value() == "5"
    assert await saved_settings(instance, alice) == (MAEN_ROCH, None, None)

    await page.get_by_role("button", name="Enregistrer").click()
    await page.wait_for_url("**/settings/neighbourhood?saved=1")
    assert await saved_settings(instance, alice) == (SAINT_GERMAIN, 5.0, None)
    assert await preview_codes(page) == codes
    async with instance.runtime.sessions() as session:
        moved = await session.get(Actor, alice.id)
        assert (moved.location_name, moved.latitude) == ("Saint-Germain-en-Coglès", 48.4038)
    await context.close()


async def test_bad_settings_show_the_form_again_with_the_message_and_save_nothing(territory, browser):
    instance, alice, _bob = territory
    context = await signed_in_context(browser, instance, alice)
    page = await context.new_page()
    await page.goto(f"{instance.base_url}/settings/neighbourhood")
    await page.get_by_label("Rayon (km)").fill("500")  # the live preview already says why
    await page.locator("#commune-preview .error").wait_for()
    assert "au plus 100 km" in await page.inner_text("#commune-preview")
    await page.locator("#neighbourhood-form").evaluate("form => form.noValidate = true")  # an older browser
    async with page.expect_response(f"{instance.base_url}/settings/neighbourhood") as answer:
        await page.get_by_role("button", name="Enregistrer").click()
    assert (await answer.value).status == 422
    assert "Le rayon doit être supérieur à 0 km et d'au plus 100 km." in await page.inner_text("#form-errors")
    assert await page.get_by_label("Rayon (km)").input_value() == "500"
    assert await page.get_by_label("Rayon (km)").get_attribute("aria-invalid") == "true"

    await page.get_by_label("Uniquement les communes que je choisis (et ma commune de résidence)").check()
    await page.locator("#communes-field").evaluate(
        "field => field.insertAdjacentHTML('beforeend', '<input type=hidden name=communes value=75056>')")
    async with page.expect_response(f"{instance.base_url}/settings/neighbourhood") as answer:
        await page.get_by_role("button", name="Enregistrer").click()
    assert (await answer.value).status == 422
    assert "Commune inconnue : 75056" in await page.inner_text("#form-errors")
    assert await saved_settings(instance, alice) == (MAEN_ROCH, None, None)
    await context.close()


@pytest.mark.parametrize(("what", "form", "status", "message"), [
    ("radius too large", {"home": MAEN_ROCH, "mode": "radius", "radius_km": "500"}, 422, "au plus 100 km"),
    ("radius zero", {"home": MAEN_ROCH, "mode": "radius", "radius_km": "0"}, 422, "supérieur à 0 km"),
    ("radius not a number", {"home": MAEN_ROCH, "mode": "radius", "radius_km": "dix"}, 422, "un nombre de kilomètres"),
    ("radius NaN", {"home": MAEN_ROCH, "mode": "radius", "radius_km": "nan"}, 422, "un nombre de kilomètres"),
    ("unknown commune", {"home": MAEN_ROCH, "mode": "communes", "communes": ["35019", "75056"]}, 422,
     "Commune inconnue : 75056"),
    ("a neighbour's commune as home", {"home": FOUGERES_TOWN, "mode": "radius", "radius_km": "5"}, 422,
     "une des communes du territoire"),
    ("no home", {"home": "", "mode": "radius", "radius_km": "5"}, 422, "Choisissez votre commune de résidence."),
    ("unknown mode", {"home": MAEN_ROCH, "mode": "everywhere", "radius_km": "5"}, 422, "un rayon ou une liste"),
    ("too many communes", {"home": MAEN_ROCH, "mode": "communes", "communes": [f"{n:05d}" for n in range(101)]},
     422, "au plus 100 communes"),
    ("no CSRF token", {"home": MAEN_ROCH, "mode": "radius", "radius_km": "5", "csrf_token": ""}, 403,
     "Votre session a expiré"),
])
async def test_refused_forms_answer_with_a_readable_page_and_change_nothing(territory, what, form, status, message):
    instance, alice, _bob = territory
    cookie, csrf = await session_cookie(instance, (await user_of(instance, alice)).id)
    fields: list[tuple[str, str]] = [("csrf_token", form.get("csrf_token", csrf))]
    for key, value in form.items():
        if key != "csrf_token":
            fields.extend((key, item) for item in (value if isinstance(value, list) else [value]))
    async with aiohttp.ClientSession(cookies={COOKIE_NAME: cookie}) as http, http.post(
            f"{instance.base_url}/settings/neighbourhood", data=fields, allow_redirects=False,
            ssl=ssl.create_default_context()) as response:
        page = await response.text()
    assert response.status == status, what
    assert message in page.replace("&#39;", "'"), what
    assert await saved_settings(instance, alice) == (MAEN_ROCH, None, None)


async def test_preview_fragment_reports_refused_settings(territory):
    instance, alice, _bob = territory
    cookie, _ = await session_cookie(instance, (await user_of(instance, alice)).id)
    async with aiohttp.ClientSession(cookies={COOKIE_NAME: cookie}) as http:
        async with http.get(f"{instance.base_url}/settings/neighbourhood/preview",
                            params=[("home", MAEN_ROCH), ("mode", "communes"), ("communes", FOUGERES_TOWN)],
                            ssl=ssl.create_default_context()) as response:
            fragment = await response.text()
            assert response.status == 200 and "<html" not in fragment
            assert "Maen Roch et 1 commune choisie" in fragment and "fougeres.test" in fragment
        async with http.get(f"{instance.base_url}/settings/neighbourhood/preview",
                            params={"home": "99999", "mode": "radius", "radius_km": "5"},
                            ssl=ssl.create_default_context()) as response:
            assert response.status == 422
            assert "une des communes du territoire" in (await response.text()).replace("&#39;", "'")
    assert await saved_settings(instance, alice) == (MAEN_ROCH, None, None)


async def test_pages_fit_a_phone_screen_and_speak_english_to_english_users(territory, browser, tmp_path: Path):
    instance, alice, bob = territory
    bob_token = await issue_token(instance, bob.id)
    await located_post(instance, bob_token, "Une annonce avec un très long mot: " + "voisinage" * 12, MAEN_ROCH)
    context = await signed_in_context(browser, instance, alice, viewport=PHONE)
    page = await context.new_page()
    for path in ("/voisinage", "/settings/neighbourhood"):
        await page.goto(instance.base_url + path)
        await page.screenshot(path=str(tmp_path / f"{path.strip('/').replace('/', '-')}-360.png"), full_page=True)
        assert await fits_phone_width(page), path
    await page.get_by_label("Rayon (km)").fill("500")
    await page.locator("#commune-preview .error").wait_for()
    assert await fits_phone_width(page)
    await context.close()

    async with instance.runtime.transaction() as session:
        user = await session.scalar(select(User).where(User.actor_id == alice.id))
        user.locale = "en"
    context = await signed_in_context(browser, instance, alice)
    page = await context.new_page()
    await page.goto(f"{instance.base_url}/voisinage")
    assert await page.locator("html").get_attribute("lang") == "en"
    assert (await page.locator("details.hood-summary summary").inner_text()).startswith("Maen Roch and ")
    await context.close()
