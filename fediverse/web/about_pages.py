"""`/about`: what this instance is (its territory and communes), who may join and how, whom to contact
(its admins' accounts), and the terms of use every person accepts when signing up (the text is the
default one, in the reader's language, until an admin page makes it editable)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from actors.registrations import admins
from actors.territory import get_territory, list_communes
from fediverse.runtime import Runtime
from fediverse.templating import translations
from fediverse.web.auth import language_of, page, signed_in


async def about_page(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    viewer = await signed_in(request)
    async with runtime.sessions() as session:
        territory = await get_territory(session)
        communes = await list_communes(session)
        contacts = [actor for _user, actor in await admins(session)]
    settings = runtime.settings
    gettext = translations(language_of(request, viewer)).gettext
    site = settings.instance_name or settings.domain
    description = gettext("%(site)s: the local social network of %(territory)s.") % {
        "site": site, "territory": territory.name if territory else settings.territory_name or site}
    return page(request, "about.html", viewer, territory=territory, communes=communes, contacts=contacts,
                mode=settings.registration, og={"title": gettext("About %(site)s") % {"site": site},
                                                "description": description},
                alternates=[("application/activity+json", runtime.uris.instance_actor(), None)])


routes: list[BaseRoute] = [Route("/about", about_page, methods=["GET"])]
