"""One table from activity type to its handler module (each module: `async def handle(ctx, activity)`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from inbox.handlers import (
    accept,
    add,
    announce,
    block,
    create,
    delete,
    flag,
    follow,
    join,
    leave,
    like,
    move,
    reject,
    remove,
    undo,
    update,
)

Handler = Callable[[Any, dict[str, Any]], Awaitable[None]]


HANDLERS: dict[str, Handler] = {
    "Follow": follow.handle, "Accept": accept.handle, "Reject": reject.handle, "Undo": undo.handle,
    "Create": create.handle, "Update": update.handle, "Delete": delete.handle, "Announce": announce.handle,
    "Like": like.handle, "Block": block.handle, "Flag": flag.handle, "Move": move.handle, "Add": add.handle,
    "Remove": remove.handle, "Join": join.handle, "Leave": leave.handle,
}
SUPPORTED_TYPES = frozenset(HANDLERS)


def handler_for(activity_type: str) -> Handler | None:
    return HANDLERS.get(activity_type)
