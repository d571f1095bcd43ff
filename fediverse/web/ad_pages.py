"""Petites annonces: the list with filters, the ad page, and the forms to post, edit, close and answer.

The list (`/annonces`) shows open, unexpired ads, local and federated together (the ads of
neighbour instances are stored like ours), newest first, twenty a page, with the filters of the ads
API (category, offer or request, commune, a radius around the commune, text). The filters are
checked here first so that a wrong one is named next to its field in the reader's language (422);
the domain (actors.ads) checks them again. An ad's page is its status permalink for a local ad
(`/@username/ID` hands over to `ad_page`), and `/annonces/{ad id}` for a federated one (a local ad's
`/annonces/{id}` redirects to its permalink, so both links are stable). The forms live in
fediverse/web/ad_forms.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.ad_views import AdWindow, ad_detail, list_ad_cards
from actors.ads import MAX_QUERY_LENGTH, AdFilter, AdQueryError
from actors.neighbourhood import MAX_RADIUS_KM, KnownCommune, known_communes
from fediverse.models import Actor, Ad, Status
from fediverse.models.agenda import AD_CATEGORIES, AD_PURPOSES
from fediverse.runtime import Runtime
from fediverse.templating import translations
from fediverse.web import ad_forms
from fediverse.web.ad_page_view import readable_ad, render_ad_page
from fediverse.web.auth import SignedIn, language_of, page, signed_in
from fediverse.web.public_pages import wants_activitypub

PAGE_SIZE = 20
RADIUS_CHOICES = ("5", "10", "20", "30", "50")
MAX_ID_DIGITS = 19
FEEDS = (("application/rss+xml", "rss"), ("application/atom+xml", "atom"))


@dataclass
class ListQuery:
    """The list's filters as typed (kept as text so the form shows them back), with what was wrong."""

    category: str = ""
    purpose: str = ""
    commune: str = ""
    radius: str = ""
    q: str = ""
    max_id: int | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def params(self, **changes: str | int | None) -> str:
        """The query string of this list with `changes` (None drops a parameter)."""
        values: dict[str, str | int | None] = {"category": self.category, "purpose": self.purpose,
                                               "commune": self.commune, "radius_km": self.radius, "q": self.q,
                                               **changes}
        return urlencode({key: value for key, value in values.items() if value not in (None, "")})

    @property
    def filtered(self) -> bool:
        return any((self.category, self.purpose, self.commune, self.radius, self.q))


def read_query(request: Request, language: str, known: dict[str, KnownCommune], home: str | None) -> ListQuery:
    """The filters of the list's URL, each refused one with a translated message for its field."""
    gettext = translations(language).gettext
    params = request.query_params
    query = ListQuery(category=(params.get("category") or "").strip().lower()[:40],
                      purpose=(params.get("purpose") or "").strip().lower()[:20],
                      commune=(params.get("commune") or "").strip().upper()[:10],
                      radius=(params.get("radius_km") or "").strip()[:20], q=(params.get("q") or "").strip())
    if query.category and query.category not in AD_CATEGORIES:
        query.errors["category"] = gettext("Choose one of the categories of the list.")
    if query.purpose and query.purpose not in AD_PURPOSES:
        query.errors["purpose"] = gettext("Choose offers or requests.")
    if query.commune and query.commune not in known:
        query.errors["commune"] = gettext("This commune is not known here.")
    if query.radius:
        radius = _number(query.radius)
        if radius is None:
            query.errors["radius_km"] = gettext("The distance must be a number of kilometres.")
        elif not 0 < radius <= MAX_RADIUS_KM:
            query.errors["radius_km"] = gettext("The distance must be more than 0 and at most %(max)s km.") % {
                "max": f"{MAX_RADIUS_KM:g}"}
        elif not query.commune and not home:
            query.errors["radius_km"] = gettext("Choose the commune to search around.")
        elif not query.commune:
            query.commune = home or ""  # around the resident's own commune, shown as such in the form
    if len(query.q) > MAX_QUERY_LENGTH:
        query.errors["q"] = gettext("The search text is limited to %(max)s characters.") % {"max": MAX_QUERY_LENGTH}
    max_id = params.get("max_id") or ""
    if max_id:
        if max_id.isdigit() and len(max_id) <= MAX_ID_DIGITS and int(max_id) < 2**63:
            query.max_id = int(max_id)
        else:
            query.errors["page"] = gettext("This page of the list does not exist.")
    return query


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _radius_choices(query: ListQuery) -> list[str]:
    """The distances offered, with the one in the URL when it is another valid one."""
    choices = list(RADIUS_CHOICES)
    if query.radius and query.radius not in choices and "radius_km" not in query.errors:
        choices.append(query.radius)
        choices.sort(key=lambda value: _number(value) or 0)
    return choices


