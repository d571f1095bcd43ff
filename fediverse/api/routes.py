"""Every client-API route, gathered from one module per resource."""

from __future__ import annotations

from starlette.routing import BaseRoute

from fediverse.api import (
    account_collections,
    account_relations,
    accounts,
    ads,
    announcements,
    apps,
    calendar_feeds,
    conversations,
    credentials,
    events,
    filters,
    instance,
    lists,
    markers,
    media,
    misc,
    neighbourhood,
    notifications,
    oauth,
    participation,
    polls,
    registration,
    search,
    statuses,
    streaming,
    teams,
    timelines,
)

# credentials and account_relations hold literal paths under /api/v1/accounts/ (verify_credentials,
# relationships...): they must come before accounts' /api/v1/accounts/{id}, which would match them too.
# Likewise calendar_feeds' /api/v1/events/going_feed before any /api/v1/events/{id}.
MODULES = (oauth, apps, instance, registration, credentials, account_relations, accounts, account_collections,
           statuses, polls, media, timelines, lists, conversations, notifications, markers, filters, search,
           streaming, misc, announcements, teams, neighbourhood, calendar_feeds, ads, participation, events)

routes: list[BaseRoute] = [route for module in MODULES for route in module.routes]
