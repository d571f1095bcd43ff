"""Follow/Accept/Reject/Undo between instance actors (neighbour instances) and from relays.

Each handler of those activity types asks here first; anything that is not about our instance
actor's neighbour relations returns False and the handler carries on as for any account.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from actors.neighbours import INSTANCE_ACTOR_TYPES, forget_if_unrelated, refresh_communes
from fediverse.as2 import id_of
from fediverse.models import Neighbour
from fediverse.uris import PUBLIC_ALIASES
from inbox.context import ActivityIgnored, ActivityRejected, InboxContext
from outbox.neighbours import NeighbourCommands


def _reference(value: Any) -> str | None:
    """An id as written, also the non-URL spellings of Public (`as:Public`, `Public`)."""
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else None
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def _is_public(value: Any) -> bool:
    return _reference(value) in PUBLIC_ALIASES


async def follow_of_instance(ctx: InboxContext, activity: dict[str, Any]) -> bool:
    """A Follow of our instance actor (a neighbour request) or of Public (a relay subscription)."""
    target = _reference(activity.get("object"))
    relay = target in PUBLIC_ALIASES
    if not relay and target != ctx.runtime.uris.instance_actor():
        return False
    if ctx.sender.actor_type not in INSTANCE_ACTOR_TYPES:
        if relay:
            raise ActivityRejected("only an instance or relay actor (Application or Service) can follow Public")
        raise ActivityIgnored("the instance actor only takes neighbour instances, not accounts, as followers")
    mutual = await NeighbourCommands(ctx.runtime).answer_incoming_follow(ctx.sender, ctx.activity_uri, relay=relay)
    if mutual and ctx.sender.domain:
        await refresh_communes(ctx.resolver, ctx.sender.domain)
    return True


async def answer_to_instance_follow(ctx: InboxContext, obj: Any, *, accepted: bool) -> bool:
    """An Accept or Reject of our instance actor's Follow: the outgoing side of the relation."""
    instance_uri = ctx.runtime.uris.instance_actor()
    follow_uri = id_of(obj)
    ours = follow_uri is not None and follow_uri.startswith(f"{instance_uri}/")
    embedded_ours = isinstance(obj, dict) and id_of(obj.get("actor")) == instance_uri
    if not ours and not embedded_ours:
        return False
    async with ctx.transaction() as session:
        row = await session.scalar(select(Neighbour).where(Neighbour.outgoing_follow_uri == follow_uri)) \
            if follow_uri else None
        if row is None and embedded_ours and id_of(obj.get("object")) == ctx.sender.uri:
            row = await session.scalar(select(Neighbour).where(Neighbour.actor_id == ctx.sender.id))
        if row is None or row.outgoing_state not in ("requested", "accepted"):
            raise ActivityIgnored("answer to a neighbour request we did not make or withdrew")
        if row.actor_id != ctx.sender.id:
            raise ActivityRejected("only the instance we asked can answer our neighbour request")
        row.outgoing_state = "accepted" if accepted else "rejected"
        domain, kind = row.domain, row.kind
    if accepted and kind == "instance":
        await refresh_communes(ctx.resolver, domain)
    return True


async def undo_of_instance_follow(ctx: InboxContext, obj: Any) -> bool:
    """Their Undo of a Follow of our instance actor or of Public: they no longer follow us."""
    inner_id = id_of(obj)
    target = _reference(obj.get("object")) if isinstance(obj, dict) else None
    about_us = target == ctx.runtime.uris.instance_actor() or _is_public(target)
    async with ctx.transaction() as session:
        row = await session.scalar(select(Neighbour).where(Neighbour.actor_id == ctx.sender.id))
        if row is None or not (about_us or inner_id is not None and inner_id == row.incoming_follow_uri):
            return False
        row.incoming_state, row.incoming_follow_uri = "none", None
        await forget_if_unrelated(session, row)
    return True
