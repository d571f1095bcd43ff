"""Every client-API route, gathered from one module per resource."""

from __future__ import annotations

from starlette.routing import BaseRoute

from fediverse.api import (
    accounts,
    apps,
    conversations,
    filters,
    instance,
    lists,
    markers,
    media,
    misc,
    notifications,
    oauth,
    polls,
    search,
    statuses,
    streaming,
    teams,
    timelines,
)

MODULES = (oauth, apps, instance, accounts, statuses, polls, media, timelines, lists, conversations, notifications,
           markers, filters, search, streaming, misc, teams)

routes: list[BaseRoute] = [route for module in MODULES for route in module.routes]