def _commune_groups(known: dict[str, KnownCommune]) -> list[tuple[str | None, list[KnownCommune]]]:
    """Our communes first, then each neighbour instance's, by name."""
    groups: dict[str | None, list[KnownCommune]] = {}
    for commune in sorted(known.values(), key=lambda c: (c.domain is not None, c.domain or "", c.name.casefold())):
        groups.setdefault(commune.domain, []).append(commune)
    return list(groups.items())


def feed_links(commune: str | None) -> list[tuple[str, str, str]]:
    """(type, href, kind) of the RSS and Atom feeds of open ads (of one commune when filtered by it)."""
    suffix = f"?{urlencode({'commune': commune})}" if commune else ""
    return [(mime, f"/ads.{kind}{suffix}", kind) for mime, kind in FEEDS]


async def ads_list(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    viewer = await signed_in(request)
    language = language_of(request, viewer)
    async with runtime.sessions() as session:
        known = await known_communes(session)
        query = read_query(request, language, known, viewer.acting.commune_insee if viewer else None)
        cards = []
        if not query.errors:
            flt = AdFilter(category=query.category or None, purpose=query.purpose or None,
                           commune=query.commune or None, radius_km=_number(query.radius) if query.radius else None,
                           q=query.q or None)
            try:
                cards = await list_ad_cards(session, flt, AdWindow(limit=PAGE_SIZE + 1, max_id=query.max_id),
                                            viewer.acting.id if viewer else None)
            except AdQueryError as exc:  # what the page's own checks did not foresee, as the domain says it
                query.errors["form"] = str(exc)
    older = cards[PAGE_SIZE - 1].id if len(cards) > PAGE_SIZE else None
    feed_commune = query.commune if query.commune and not query.radius and not query.errors else None
    feeds = feed_links(feed_commune)
    gettext = translations(language).gettext
    status_code = 400 if "page" in query.errors else 422 if query.errors else 200
    return page(request, "ads/list.html", viewer, status_code=status_code, query=query, cards=cards[:PAGE_SIZE],
                older=query.params(max_id=older) if older else None, commune_groups=_commune_groups(known),
                radius_choices=_radius_choices(query), categories=AD_CATEGORIES, feeds=feeds,
                home_commune=known.get(viewer.acting.commune_insee or "") if viewer else None,
                deleted=request.query_params.get("deleted") == "1",
                alternates=[(mime, href, gettext("Classified ads (%(kind)s)") % {"kind": kind.upper()})
                            for mime, href, kind in feeds],
                og={"title": gettext("Classified ads"), "description": gettext(
                    "Offers and requests of the residents, associations and shops of the territory and around it.")})


# -- the ad's page ----------------------------------------------------------------------------------

async def ad_page(request: Request, viewer: SignedIn | None, actor: Actor, status: Status, ad: Ad) -> Response:
    """The page of an ad (its status permalink hands over here for a local ad)."""
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session:
        detail = await ad_detail(session, ad, status, actor)
    return await render_ad_page(request, viewer, detail)


async def federated_ad_page(request: Request) -> Response:
    """`/annonces/{id}`: a federated ad's page here; a local ad's permalink (301); for an ActivityPub
    client, the ad's own document (302, as the status permalinks do)."""
    runtime: Runtime = request.app.state.runtime
    viewer = await signed_in(request)
    found = await readable_ad(runtime, request.path_params["ad_id"])
    if found is None:
        return page(request, "not_found.html", viewer, status_code=404)
    if wants_activitypub(request):
        return RedirectResponse(found.status.uri, status_code=302)
    if found.card.path != request.url.path:
        return RedirectResponse(found.card.path, status_code=301)
    return await render_ad_page(request, viewer, found)


routes: list[BaseRoute] = [
    Route("/annonces", ads_list, methods=["GET"]),
    Route("/annonces/{ad_id:int}", federated_ad_page, methods=["GET"]),
    *ad_forms.routes,
]
