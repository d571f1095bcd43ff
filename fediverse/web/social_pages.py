"""Following, liking, boosting, replying, editing and deleting posts; private messages; notifications.

Each subject has its own module; this one puts their routes together for fediverse/web/routes.py.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from fediverse.web import (
    conversation_pages,
    follow_pages,
    interaction_pages,
    notification_pages,
    status_edit_pages,
)

routes: list[BaseRoute] = [
    *follow_pages.routes,
    *interaction_pages.routes,
    *status_edit_pages.routes,
    *conversation_pages.routes,
    *notification_pages.routes,
]
