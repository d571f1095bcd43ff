"""The agenda: list by day/week/month with filters, the map, event pages and the event forms."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
