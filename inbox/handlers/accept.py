"""Accept (of a Follow we sent): the follow becomes active (for our instance actor's Follow: the
neighbour accepted us). An Accept of one of our Joins (Mobilizon's participation) makes it accepted."""

from __future__ import annotations

from typing import Any

from actors.follows import accept_follow
from inbox.context import InboxContext
from inbox.handlers._follows import answered_follow, follow_we_sent
from inbox.handlers._neighbours import answer_to_instance_follow
from inbox.handlers.join import answer_to_our_join


async def handle(ctx: InboxContext, activity: dict[str, Any]) -> None:
    if await answer_to_our_join(ctx, activity, accepted=True):
        return
    obj = answered_follow(activity)
    if await answer_to_instance_follow(ctx, obj, accepted=True):
        return
    async with ctx.transaction() as session:
        follow = await follow_we_sent(ctx, session, obj)
        if follow.state == "accepted":
            return
        await accept_follow(session, follow)
