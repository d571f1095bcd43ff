"""The directory of accounts by kind and commune, group pages and search."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
