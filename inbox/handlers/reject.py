"""Reject (of a Follow we sent, or removal of an existing follower): the follow is gone."""

from __future__ import annotations

from typing import Any

from actors.follows import drop_follow
from inbox.context import InboxContext
from inbox.handlers._follows import answered_follow, follow_we_sent


async def handle(ctx: InboxContext, activity: dict[str, Any]) -> None:
    obj = answered_follow(activity)
    async with ctx.transaction() as session:
        follow = await follow_we_sent(ctx, session, obj)
        await drop_follow(session, follow)
