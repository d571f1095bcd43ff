"""The petites annonces' forms and filters over plain HTTP, against a live instance serving Couesnon
Marches de Bretagne: every refused form or filter answers with a readable page naming the field in
the reader's language (4xx, never a 500) and posts nothing; a photo without a description is
questioned and kept; only the author (as the identity they act as) manages an ad; accounts that
cannot post ads are told why."""

from __future__ import annotations

import io
import re
import ssl
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import select

from actors import teams
from fediverse.db import utcnow
from fediverse.models import Actor, Ad, Attachment, OutgoingActivity, Status, TeamAction
from fediverse.web.ad_form_fields import ZONE, local_day
from fediverse.web.session import COOKIE_NAME
from outbox.ad_commands import post_ad
from outbox.ads import AdSpec
from tests.federation_steps import count, first, make_account, outbox
from tests.live import LiveInstance
from tests.test_locations import with_territory
from tests.web.test_neighbourhood_pages import session_cookie, user_of

MAEN_ROCH, BAZOUGES = "35257", "35019"


def png(colour: str = "orange") -> bytes:
    """A small real PNG picture."""
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, format="PNG")
    return buffer.getvalue()


class Browserless:
    """A signed-in visitor without a browser: the session cookie the sign-in page sets, its CSRF token."""

    def __init__(self, instance: LiveInstance, cookie: str, csrf: str, language: str = "fr") -> None:
        self.instance, self.cookie, self.csrf, self.language = instance, cookie, csrf, language

    @classmethod
    async def of(cls, instance: LiveInstance, actor: Actor, language: str = "fr") -> Browserless:
        cookie, csrf = await session_cookie(instance, (await user_of(instance, actor)).id)
        return cls(instance, cookie, csrf, language)

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, str, Any]:
        cookies = {COOKIE_NAME: self.cookie} if self.cookie else {}
        headers = {"Accept-Language": self.language, **kwargs.pop("headers", {})}
        async with aiohttp.ClientSession(cookies=cookies) as http, http.request(
                method, self.instance.base_url + path, allow_redirects=False, ssl=ssl.create_default_context(),
                headers=headers, **kwargs) as response:
            if COOKIE_NAME in response.cookies:  # the session changed (another identity): keep it, as a browser does
                self.cookie = response.cookies[COOKIE_NAME].value
            return response.status, (await response.text()).replace("&#39;", "'"), response.headers

    async def get(self, path: str) -> tuple[int, str, Any]:
        return await self.request("GET", path)

    async def post(self, path: str, fields: dict[str, Any], files: dict[str, tuple[str, bytes]] | None = None,
                   csrf: bool = True) -> tuple[int, str, Any]:
        form = aiohttp.FormData()
        if csrf:
            form.add_field("csrf_token", self.csrf)
        for key, value in fields.items():
            for item in value if isinstance(value, list) else [value]:
                form.add_field(key, str(item))
        for key, (name, data) in (files or {}).items():
            form.add_field(key, data, filename=name, content_type="image/png")
        if files is None:  # multipart all the same, as the browser sends the ad form
            form.add_field("photo_1", b"", filename="", content_type="application/octet-stream")
        return await self.request("POST", path, data=form)


def ad_fields(acting: Actor, **changes: Any) -> dict[str, Any]:
    day = (utcnow() + timedelta(days=20)).date().isoformat()
    fields = {"acting_id": acting.id, "title": "Vélo enfant", "description": "Bon état, roues de 16 pouces.",
              "category": "vente", "purpose": "offer", "price": "12,50", "commune": MAEN_ROCH, "expires_on": day}
    fields.update(changes)
    return {key: value for key, value in fields.items() if value is not None}


@pytest.fixture
async def market(make_instance):
    instance = await with_territory(await make_instance("commune-a.test"))
    alice = await make_account(instance, "alice", commune_insee=MAEN_ROCH, display_name="Alice")
    bob = await make_account(instance, "bob", commune_insee=BAZOUGES, display_name="Bob")
    return instance, alice, bob


