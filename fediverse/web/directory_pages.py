"""The territory's directory ("annuaire") at `/annuaire`, and the routes of search and hashtag pages
(fediverse/web/search_pages.py).

The directory lists the discoverable local accounts (actors/directory.py), filtered by kind,
commune, theme and text, a page at a time; the filters are a plain GET form, so every filtered page
has its own address to share. A filter value no form offers gets a readable 400 page.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from actors.accounts import DIRECTORY_THEMES
from actors.directory import (
    DIRECTORY_KINDS,
    MAX_QUERY,
    DirectoryError,
    DirectoryFilter,
    communes_by_code,
    directory_page,
    themes_in_use,
)
from fediverse.runtime import Runtime
from fediverse.templating import translations
from fediverse.web import search_pages
from fediverse.web.auth import language_of, page, signed_in
from fediverse.web.profile_common import BadLink, account_cards, bad_link, page_number

PER_PAGE = 24


def _choice(request: Request, name: str, allowed: tuple[str, ...] | set[str]) -> str | None:
    value = (request.query_params.get(name) or "").strip()
    if not value:
        return None
    if value not in allowed:
        raise BadLink(name)
    return value


async def directory(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    viewer = await signed_in(request)
    gettext = translations(language_of(request, viewer)).gettext
    async with runtime.sessions() as session:
        communes = await communes_by_code(session)
        themes = await themes_in_use(session)
        try:
            flt = DirectoryFilter(kind=_choice(request, "kind", DIRECTORY_KINDS),
                                  commune=_choice(request, "commune", set(communes)),
                                  theme=_choice(request, "theme", DIRECTORY_THEMES),
                                  q=(request.query_params.get("q") or "").strip())
            number = page_number(request)
            found = await directory_page(session, flt, page=number, per_page=PER_PAGE)
        except BadLink as exc:
            messages = {"kind": gettext("This kind of account is not one the directory knows."),
                        "commune": gettext("This commune is not one of the territory's communes."),
                        "theme": gettext("This theme is not one the directory knows.")}
            return bad_link(request, viewer, messages.get(str(exc)))
        except DirectoryError:
            return bad_link(request, viewer, gettext("The search text is too long: at most %(max)d characters.")
                            % {"max": MAX_QUERY})
    if found.page > found.pages:
        return bad_link(request, viewer, gettext("This page of the directory does not exist (any more)."))
    filters = {key: value for key, value in (("kind", flt.kind), ("commune", flt.commune), ("theme", flt.theme),
                                             ("q", flt.q)) if value}

    def link(number: int) -> str:
        return "/annuaire?" + urlencode({**filters, "page": number}) if number > 1 or filters else "/annuaire"

    settings = runtime.settings
    title = gettext("Directory")
    cards = account_cards(found.actors, communes, settings.domain)
    return page(request, "directory/directory.html", viewer, cards=cards, found=found, flt=flt,
                communes=sorted(communes.values(), key=lambda c: c.name), themes=themes, kinds=DIRECTORY_KINDS,
                previous_link=link(found.page - 1) if found.page > 1 else None,
                next_link=link(found.page + 1) if found.has_next else None, filtered=bool(filters),
                max_query=MAX_QUERY,
                og={"title": title, "description": gettext("The associations, shops, elected officials and "
                                                           "services of the territory."),
                    "url": f"{settings.base_url}/annuaire"})


routes: list[BaseRoute] = [
    Route("/annuaire", directory, methods=["GET"]),
    *search_pages.routes,
]
