"""Following, liking, boosting, replying, editing and deleting posts; conversations; notifications."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
