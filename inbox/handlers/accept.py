"""Accept (of a Follow we sent): the follow becomes active (for our instance actor's Follow: the
neighbour accepted us)."""

from __future__ import annotations

from typing import Any

from actors.follows import accept_follow
from inbox.context import InboxContext
from inbox.handlers._follows import answered_follow, follow_we_sent
from inbox.handlers._neighbours import answer_to_instance_follow


async def handle(ctx: InboxContext, activity: dict[str, Any]) -> None:
    obj = answered_follow(activity)
    if await answer_to_instance_follow(ctx, obj, accepted=True):
        return
    async with ctx.transaction() as session:
        follow = await follow_we_sent(ctx, session, obj)
        if follow.state == "accepted":
            return
        await accept_follow(session, follow)
