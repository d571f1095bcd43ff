"""Every page of the website, in matching order. Each area of the site keeps its routes in its own
module; feeds come before the `/@{username}/...` pages (`/@alice/agenda.ics` is a calendar)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from fediverse.web import (
    account_pages,
    ad_pages,
    agenda_pages,
    compose,
    directory_pages,
    feed_routes,
    language,
    neighbourhood_pages,
    public_pages,
    settings_pages,
    signup_pages,
    social_pages,
    status_pages,
    team_pages,
)

routes: list[BaseRoute] = [
    *feed_routes.routes,
    *language.routes,
    *public_pages.routes,
    *status_pages.routes,
    *agenda_pages.routes,
    *ad_pages.routes,
    *directory_pages.routes,
    *social_pages.routes,
    *signup_pages.routes,
    *settings_pages.routes,
    *neighbourhood_pages.routes,
    *account_pages.routes,
    *compose.routes,
    *team_pages.routes,
]