def field_error(page: str, name: str) -> str:
    """The message next to a field (its id ad-NAME-error), as text."""
    found = re.search(rf'id="ad-{name}-error">([^<]*)<', page)
    return found.group(1) if found else ""


REFUSED_ADS = [
    ("no title", {"title": "  "}, "title", "Donnez un titre à l’annonce."),
    ("title too long", {"title": "V" * 201}, "title", "200 caractères"),
    ("unknown category", {"category": "voiture"}, "category", "Choisissez une catégorie."),
    ("no category", {"category": ""}, "category", "Choisissez une catégorie."),
    ("unknown purpose", {"purpose": "both"}, "purpose", "proposez ou cherchez"),
    ("price in words", {"price": "douze"}, "price", "Indiquez le prix en euros"),
    ("negative price", {"price": "-5"}, "price", "ne peut pas être négatif"),
    ("absurd price", {"price": "99999999"}, "price", "trop élevé"),
    ("free and priced", {"free": "1"}, "price", "gratuite ou a un prix"),
    ("commune elsewhere", {"commune": "75056"}, "commune", "pas une des communes du territoire"),
    ("no end date", {"expires_on": ""}, "expires_on", "Choisissez le jour"),
    ("end date as words", {"expires_on": "demain"}, "expires_on", "Choisissez le jour"),
    ("end date in the past", {"expires_on": "2020-01-01"}, "expires_on", "dans le futur"),
    ("end date beyond 90 days", {"expires_on": (utcnow() + timedelta(days=120)).date().isoformat()}, "expires_on",
     "au plus 90 jours"),
    ("description too long", {"description": "x" * 5001}, "description", "5000 caractères"),
]


@pytest.mark.parametrize(("what", "changes", "field", "message"), REFUSED_ADS, ids=[case[0] for case in REFUSED_ADS])
async def test_refused_ads_come_back_with_the_field_named_in_french_and_nothing_is_posted(
        market, what, changes, field, message):
    instance, alice, _bob = market
    visitor = await Browserless.of(instance, alice)
    status, page, _ = await visitor.post("/annonces/new", ad_fields(alice, **changes))
    assert status == 422, (what, page[:500])
    assert message in field_error(page, field), (what, field_error(page, field))
    # The field points at its message (aria-describedby) and says it is invalid.
    assert re.search(rf'aria-describedby="[^"]*\bad-{field}-error"( aria-invalid="true")', page), what
    assert "n’a pas été enregistrée" in page
    # The form comes back as it was typed.
    if changes.get("title", "").strip():
        assert f'value="{changes["title"]}"' in page
    assert await count(instance, Ad) == 0 and await count(instance, Status) == 0


async def test_forged_anonymous_and_foreign_requests_are_refused_without_changes(market):
    instance, alice, bob = market
    visitor = await Browserless.of(instance, alice)
    status, page, _ = await visitor.post("/annonces/new", ad_fields(alice), csrf=False)
    assert status == 403 and "Action refusée" in page
    status, _, headers = await Browserless(instance, "", "").get("/annonces/new")
    assert status == 303 and headers["Location"].startswith("/auth/sign_in?next=")
    # Written as another identity than the one now acting: shown again, not published.
    status, page, _ = await visitor.post("/annonces/new", ad_fields(alice, acting_id=bob.id))
    assert status == 422 and "Vous agissez maintenant en tant que Alice" in page
    assert await count(instance, Ad) == 0

    ad = await post_ad(outbox(instance), alice.id, AdSpec("Perceuse", "", "pret", "offer", None, True, None))
    intruder = await Browserless.of(instance, bob)
    for path in (f"/annonces/{ad.id}/edit", f"/annonces/{ad.id}/delete"):
        assert (await intruder.get(path))[0] == 404
        assert (await intruder.post(path, ad_fields(bob)))[0] == 404
    assert (await intruder.post(f"/annonces/{ad.id}/close", {"reason": "donne"}))[0] == 404
    status, page, _ = await visitor.post(f"/annonces/{ad.id}/close", {"reason": "vendu"})
    assert status == 422 and "Choisissez pourquoi" in page
    status, page, _ = await visitor.post(f"/annonces/{ad.id}/reply", {"text": "Moi ?", "acting_id": alice.id})
    assert status == 422 and "votre propre annonce" in page
    status, page, _ = await intruder.post(f"/annonces/{ad.id}/reply", {"text": "   ", "acting_id": bob.id})
    assert status == 422 and "Écrivez votre message" in page and 'id="reply-error"' in page
    assert (await intruder.get("/annonces/123456789"))[0] == 404
    assert (await intruder.get("/annonces/99999999999999999999"))[0] == 404
    row = await first(instance, select(Ad).where(Ad.id == ad.id))
    assert (row.title, row.state) == ("Perceuse", "open")
    assert await count(instance, Status, Status.visibility == "direct") == 0


