"""Sign-up (by registration mode), email confirmation, password reset, and the about/terms page."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
