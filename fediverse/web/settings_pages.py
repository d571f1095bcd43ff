"""The signed-in person's settings: profile and preferences, authorized apps, browser sessions, data
export, account deletion. One module a page (fediverse/web/settings_*.py), composed here; every page
shows the settings sub-navigation (templates/settings/_nav.html)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from fediverse.web import settings_apps, settings_delete, settings_export, settings_profile, settings_sessions

routes: list[BaseRoute] = [
    *settings_profile.routes,
    *settings_apps.routes,
    *settings_sessions.routes,
    *settings_export.routes,
    *settings_delete.routes,
]
