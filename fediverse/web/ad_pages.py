"""Petites annonces: the list with filters, the ad page, and the forms to post, edit, close and answer."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