async def test_a_photo_without_description_is_questioned_kept_and_described_on_the_second_try(market):
    instance, alice, _bob = market
    visitor = await Browserless.of(instance, alice)
    status, page, _ = await visitor.post("/annonces/new", ad_fields(alice), files={"photo_1": ("velo.png", png())})
    assert status == 422 and 'id="photo-alt-warning"' in page and "Décrivez chaque photo" in page
    kept = re.search(r'name="kept_media" value="(\d+)"', page)
    assert kept is not None and await count(instance, Ad) == 0
    media_id = kept.group(1)
    status, _, headers = await visitor.post("/annonces/new", ad_fields(
        alice, kept_media=media_id, **{f"media_{media_id}_alt": "Un vélo bleu contre un mur"}))
    assert status == 303, headers
    ad = await first(instance, select(Ad))
    photo = await first(instance, select(Attachment).where(Attachment.id == int(media_id)))
    assert photo.status_id == ad.status_id and photo.description == "Un vélo bleu contre un mur"
    assert headers["Location"] == f"/@alice/{ad.status_id}?done=posted"
    # Publishing without a description is a choice the author can make.
    status, _, _ = await visitor.post("/annonces/new", ad_fields(alice, title="Table", without_alt="1"),
                                      files={"photo_1": ("table.png", png("brown"))})
    assert status == 303 and await count(instance, Ad) == 2


@pytest.mark.parametrize(("query", "status", "message"), [
    ("category=voiture", 422, "Choisissez une des catégories"),
    ("purpose=both", 422, "Choisissez les offres ou les demandes"),
    ("commune=99999", 422, "Cette commune n’est pas connue ici"),
    ("commune=35257&radius_km=abc", 422, "un nombre de kilomètres"),
    ("commune=35257&radius_km=500", 422, "au plus 100 km"),
    ("radius_km=10", 422, "Choisissez la commune autour de laquelle chercher"),
    ("q=" + "x" * 101, 422, "100 caractères"),
    ("max_id=abc", 400, "Cette page de la liste n’existe pas"),
])
async def test_refused_filters_answer_with_the_list_page_naming_the_filter(market, query, status, message):
    instance, _alice, _bob = market
    code, page, _ = await Browserless(instance, "", "").get(f"/annonces?{query}")
    assert code == status and message in page
    assert "<form" in page and 'role="search"' in page


