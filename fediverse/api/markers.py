"""Mastodon client API: markers (routes are added by the module's owner)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
