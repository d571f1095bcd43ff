"""The signed-in person's settings: profile, authorized apps, browser sessions, export, deletion."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