async def test_accounts_that_cannot_post_ads_are_told_why_and_a_shop_team_posts_for_the_shop(market):
    instance, alice, _bob = market
    mairie = await make_account(instance, "mairie", kind="collectivity", display_name="Mairie de Maen Roch")
    shop = await make_account(instance, "boulangerie", kind="shop", display_name="Boulangerie", commune_insee=MAEN_ROCH)
    for account in (mairie, shop):
        async with instance.runtime.transaction() as session:
            await teams.add_member(session, account, await user_of(instance, alice), "admin", active=True)
    visitor = await Browserless.of(instance, alice)
    for account, status in ((mairie, 403), (shop, 200)):
        await visitor.post("/settings/identity", {"actor_id": account.id, "next": "/"})
        code, page, _ = await visitor.get("/annonces/new")
        assert code == status, page[:300]
    await visitor.post("/settings/identity", {"actor_id": mairie.id, "next": "/"})
    code, page, _ = await visitor.post("/annonces/new", ad_fields(mairie))
    assert code == 422 and "ne peut pas en déposer" in page and await count(instance, Ad) == 0
    await visitor.post("/settings/identity", {"actor_id": shop.id, "next": "/"})
    code, _, headers = await visitor.post("/annonces/new", ad_fields(shop, title="Pain de la veille", category="don",
                                                                     price=""))
    assert code == 303 and headers["Location"].startswith("/@boulangerie/")
    ad = await first(instance, select(Ad))
    assert (ad.actor_id, ad.free, ad.category) == (shop.id, True, "don")
    log = await first(instance, select(TeamAction).where(TeamAction.actor_id == shop.id))
    assert log is not None and log.action == "status.create"


async def test_an_edit_keeps_what_was_not_changed_swaps_photos_and_federates_an_update(market):
    instance, alice, _bob = market
    visitor = await Browserless.of(instance, alice)
    status, _, _ = await visitor.post("/annonces/new", ad_fields(alice, photo_1_alt="Vélo rouge"),
                                      files={"photo_1": ("rouge.png", png("red"))})
    assert status == 303
    ad = await first(instance, select(Ad))
    first_photo = await first(instance, select(Attachment).where(Attachment.status_id == ad.status_id))
    code, page, _ = await visitor.get(f"/annonces/{ad.id}/edit")
    assert code == 200 and 'value="Vélo enfant"' in page and 'value="12,50"' in page
    assert f'name="remove_media" value="{first_photo.id}"' in page and f'value="{MAEN_ROCH}" selected' in page
    same_day = local_day(ad.expires_at).isoformat()
    assert f'value="{same_day}"' in page

    # Five photos would be too many: nothing changes, the new ones are kept for the next try.
    four = {f"photo_{n}": (f"p{n}.png", png("blue")) for n in range(1, 5)}
    code, page, _ = await visitor.post(f"/annonces/{ad.id}/edit", ad_fields(
        alice, expires_on=same_day, **{f"photo_{n}_alt": f"Photo {n}" for n in range(1, 5)}), files=four)
    assert code == 422 and "au plus 4 photos" in field_error(page, "photos")
    assert page.count('name="kept_media"') == 4
    assert await count(instance, Attachment, Attachment.status_id == ad.status_id) == 1

    code, _, headers = await visitor.post(f"/annonces/{ad.id}/edit", ad_fields(
        alice, title="Vélo enfant 16 pouces", price="10", expires_on=same_day, remove_media=first_photo.id,
        photo_1_alt="Vélo bleu"), files={"photo_1": ("bleu.png", png("blue"))})
    assert code == 303 and headers["Location"] == f"/@alice/{ad.status_id}?done=saved"
    edited = await first(instance, select(Ad).where(Ad.id == ad.id))
    assert (edited.title, edited.price_cents, edited.expires_at) == ("Vélo enfant 16 pouces", 1000, ad.expires_at)
    photos = (await first(instance, select(Attachment.description).where(Attachment.status_id == ad.status_id)))
    assert photos == "Vélo bleu" and await count(instance, Attachment, Attachment.status_id == ad.status_id) == 1
    status_uri = await first(instance, select(Status.uri).where(Status.id == ad.status_id))
    assert await count(instance, OutgoingActivity, OutgoingActivity.activity_type == "Update",
                       OutgoingActivity.object_uri == status_uri) == 1
    # Another end date moves the end to 23:59 that day (territory time).
    later = (utcnow() + timedelta(days=60)).date()
    code, _, _ = await visitor.post(f"/annonces/{ad.id}/edit", ad_fields(alice, expires_on=later.isoformat()))
    assert code == 303
    moved = await first(instance, select(Ad.expires_at).where(Ad.id == ad.id))
    assert local_day(moved) == later and moved.astimezone(ZONE).strftime("%H:%M") == "23:59"
